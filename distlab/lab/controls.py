"""What the dashboard may ask of a lab: one small protocol, so the UI needs nothing else."""

from __future__ import annotations

from typing import Protocol


class LabControls(Protocol):
    """Fault keys of a lab session. Each returns a one-line answer for the user and never
    raises for a user mistake (a node that is down already, a lab still starting)."""

    def kill(self, node: str) -> str | None:
        """SIGKILL ``node``; it stays down until ``restart``."""
        ...

    def pause_or_resume(self, node: str) -> str | None:
        """SIGSTOP a running node, SIGCONT a paused one."""
        ...

    def restart(self, node: str) -> str | None:
        """Bring ``node`` back (a killed one) or restart it (a running one)."""
        ...

    def shapes(self) -> list[str]:
        """The partition shapes ``partition`` takes."""
        ...

    def partition(self, shape: str) -> str | None:
        """Replace any partition by ``shape`` over all nodes."""
        ...

    def latency(self, ms: float) -> str | None:
        """Delay every peer link by ``ms``."""
        ...

    def heal(self) -> str | None:
        """End every network fault and pause; killed nodes stay down."""
        ...
