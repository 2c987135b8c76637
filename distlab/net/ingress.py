"""Telling which node dialled an ingress proxy, from the connection's first bytes.

In ingress mode all nodes share one peer list, so the proxy in front of a
node cannot tell the dialler by which port was used; the dialler's own bytes
must say it (a hello frame, a sender-id header). The rule is a regex over the
bytes seen so far whose group ``id`` (or else group 1) is the node id.
"""

from __future__ import annotations

import re

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
        m = self.regex.search(seen)
        if m is None or m.group(self.group) is None:
            return None
        return m.group(self.group).decode(errors="replace")


def check_policy(policy: str) -> str:
    """Validate an unidentified-connection policy name."""
    if policy not in UNIDENTIFIED_POLICIES:
        raise UsageError(
            f"unidentified policy {policy!r} is not known; use one of "
            + ", ".join(UNIDENTIFIED_POLICIES)
        )
    return policy
