"""No vacuous verdicts (issue 14 item 2): a history, or a key, where no operation
succeeded is judged neither valid nor invalid, and the result says so."""

from __future__ import annotations

from typing import Any

from distlab.checkers.history import from_records
from distlab.checkers.linearizability import NO_SUCCESS, check_linearizable
from distlab.checkers.models import Register
from distlab.checkers.verdict import Verdict


def _op(process: int, f: str, key: str, value: Any, end: str, t: int) -> list[dict[str, Any]]:
    return [
        {"process": process, "type": "invoke", "f": f, "key": key, "value": value, "time": t},
        {"process": process, "type": end, "f": f, "key": key, "value": value, "time": t + 1},
    ]


def test_a_key_with_no_successful_op_has_no_verdict_and_says_so() -> None:
    recs = [
        *_op(1, "write", "x", 1, "ok", 10),
        *_op(2, "read", "x", 1, "ok", 20),
        *_op(3, "write", "y", 5, "fail", 30),  # refused
        *_op(4, "read", "y", None, "info", 40),  # timed out
    ]
    result = check_linearizable(from_records(recs, model=Register()), Register())
    by_key = {k.key: k for k in result.keys}
    assert by_key["x"].verdict is Verdict.VALID
    assert by_key["y"].verdict is Verdict.UNKNOWN and by_key["y"].reason == NO_SUCCESS
    # The history's verdict is over the keys that could be judged, and names the others.
    assert result.verdict is Verdict.VALID
    assert 'unknown (no operation succeeded): "y"' in result.summary()


def test_a_history_where_nothing_succeeded_is_not_valid() -> None:
    recs = [*_op(1, "write", "x", 1, "fail", 10), *_op(2, "read", "x", None, "info", 20)]
    result = check_linearizable(from_records(recs, model=Register()), Register())
    assert result.verdict is Verdict.UNKNOWN
    assert result.summary().startswith("unknown (2 ops, 1 keys")


def test_a_key_only_written_with_unknown_outcome_has_no_verdict() -> None:
    recs = [*_op(1, "write", "x", 1, "ok", 10), *_op(2, "write", "z", 2, "info", 20)]
    result = check_linearizable(from_records(recs, model=Register()), Register())
    assert {k.key: k.reason for k in result.keys}["z"] == NO_SUCCESS
