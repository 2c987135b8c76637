"""Verdicts: ``valid | invalid | unknown``, composed with invalid > unknown > valid."""

from __future__ import annotations

from collections.abc import Iterable
from enum import StrEnum

from distlab.errors import ExitCode


class Verdict(StrEnum):
    """What a checker concluded about a history."""

    VALID = "valid"
    INVALID = "invalid"
    UNKNOWN = "unknown"  # out of time or memory budget: no conclusion either way

    @property
    def exit_code(self) -> ExitCode:
        """``distlab check``'s exit code for this verdict."""
        return _EXIT[self]


_RANK = {Verdict.VALID: 0, Verdict.UNKNOWN: 1, Verdict.INVALID: 2}
_EXIT = {
    Verdict.VALID: ExitCode.OK,
    Verdict.INVALID: ExitCode.FAILED,
    Verdict.UNKNOWN: ExitCode.UNKNOWN,
}


def compose(verdicts: Iterable[Verdict]) -> Verdict:
    """The verdict of several checks: any invalid wins, then any unknown, else valid."""
    worst = Verdict.VALID
    for v in verdicts:
        if _RANK[v] > _RANK[worst]:
            worst = v
    return worst
