"""What "processing a record" means in the reference system.

The work is simulated, steered by the record's payload so the suites can
ask for slow records, flaky ones and poison ones:

- ``{"sleep_ms": 20}``: take this long;
- ``{"fail_times": 2}``: fail the first two attempts, then succeed;
- ``{"fail": true}``: fail every attempt (a poison record);
- anything else: succeed at once.

The output is a short digest of the payload, so results can be checked.
"""

from __future__ import annotations

import hashlib
import json
import time
from typing import Any


class WorkFailed(Exception):
    """Processing a record failed; the message is stored as its last error."""


def process(payload: Any, attempt: int) -> str:
    """Do the work for one record on its ``attempt``-th try; returns the output."""
    if isinstance(payload, dict):
        sleep_ms = payload.get("sleep_ms")
        if isinstance(sleep_ms, int | float) and sleep_ms > 0:
            time.sleep(sleep_ms / 1000)
        if payload.get("fail") is True:
            raise WorkFailed(f"poison record (attempt {attempt})")
        fail_times = payload.get("fail_times")
        if isinstance(fail_times, int) and attempt <= fail_times:
            raise WorkFailed(f"flaky record failed attempt {attempt} of {fail_times}")
    text = json.dumps(payload, sort_keys=True, separators=(",", ":"))
    return hashlib.blake2b(text.encode(), digest_size=8).hexdigest()
