"""Faults outside the schedule (what the lab's keys use): ``apply_now``, ``end_now``,
``in_force``, ``stop(undo=False)``, on real echo nodes; and the seeded choices a fault
makes do not depend on its duration, so a replayed or shortened fault hits the same nodes."""

from __future__ import annotations

import pytest
from cluster_helpers import echo_settings

from distlab.config.schema import ClusterSettings
from distlab.nemesis import Lab, Nemesis, Schedule, make_fault
from distlab.nemesis.nemesis import fault_rng
from distlab.workload import HistoryRecorder


@pytest.fixture
def cluster_settings() -> ClusterSettings:
    return echo_settings(nodes=3)


def test_a_fault_applied_now_lasts_until_ended_and_outlives_the_timeline(cluster) -> None:
    recorder = HistoryRecorder()
    # The scheduled pause starts well after the kill below, whatever the machine's load.
    schedule = Schedule((make_fault("pause", "n3", 2.0, 0.5),), name="t")
    nemesis = Nemesis(Lab(cluster=cluster), schedule, seed=1, recorder=recorder)
    nemesis.start()
    # duration_s is not used: the fault lasts until it is ended.
    killed = nemesis.apply_now(make_fault("kill", "n2", duration_s=0.01))
    assert killed.error is None and killed.id == "t/now1" and killed.nodes == ["n2"]
    assert killed.fault.at_s < 2.0  # its offset is when it was applied
    assert not nemesis.in_force()[0].ended_s
    assert str(cluster["n2"].state) == "down"

    nemesis.join(10)  # the timeline is over: its pause ended, the kill did not
    assert str(cluster["n3"].state) == "up"
    assert str(cluster["n2"].state) == "down"
    assert [a.id for a in nemesis.in_force()] == ["t/now1"]
    assert nemesis.end_now("t/now1") and not nemesis.end_now("t/now1")
    assert str(cluster["n2"].state) == "up"  # ending the kill restarted the node
    assert nemesis.in_force() == []

    paused = nemesis.apply_now(make_fault("pause", "n1", duration_s=1))
    assert paused.id == "t/now2" and str(cluster["n1"].state) == "paused"
    nemesis.stop(undo=False)  # marked as ended, not undone
    assert paused.ended_s is not None and str(cluster["n1"].state) == "paused"
    cluster["n1"].resume()

    marks = [(r["f"], r["value"]["id"]) for r in recorder.records if r["process"] == "nemesis"]
    assert marks == [
        ("fault.start", "t/now1"),
        ("fault.start", "t/f1"),
        ("fault.end", "t/f1"),
        ("fault.end", "t/now1"),
        ("fault.start", "t/now2"),
        ("fault.end", "t/now2"),
    ]


def test_a_fault_that_cannot_start_says_why_and_is_not_in_force(cluster) -> None:
    nemesis = Nemesis(Lab(cluster=cluster), Schedule(name="t"), seed=1)
    failed = nemesis.apply_now(make_fault("kill", "n7", duration_s=1))
    assert failed.error == "unknown node 'n7'; this cluster has n1, n2, n3"
    assert nemesis.in_force() == [] and len(nemesis.errors) == 1
    nemesis.stop()


def test_choices_depend_on_the_fault_and_its_start_not_its_duration() -> None:
    draws = {
        (at, duration): fault_rng(7, make_fault("kill", "one", at, duration)).random()
        for at in (0.0, 0.5, 1.0, 2.5)
        for duration in (0.5, 3.0, 60.0)
    }
    for at in (0.0, 0.5, 1.0, 2.5):
        assert draws[(at, 0.5)] == draws[(at, 3.0)] == draws[(at, 60.0)]
    # ...but the start and the kind do count: faults at other times draw afresh.
    assert len({draws[(at, 0.5)] for at in (0.0, 0.5, 1.0, 2.5)}) == 4
    pause = fault_rng(7, make_fault("pause", "one", 0.0, 0.5)).random()
    assert pause != draws[(0.0, 0.5)]
