"""Exit codes and the error types that map onto them.

A user mistake is a one-line message and an exit code, never a traceback;
code that can hit one raises one of these and the CLI turns it into a line.
"""

from __future__ import annotations

from enum import IntEnum


class ExitCode(IntEnum):
    """Exit codes of every distlab command (DESIGN.md, "Exit codes")."""

    OK = 0
    FAILED = 1  # a gate or a required layer failed; `doctor`: a required check failed
    USAGE = 2  # bad usage, bad config, bad input file
    LAB = 3  # the lab itself broke: a node that cannot start, a port clash
    # No verdict. `distlab check`: the checker ran out of budget; `distlab --ci`:
    # a gate of a selected layer could not be evaluated (INCOMPLETE, never a pass).
    UNKNOWN = 4
    INCOMPLETE = 4
    INTERRUPTED = 130


class DistlabError(Exception):
    """An error with a one-line message meant for the user."""

    exit_code: ExitCode = ExitCode.LAB

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class UsageError(DistlabError):
    """Bad input from the user: a flag, a file, a value. Exit 2."""

    exit_code = ExitCode.USAGE


class ConfigError(UsageError):
    """A bad config file. The message already names file, line, section and key."""


class LabError(DistlabError):
    """The lab broke: a node would not start, a port was taken. Exit 3."""

    exit_code = ExitCode.LAB
