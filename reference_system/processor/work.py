"""What "processing a record" means in the reference system.

The work is simulated, steered by the record's payload so the suites can
ask for slow records, flaky ones and poison ones:

- ``{"sleep_ms": 20}``: take this long;
- ``{"fail_times": 2}``: fail the first two attempts, then succeed;
- ``{"fail": true}``: fail every attempt (a poison record);
- anything else: succeed at once.

The payload arrives as JSON text; the output is a short digest of it, so
results can be checked.
"""

from __future__ import annotations

import hashlib
import json
import time
from typing import Any


class WorkFailed(Exception):
    """Processing a record failed; the message is stored as its last error."""


# Only a payload that mentions a directive is decoded: most records carry
# none, and decoding every payload was a fifth of a processor's time. The
# test is two substring searches ('"fail' covers "fail" and "fail_times"):
# a loop over the three keys cost more than hashing the payload.


def process(payload: str, attempt: int) -> str:
    """Do the work for one record (its payload as JSON text) on its ``attempt``-th try.

    Returns the output: a digest of the payload text, which is jsonb's
    canonical form, so equal payloads give equal outputs.
    """
    if '"fail' in payload or '"sleep_ms"' in payload:
        _follow_directives(json.loads(payload), attempt)
    return hashlib.blake2b(payload.encode(), digest_size=8).hexdigest()


def _follow_directives(data: Any, attempt: int) -> None:
    if not isinstance(data, dict):
        return
    sleep_ms = data.get("sleep_ms")
    if isinstance(sleep_ms, int | float) and sleep_ms > 0:
        time.sleep(sleep_ms / 1000)
    if data.get("fail") is True:
        raise WorkFailed(f"poison record (attempt {attempt})")
    fail_times = data.get("fail_times")
    if isinstance(fail_times, int) and attempt <= fail_times:
        raise WorkFailed(f"flaky record failed attempt {attempt} of {fail_times}")
