"""The stats checker (latency, availability per fault window, recovery) and the
queue / set checkers, on hand-made histories."""

from __future__ import annotations

from typing import Any

from distlab.checkers import Verdict, from_records
from distlab.checkers.queue import check_queue, check_records, check_set
from distlab.checkers.stats import NS, fault_windows, history_stats, percentile

MS = 1_000_000


def _op(
    p: Any, f: str, value: Any, kind: str, call: int, end: int, out: Any = None
) -> list[dict[str, Any]]:
    done = {"process": p, "type": kind, "f": f, "value": value if out is None else out, "time": end}
    return [{"process": p, "type": "invoke", "f": f, "value": value, "time": call}, done]


def _nemesis(f: str, t: int, ident: str = "f1") -> dict[str, Any]:
    return {"process": "nemesis", "type": "info", "f": f, "value": {"id": ident}, "time": t}


def _sorted(recs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return sorted(recs, key=lambda r: r["time"])


def test_latency_percentiles_and_rates() -> None:
    recs: list[dict[str, Any]] = []
    for n in range(100):  # write latencies 1..100 ms, one after another
        recs += _op(0, "write", n, "ok", n * 200 * MS, n * 200 * MS + (n + 1) * MS)
    recs += _op(1, "read", None, "info", 0, 5 * MS)
    stats = history_stats(from_records(_sorted(recs)))
    w = stats.by_f["write"]
    assert (w.p50_ms, w.p95_ms, w.p99_ms, w.max_ms) == (50, 95, 99, 100)
    assert (
        stats.by_f["read"].info == 1 and stats.by_f["read"].p50_ms is None
    )  # info: latency unknown
    assert (stats.ok, stats.info) == (100, 1)
    assert sum(ok for _, ok, _, _ in stats.per_second) == 100
    assert percentile([], 50) is None


def test_availability_inside_and_outside_faults_and_recovery() -> None:
    recs: list[dict[str, Any]] = []
    # one op every 100 ms for 6 s; the fault is on from 1 s to 3 s; ops fail
    # until 3.5 s (half a second after the heal), then succeed
    for n in range(60):
        t = n * 100 * MS
        kind = "info" if 1 * NS <= t < 3.5 * NS else "ok"
        recs += _op(n, "write", n, kind, t, t + 10 * MS)
    recs += [_nemesis("fault.start", 1 * NS), _nemesis("fault.end", 3 * NS)]
    stats = history_stats(from_records(_sorted(recs)), sustain_s=1.0)
    assert stats.windows == [(1 * NS, 3 * NS)]
    assert stats.availability_in_faults == 0.0
    assert stats.availability_outside_faults == 35 / 39  # 4 of the 39 outside (3.1 s to 3.4 s) fail
    assert stats.recovery_s == [0.51]  # heal at 3 s, first sustained ok ends at 3.51 s
    metrics = stats.metrics()
    assert metrics["availability_in_faults"] == 0.0 and metrics["recovery_s_max"] == 0.51
    assert metrics["write.p95_ms"] == 10.0


def test_never_recovered_is_none_and_explicit_windows_override() -> None:
    recs: list[dict[str, Any]] = []
    for n in range(10):
        recs += _op(n, "write", n, "info" if n >= 5 else "ok", n * NS, n * NS + MS)
    history = from_records(recs)
    assert history_stats(history, windows=[(4 * NS, 5 * NS)]).recovery_s == [None]


def test_jepsen_style_markers_and_overlapping_faults() -> None:
    recs = [
        {"process": "nemesis", "type": "invoke", "f": "start-partition", "value": None, "time": 10},
        {"process": "nemesis", "type": "info", "f": "start-partition", "value": None, "time": 12},
        _nemesis("fault.start", 15, "kill"),
        {"process": "nemesis", "type": "invoke", "f": "stop-partition", "value": None, "time": 20},
        {"process": "nemesis", "type": "info", "f": "stop-partition", "value": None, "time": 25},
        _nemesis("fault.end", 30, "kill"),
        {"process": "nemesis", "type": "info", "f": "start-partition", "value": None, "time": 40},
    ]
    history = from_records(recs)
    # the partition and the kill overlap into one window; the last fault runs to the end
    assert fault_windows(history.nemesis, end=50) == [(10, 30), (40, 50)]


def test_queue_lost_duplicated_unexpected() -> None:
    recs: list[dict[str, Any]] = []
    t = 0
    for n, kind in enumerate(["ok", "ok", "ok", "info", "fail", "ok"]):
        recs += _op(0, "enqueue", n, kind, t, t + 1)
        t += 2
    for value in [0, 1, 1, 3, 99, None]:  # 2 and 5 lost, 1 twice, 99 never sent, 3 recovered
        recs += _op(1, "dequeue", None, "ok", t, t + 1, out=value)
        t += 2
    result = check_queue(from_records(recs))
    assert result.verdict is Verdict.INVALID
    assert result.lost == [2, 5] and result.duplicated == {1: 2} and result.unexpected == [99]
    assert result.recovered == [3]
    assert "2 lost, 1 duplicated, 1 unexpected" in result.summary()
    # not drained: undelivered records are not evidence of loss
    assert check_queue(from_records(recs), drained=False).lost == []


def test_set_uses_the_last_read() -> None:
    recs: list[dict[str, Any]] = []
    recs += _op(0, "add", 1, "ok", 0, 1)
    recs += _op(0, "add", 2, "ok", 2, 3)
    recs += _op(1, "read", None, "ok", 4, 5, out=[1])
    recs += _op(1, "read", None, "ok", 6, 7, out=[1, 2])
    assert check_set(from_records(recs)).verdict is Verdict.VALID
    recs += _op(1, "read", None, "ok", 8, 9, out=[2])
    assert check_set(from_records(recs)).lost == [1]


def test_records_core_on_plain_data() -> None:
    ok = check_records(attempted=range(5), acknowledged=range(5), delivered=range(5))
    assert ok.verdict is Verdict.VALID and ok.delivered == 5
    bad = check_records(attempted=[], acknowledged=["a"], delivered=["a", "a"])
    assert bad.verdict is Verdict.INVALID and bad.to_dict()["duplicated"] == [["a", 2]]
