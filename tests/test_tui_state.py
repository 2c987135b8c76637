"""The dashboard's pure parts: the state model folded from events, and the filter."""

from __future__ import annotations

from pathlib import Path

from distlab.events import NodeStateChanged, RunEnd, TestEnd, decode, read_events
from distlab.tui.query import matches
from distlab.tui.state import LabState, TestInfo

DATA = Path(__file__).parent / "data"


def fold(name: str) -> LabState:
    state = LabState()
    for event in read_events(DATA / f"events_{name}.jsonl"):
        state.apply(event)
    return state


def test_a_finished_run_counts_every_outcome_and_fails_on_its_gates() -> None:
    s = fold("finished")
    c = s.counts()
    assert (c["total"], c["passed"], c["failed"], c["flaky"], c["skipped"]) == (30, 23, 4, 1, 2)
    assert c["pending"] == c["running"] == 0
    assert [layer.name for layer in s.ordered_layers()] == [
        "unit",
        "concurrency",
        "distributed",
        "chaos",
        "performance",
    ]
    assert s.layers["concurrency"].status == "failed"
    assert s.overall_verdict() == "fail"
    assert s.eta() is None  # the run ended
    assert {g.name for g in s.gates.values() if g.passed is False} == {
        "concurrency.pass_rate",
        "distributed.pass_rate",
        "performance.kv_write.p95_ms",
    }
    failure = s.failures()[0]
    assert failure.longrepr.startswith("cluster = ") and failure.stdout.startswith("seed 7")


def test_a_run_in_progress_has_a_running_test_pending_tests_and_an_eta() -> None:
    s = fold("running")
    c = s.counts()
    assert c["running"] == 1 and c["pending"] > 0
    assert s.ended is None and s.overall_verdict() is None
    eta = s.eta()
    elapsed = s.elapsed()
    assert eta is not None and elapsed is not None and eta > 0
    done = c["total"] - c["pending"] - c["running"]
    assert abs(eta - elapsed / done * (c["total"] - done)) < 1e-9


def test_run_end_turns_a_test_left_running_back_to_pending() -> None:
    s = fold("running")
    s.apply(RunEnd(ts=s.now + 1, verdict="error", exit_code=1))
    assert s.counts()["running"] == 0
    assert s.overall_verdict() == "error"


def test_cluster_session_tracks_nodes_partition_links_faults_and_throughput() -> None:
    s = fold("partitioned")
    assert sorted(s.nodes) == ["n1", "n2", "n3", "n4", "n5"]
    assert s.nodes["n5"].state == "crashed" and s.nodes["n5"].signal == "SIGKILL"
    assert s.nodes["n3"].role == "leader" and s.nodes["n3"].term == 3
    assert s.partition is not None and s.partition["groups"] == [["n1", "n2"], ["n3", "n4", "n5"]]
    assert s.links[("n1", "n3")] == {"partition": "drop"}
    assert ("n1", "n2") not in s.links  # healed after the latency window
    assert [f.fault for f in s.active_faults()] == ["partition", "kill"]
    assert all(w.end is not None for w in s.faults.values() if w.id == "f1")
    fail, info = s.error_rates()
    assert 0 < fail < 0.1 and 0 < info < 0.1
    assert s.checks["linearizability"][0] == "valid"


def test_a_restart_counts_and_resets_uptime() -> None:
    s = LabState()
    s.apply(NodeStateChanged(ts=1.0, node="n1", state="up"))
    s.apply(NodeStateChanged(ts=2.0, node="n1", state="paused"))
    s.apply(NodeStateChanged(ts=3.0, node="n1", state="up"))
    assert s.nodes["n1"].restarts == 0  # a resume is not a restart
    s.apply(NodeStateChanged(ts=4.0, node="n1", state="down"))
    s.apply(NodeStateChanged(ts=5.0, node="n1", state="up"))
    assert s.nodes["n1"].restarts == 1 and s.nodes["n1"].up_since == 5.0


