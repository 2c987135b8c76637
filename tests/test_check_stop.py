"""Stopping early once the verdict is final, and counterexamples only on demand."""

from __future__ import annotations

import threading
from typing import Any

from distlab.checkers import Register, Verdict, check_linearizable, from_records
from distlab.checkers.linearizability import KeyResult
from distlab.workload.simulate import hard_history


def _stale_read(key: str, process: int) -> list[dict[str, Any]]:
    """write 1, write 2, then a read of 1: invalid in a few steps."""
    recs = []
    for t, (kind, f, v) in enumerate(
        [
            ("invoke", "write", 1),
            ("ok", "write", 1),
            ("invoke", "write", 2),
            ("ok", "write", 2),
            ("invoke", "read", None),
            ("ok", "read", 1),
        ]
    ):
        recs.append({"process": process, "type": kind, "f": f, "key": key, "value": v, "time": t})
    return recs


def _history(hard_keys: int) -> Any:
    """One quickly refuted key and ``hard_keys`` whose search is exponential."""
    recs = _stale_read("bad", 10_000)
    for k in range(hard_keys):
        for r in hard_history(24):
            recs.append({**r, "key": f"hard{k}", "process": k * 100 + r["process"]})
    recs.sort(key=lambda r: r["time"])
    return from_records(recs, model=Register())


def _by_key(keys: list[KeyResult]) -> dict[str, KeyResult]:
    return {str(k.key): k for k in keys}


def test_in_process_the_other_keys_stop_once_one_is_invalid() -> None:
    # The hard keys are bigger, so they get their slice first and are set
    # aside for the workers; the bad key then settles the verdict and the
    # workers are never started.
    result = check_linearizable(_history(2), Register(), budget_s=30)
    keys = _by_key(result.keys)
    assert result.verdict is Verdict.INVALID
    assert keys["bad"].verdict is Verdict.INVALID
    assert [keys[f"hard{k}"].reason for k in range(2)] == ["stopped", "stopped"]
    assert result.unknown == [] and len(result.stopped) == 2
    assert "2 keys not searched to the end" in result.summary()


def test_forked_workers_stop_once_one_is_invalid() -> None:
    # Each key in its own worker; the hard one would run to its memory or
    # time budget unless the other worker's finding stops it.
    result = check_linearizable(_history(1), Register(), budget_s=60, workers=2, slice_s=0)
    keys = _by_key(result.keys)
    assert keys["bad"].verdict is Verdict.INVALID
    # stopped mid-search, or before its worker began it: either way not
    # searched to its budget
    assert keys["hard0"].reason == "stopped", keys["hard0"]


def test_a_running_search_ends_when_told_to_stop() -> None:
    from distlab.checkers.linearizability import partitions
    from distlab.checkers.wgl import search

    ops = partitions(_history(1), Register())["hard0"]
    asked = []

    def stop() -> bool:
        asked.append(1)
        return len(asked) > 3  # after three clock checks (about 8,000 steps)

    res = search(ops, Register(), stop=stop)
    assert res.verdict is Verdict.UNKNOWN and res.reason == "stopped"
    assert res.steps > 3 * 2048


def test_forkserver_workers_stop_too() -> None:
    release = threading.Event()
    other = threading.Thread(target=release.wait, daemon=True)
    other.start()  # another thread alive: workers come from a fork server
    try:
        result = check_linearizable(_history(1), Register(), budget_s=60, workers=2, slice_s=0)
    finally:
        release.set()
        other.join()
    assert _by_key(result.keys)["hard0"].reason == "stopped"


def test_all_keys_searches_every_key() -> None:
    recs = _stale_read("a", 1) + _stale_read("b", 2) + _stale_read("c", 3)
    recs.sort(key=lambda r: r["time"])
    history = from_records(recs, model=Register())
    assert len(check_linearizable(history, Register()).invalid) == 1
    every = check_linearizable(history, Register(), all_keys=True)
    assert sorted(str(k.key) for k in every.invalid) == ["a", "b", "c"]
    parallel = check_linearizable(history, Register(), all_keys=True, workers=2, slice_s=0)
    assert sorted(str(k.key) for k in parallel.invalid) == ["a", "b", "c"]


def test_counterexample_is_computed_only_when_read() -> None:
    history = from_records(_stale_read("x", 1), model=Register())
    result = check_linearizable(history, Register())
    key = result.invalid[0]
    assert key._counterexample is None and key.explainer is not None  # not yet computed
    cx = key.counterexample
    assert cx is not None and cx.blocked is not None and cx.blocked.output == 1
    assert key.counterexample is cx  # computed once
    quiet = check_linearizable(history, Register(), explain=False)
    assert quiet.invalid[0].counterexample is None
    assert quiet.to_dict()["keys"][0]["counterexample"] is None


def test_cli_no_explain_and_all_keys(tmp_path: Any, capsys: Any) -> None:
    import json

    from distlab.cli.main import main

    recs = _stale_read("a", 1) + _stale_read("b", 2)
    recs.sort(key=lambda r: r["time"])
    path = tmp_path / "two_bad.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in recs))
    assert main(["check", "--model", "register", "--no-explain", str(path)]) == 1
    out = capsys.readouterr().out
    assert "not linearizable: " in out and "cannot" not in out
    assert not (tmp_path / "two_bad.timeline.html").exists()
    assert main(["check", "--model", "register", "--all-keys", str(path)]) == 1
    out = capsys.readouterr().out
    assert 'not linearizable: "a", "b"' in out or 'not linearizable: "b", "a"' in out
    assert out.count("then this op must take effect and cannot") == 2
