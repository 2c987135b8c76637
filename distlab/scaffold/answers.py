"""What ``distlab init`` needs to know about the user's system, checked as it arrives."""

from __future__ import annotations

import re
from dataclasses import dataclass

from distlab.errors import UsageError

WIRINGS = ("per-link", "ingress")
HEALTH_FORMS = "tcp, http:/PATH, command:CMD or none"


@dataclass(frozen=True)
class Health:
    """How a node is judged up: ``check`` is a ``[cluster] health_check`` value."""

    check: str
    path: str = ""
    command: str = ""


@dataclass(frozen=True)
class Answers:
    """Everything the scaffold is rendered from."""

    name: str
    command: str
    nodes: int = 3
    health: Health = Health("tcp")
    wiring: str = "per-link"
    identify: str = ""  # ingress wiring: regex over a dialler's first bytes, group 1 = its id

    def __post_init__(self) -> None:
        if not self.command.strip():
            raise UsageError("--command is empty: give the command that starts one node")
        if "{port}" not in self.command and self.health.check in ("tcp", "http"):
            raise UsageError(
                f"--command {self.command!r} has no {{port}}: distlab picks each node's client "
                "port and must pass it (or use --health command:CMD / none)"
            )
        if not 1 <= self.nodes <= 64:
            raise UsageError(f"--nodes must be from 1 to 64, got {self.nodes}")
        if self.wiring not in WIRINGS:
            raise UsageError(f"--wiring must be one of {', '.join(WIRINGS)}, got {self.wiring!r}")
        if self.wiring == "ingress":
            if not self.identify:
                raise UsageError(
                    "--wiring ingress needs --identify REGEX: group 1 of it, matched on the first "
                    "bytes a peer sends, is that peer's id (e.g. 'HELLO (\\S+)')"
                )
            try:
                compiled = re.compile(self.identify)
            except re.error as e:
                raise UsageError(f"--identify {self.identify!r} is not a regex: {e}") from None
            if compiled.groups < 1:
                raise UsageError(f"--identify {self.identify!r} needs a group for the node's id")


def parse_health(text: str) -> Health:
    """``tcp``, ``http`` / ``http:/PATH``, ``command:CMD`` or ``none``."""
    kind, sep, rest = text.strip().partition(":")
    if kind in ("tcp", "none") and not sep:
        return Health(kind)
    if kind == "http":
        path = rest or "/health"
        if not path.startswith("/"):
            raise UsageError(f"--health {text!r}: the path must start with /, e.g. http:/health")
        return Health("http", path=path)
    if kind == "command" and rest.strip():
        return Health("command", command=rest.strip())
    raise UsageError(f"--health {text!r} is not one of {HEALTH_FORMS}")