def test_dirty_sets_name_only_what_changed() -> None:
    s = fold("finished")
    s.take_dirty()
    nodeid = next(iter(s.tests))
    s.apply(TestEnd(ts=s.now, layer="unit", nodeid=nodeid, outcome="failed"))
    areas, tests, nodes = s.take_dirty()
    assert tests == {nodeid} and not nodes and "layers" in areas and "gates" not in areas
    assert s.take_dirty() == (set(), set(), set())


def test_events_with_missing_fields_do_not_break_the_model() -> None:
    s = LabState()
    s.apply(decode({"kind": "test.end"}))
    s.apply(decode({"kind": "partition", "groups": [], "cut": []}))
    assert s.events_seen == 2 and s.partition is None
    assert s.tests[""].outcome == "error"  # an end with no outcome is not a pass


def test_reset_outcomes_before_a_fresh_run() -> None:
    s = fold("finished")
    s.reset_outcomes()
    c = s.counts()
    assert c["pending"] == c["total"] == 30 and not s.gates and s.verdict is None


def test_filter_words_outcomes_markers_and_fields() -> None:
    t = TestInfo(
        "suites/chaos/test_a.py::test_kill_leader",
        "chaos",
        markers=("chaos", "slow"),
        outcome="failed",
    )
    assert matches(t, "")
    assert matches(t, "kill")
    assert matches(t, "failed") and matches(t, "outcome:failed")
    assert not matches(t, "outcome:passed")
    assert matches(t, "marker:slow") and matches(t, "slow")
    assert matches(t, "layer:chaos kill")
    assert not matches(t, "layer:unit")
    assert not matches(t, "kill partition")  # every word must match


def test_incremental_tallies_equal_a_recount_after_every_event() -> None:
    for name in ("running", "finished", "passed"):
        s = LabState()
        for event in read_events(DATA / f"events_{name}.jsonl"):
            s.apply(event)
            for layer in s.layers.values():
                recount = {k: 0 for k in layer.tally}
                for t in layer.tests.values():
                    recount[t.outcome] += 1
                assert layer.tally == recount, (name, event.kind, layer.name)
        s.reset_outcomes()
        assert all(layer.done() == 0 for layer in s.layers.values())


def test_a_new_cluster_replaces_the_last_one_in_the_node_table() -> None:
    s = LabState()
    for node in ("n1", "n2", "n3"):
        s.apply(NodeStateChanged(ts=1.0, node=node, state="up", cluster="test_a"))
    s.apply(NodeStateChanged(ts=2.0, node="n3", state="down", cluster="test_a"))
    s.apply(NodeStateChanged(ts=3.0, node="n1", state="up", cluster="test_b"))
    assert list(s.nodes) == ["n1"] and s.nodes["n1"].restarts == 0 and s.cluster == "test_b"


# -- the fault timeline (issue 14 item 3) ---------------------------------------------


def test_a_fault_id_fired_eight_times_is_eight_windows_in_their_own_rows() -> None:
    from distlab.events import FaultEnd, FaultStart
    from distlab.tui.components.fault_timeline import ordered

    s = LabState()
    for trial in range(8):  # the shrinker reuses monkey/f1 in every trial
        s.apply(FaultStart(ts=100.0 + 10 * trial, id="monkey/f1", fault="kill", target=("n1",)))
        s.apply(FaultEnd(ts=104.0 + 10 * trial, id="monkey/f1", fault="kill"))
    s.apply(FaultStart(ts=200.0, id="monkey/f1", fault="kill", target=("n2",)))
    windows = [w for w in s.faults.values() if w.id == "monkey/f1"]
    assert [(w.start, w.end) for w in windows[:8]] == [
        (100.0 + 10 * t, 104.0 + 10 * t) for t in range(8)
    ]
    assert windows[8].end is None and windows[8].target == ["n2"]
    # Active first, then the ended ones newest at the top.
    assert [w.start for w in ordered(s)] == [200.0, *(170.0 - 10 * t for t in range(8))]


