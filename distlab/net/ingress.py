"""Telling which node dialled an ingress proxy, from the connection's first bytes.

In ingress mode all nodes share one peer list, so the proxy in front of a
node cannot tell the dialler by which port was used; the dialler's own bytes
must say it (a hello frame, a sender-id header). The rule is a regex over the
bytes seen so far whose group ``id`` (or else group 1) is the node id, or a
user hook ``hook:package.module:function`` called with the bytes seen so far
and returning the id or None (imported in the proxy server process, so it
must be importable there).
"""

from __future__ import annotations

import importlib
import re
from collections.abc import Callable

from distlab.errors import UsageError

UNIDENTIFIED_POLICIES: tuple[str, ...] = ("reject", "allow", "hold")
# How much of a connection we scan before giving up on identifying it.
SCAN_LIMIT = 64 * 1024
# "reject": how long an unidentified connection may stay silent about who it is.
IDENTIFY_TIMEOUT_S = 5.0


class Identifier:
    """A compiled identification rule."""

    def __init__(self, pattern: str) -> None:
        self.pattern = pattern
        self.hook: Callable[[bytes], str | None] | None = None
        if pattern.startswith("hook:"):
            self.hook = _load_hook(pattern)
            return
        try:
            self.regex = re.compile(pattern.encode(), re.DOTALL)
        except re.error as e:
            raise UsageError(
                f"ingress identify regex {pattern!r} is not valid: {e}; "
                "give a Python regex with a group (?P<id>...) or group 1 for the node id"
            ) from None
        if self.regex.groups < 1:
            raise UsageError(
                f"ingress identify regex {pattern!r} has no group; "
                "put the node id in (?P<id>...) or group 1"
            )
        self.group: str | int = "id" if "id" in self.regex.groupindex else 1

    def identify(self, seen: bytes) -> str | None:
        """The dialler's id if the bytes seen so far name it, else None."""
        if self.hook is not None:
            found = self.hook(seen)
            return str(found) if found else None
        m = self.regex.search(seen)
        if m is None or m.group(self.group) is None:
            return None
        return m.group(self.group).decode(errors="replace")


def _load_hook(spec: str) -> Callable[[bytes], str | None]:
    module_name, _, func_name = spec[len("hook:") :].partition(":")
    try:
        func = getattr(importlib.import_module(module_name), func_name)
    except (ImportError, AttributeError, ValueError) as e:
        raise UsageError(
            f"ingress identify hook {spec!r} cannot be loaded ({e}); "
            "write hook:package.module:function, importable where distlab runs"
        ) from None
    if not callable(func):
        raise UsageError(f"ingress identify hook {spec!r} is not a function")
    return func  # type: ignore[no-any-return,unused-ignore]


def check_policy(policy: str) -> str:
    """Validate an unidentified-connection policy name."""
    if policy not in UNIDENTIFIED_POLICIES:
        raise UsageError(
            f"unidentified policy {policy!r} is not known; use one of "
            + ", ".join(UNIDENTIFIED_POLICIES)
        )
    return policy