def test_active_faults_stay_in_the_top_rows_whatever_their_age() -> None:
    from distlab.events import FaultEnd, FaultStart
    from distlab.tui.components.fault_timeline import ordered

    s = LabState()
    s.apply(FaultStart(ts=1.0, id="f0", fault="pause", target=("n3",)))  # never ends
    for i in range(1, 30):
        s.apply(FaultStart(ts=1.0 + i, id=f"f{i}", fault="kill", target=("n1",)))
        s.apply(FaultEnd(ts=1.5 + i, id=f"f{i}", fault="kill"))
    top = ordered(s)[:3]
    assert top[0].id == "f0" and top[0].end is None
    assert [w.id for w in top[1:]] == ["f29", "f28"]


def test_a_partition_made_by_a_test_reaches_the_timeline_once() -> None:
    from distlab.events import FaultEnd, FaultStart, PartitionChanged

    s = LabState()
    # A distributed-layer test partitions the network itself: no nemesis fault names it.
    s.apply(PartitionChanged(ts=10.0, shape="halves", groups=(("n1", "n2"), ("n3",)), mode="drop"))
    assert [(w.fault, w.target) for w in s.active_faults()] == [("partition", ["n1,n2 | n3"])]
    s.apply(PartitionChanged(ts=15.0))  # healed
    assert s.active_faults() == [] and len(s.faults) == 1
    # The nemesis partitions: the network change comes first, then its fault event;
    # one window, the nemesis's own.
    s.apply(PartitionChanged(ts=20.0, shape="isolate", groups=(("n1",), ("n2", "n3"))))
    s.apply(FaultStart(ts=20.01, id="f1", fault="partition", target=("n1",)))
    assert [w.id for w in s.active_faults()] == ["f1"]
    s.apply(PartitionChanged(ts=25.0))
    s.apply(FaultEnd(ts=25.01, id="f1", fault="partition"))
    assert s.active_faults() == [] and len(s.faults) == 2


# -- verdicts (issue 14 items 2, 5) -----------------------------------------------------


def test_an_invalid_verdict_of_a_test_that_passed_is_marked_expected() -> None:
    from distlab.events import CheckVerdict
    from distlab.tui.components.throughput import render_compact, verdict_text

    s = LabState()
    caught = "suites/unit/test_checker.py::test_finds_the_planted_bug"
    s.apply(
        CheckVerdict(
            checker="linearizability",
            verdict="invalid",
            nodeid=caught,
            detail="invalid (40 ops, 2 keys, model register)",
        )
    )
    assert s.checks["linearizability"][0] == "invalid"  # until the test says what it meant
    s.apply(TestEnd(layer="unit", nodeid=caught, outcome="passed"))
    verdict, detail = s.checks["linearizability"]
    assert verdict_text(verdict, detail) == "INVALID (expected) (40 ops)"
    assert "INVALID (expected)" in render_compact(s, 80).renderables[1].plain
    # A test that fails on its checker's verdict keeps the bare, red INVALID.
    other = "suites/distributed/test_kv.py::test_linearizable_under_partition"
    s.apply(
        CheckVerdict(
            checker="linearizability",
            verdict="invalid",
            nodeid=other,
            detail="invalid (90 ops, 3 keys, model register)",
        )
    )
    s.apply(TestEnd(layer="distributed", nodeid=other, outcome="failed"))
    assert verdict_text(*s.checks["linearizability"]) == "INVALID (90 ops)"


def test_the_live_verdict_says_how_many_ops_it_judged() -> None:
    from distlab.tui.components.throughput import verdict_text

    assert verdict_text("valid", "valid (1234 ops, 5 keys, model kv)") == "VALID (1234 ops)"
    # A history where nothing succeeded is no verdict at all, and the line says so.
    assert (
        verdict_text("unknown", "no verdict: no operation succeeded (70 ops, none ok)")
        == "NO VERDICT: no operation succeeded"
    )
