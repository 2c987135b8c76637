"""distlab.nemesis without processes: faults as data, schedules from seeds, criteria, shrinking."""

from __future__ import annotations

import random
from pathlib import Path

import pytest
from gate_runs import layer
from gate_runs import run as gate_run

from distlab.config import GateSpec, load
from distlab.errors import LabError, UsageError
from distlab.gates import ConditionError, evaluate, parse_condition
from distlab.nemesis import (
    Lab,
    Nemesis,
    Schedule,
    chaos_monkey,
    flip_flop,
    from_table,
    make_fault,
    parse_criterion,
    progressive_failures,
    resolve,
    shrink,
    timeline,
)
from distlab.nemesis.scenario import ScenarioKeyError, observe
from distlab.results import Metric

ROOT = Path(__file__).resolve().parents[1]

NODES = ["n1", "n2", "n3", "n4", "n5"]
MIXED = ["kill", "pause", {"kind": "latency", "ms": [100, 1000], "jitter_ms": 10}, "partition"]


# -- schedules from one seed ------------------------------------------------------------


def test_the_same_seed_gives_the_same_schedule_byte_for_byte(tmp_path) -> None:
    a = chaos_monkey(42, 60, 5, MIXED, background=[{"kind": "loss", "target": "all", "links": 0.3}])
    b = chaos_monkey(42, 60, 5, MIXED, background=[{"kind": "loss", "target": "all", "links": 0.3}])
    path_a = a.write(tmp_path / "a")
    path_b = b.write(tmp_path / "b")
    assert path_a.read_bytes() == path_b.read_bytes()
    assert path_a.name == "chaos_monkey.schedule.json"
    assert chaos_monkey(43, 60, 5, MIXED).to_json() != a.to_json()
    # The file replays: reading it back gives the same schedule and the same bytes.
    assert Schedule.from_json(path_a.read_text()) == a
    assert Schedule.from_json(path_a.read_text()).to_json() == a.to_json()


def test_chaos_monkey_draws_kinds_and_parameters_from_the_seed_and_ends_healed() -> None:
    s = chaos_monkey(7, 60, 5, MIXED, fault_s=3, quiet_s=10)
    assert {f.kind for f in s.faults} <= {"kill", "pause", "latency", "partition"}
    assert len({f.kind for f in s.faults}) >= 3  # 10 draws over 4 kinds
    assert all(f.end_s <= 50 for f in s.faults)  # the quiet tail lets recovery be measured
    assert [f.at_s for f in s.faults] == [2.5 + 5 * i for i in range(len(s))]
    for f in s.faults:
        if f.kind == "latency":
            assert 100 <= f.params["ms"] <= 1000


def test_progressive_failures_takes_one_more_node_down_each_step() -> None:
    s = progressive_failures(3, 60, 5, NODES, quiet_s=5)
    kills = [f for f in s.faults if f.kind == "kill"]
    first_round = [f for f in kills if f.at_s < 15]
    # Five nodes: at most two (a minority) down at once; the second joins the first.
    assert [f.at_s for f in first_round] == [5.0, 10.0]
    assert first_round[0].end_s == first_round[1].end_s == 15.0
    assert len({f.target for f in first_round}) == 2
    for t in range(0, 60):
        down = [f for f in kills if f.at_s <= t < f.end_s]
        assert len(down) <= 2
    assert all(f.target in NODES for f in kills)


def test_flip_flop_alternates_two_faults_with_healthy_gaps() -> None:
    s = flip_flop(1, 30, 3, "kill", {"kind": "partition", "shape": "halves", "target": "all"})
    assert [f.kind for f in s.faults] == ["kill", "partition", "kill", "partition"]
    assert [f.at_s for f in s.faults] == [3.0, 9.0, 15.0, 21.0]


def test_explicit_timeline_and_its_bounds() -> None:
    s = timeline(
        [
            {"kind": "kill", "target": "leader", "at_s": 2, "duration_s": 3},
            {"kind": "heal", "at_s": 6},
        ]
    )
    assert s.end_s == 6
    s.check_within(6)
    with pytest.raises(
        UsageError, match=r"kill at 2 s ends at 5 s, longer than its scenario \(4 s\)"
    ):
        s.check_within(4)


# -- bad input: one line each --------------------------------------------------------------


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"kind": "explode"}, "unknown fault 'explode'; allowed: partition, heal, kill"),
        (
            {"kind": "kill", "target": "king"},
            "fault kill: unknown target 'king'; allowed: one, minority",
        ),
        ({"kind": "latency", "ms": -1}, "fault latency: ms must be from 0 to 60000, got -1"),
        (
            {"kind": "latency", "speed": 3},
            "fault latency: unknown parameter 'speed'; allowed: ms, jitter_ms",
        ),
        ({"kind": "heal", "duration_s": 2}, "fault heal: happens at once, so duration_s must be 0"),
        (
            {"kind": "kill", "duration_s": 0},
            "fault kill: lasts until healed, so duration_s must be more",
        ),
        (
            {"kind": "db_kill", "target": "n1"},
            "fault db_kill: acts on the database, so its target must be db",
        ),
        ({"kind": "partition", "shape": "donut"}, "fault partition: shape 'donut' is not allowed"),
        (
            {"kind": "kill", "at_s": "soon"},
            "fault kill: at_s must be a number of seconds, got 'soon'",
        ),
    ],
)
def test_bad_faults_are_one_line_errors(kwargs, message) -> None:
    kind = kwargs.pop("kind")
    with pytest.raises(UsageError) as raised:
        make_fault(kind, **kwargs)
    assert message in str(raised.value)
    assert "\n" not in str(raised.value)


class FakeCluster:
    """Only ids: preflight must reject these schedules before touching any process."""

    ids = ["n1", "n2", "n3"]
    net = object()

    def __getitem__(self, node_id):  # pragma: no cover - preflight must not get here
        raise AssertionError("preflight touched a node")


@pytest.mark.parametrize(
    "fault, message",
    [
        (make_fault("kill", "n7", 1, 1), "unknown node 'n7'; this cluster has n1, n2, n3"),
        (make_fault("kill", "leader", 1, 1), "target leader needs a role probe"),
        (
            make_fault("partition", "all", 1, 1, shape="majorities_ring"),
            "needs at least 4 nodes, got 3",
        ),
        (make_fault("db_kill", "db", 1, 1), "needs a database; pass pg="),
    ],
)
def test_preflight_rejects_what_the_lab_cannot_do_before_anything_starts(fault, message) -> None:
    n = Nemesis(Lab(cluster=FakeCluster()), Schedule((fault,)))
    with pytest.raises(UsageError, match=message):
        n.start()
    assert n.applied == []


def test_a_link_fault_without_a_network_is_rejected_up_front() -> None:
    cluster = FakeCluster()
    cluster.net = None
    n = Nemesis(Lab(cluster=cluster), Schedule((make_fault("latency", "n1", 0, 1),)))
    with pytest.raises(UsageError, match="needs the fault-injecting network"):
        n.start()


# -- targets -------------------------------------------------------------------------------


def test_selectors_resolve_to_the_right_number_of_nodes_reproducibly() -> None:
    def pick(target, seed=1):
        return resolve(
            target,
            NODES,
            random.Random(seed),
            probe=lambda n: "leader" if n == "n4" else "follower",
        )

    assert len(pick("one")) == 1
    assert len(pick("minority")) == 2
    assert len(pick("majority")) == 3
    assert pick("all") == NODES
    assert pick("n2") == ["n2"]
    assert pick("leader") == ["n4"]
    assert pick("followers") == ["n1", "n2", "n3", "n5"]
    assert pick("majority", 9) == pick("majority", 9)
    with pytest.raises(UsageError, match="needs a role probe"):
        resolve("leader", NODES, random.Random(1))


# -- criteria and scenarios ----------------------------------------------------------------


def test_criteria_judge_the_observed_value() -> None:
    c = parse_criterion("availability", ">= 0.8")
    assert c.judge(0.85).passed and not c.judge(0.79).passed
    assert not c.judge(None).passed  # nothing observed is never a pass
    assert str(c.judge(0.5)) == "FAIL: availability >= 0.8 (observed 0.5)"
    assert parse_criterion("consistency", 1.0).judge(1.0).passed
    with pytest.raises(
        UsageError, match="unknown criterion metric 'uptime'; allowed: availability"
    ):
        parse_criterion("uptime", ">= 1")


def test_criteria_compare_as_gates_do() -> None:
    # One condition language: == and != allow a relative 1e-9 in a gate and a criterion alike.
    computed = 0.1 * 10 - 1e-15  # not exactly 1.0 in floating point
    assert computed != 1.0
    assert parse_criterion("consistency", "== 1").judge(computed).passed
    assert parse_criterion("consistency", 1).judge(computed).passed
    assert not parse_criterion("consistency", "== 1").judge(0.999).passed
    assert not parse_criterion("consistency", "!= 1").judge(computed).passed
    assert parse_criterion("error_rate", "!= 0").judge(0.5).passed
    assert not parse_criterion("error_rate", "!= 0").judge(0.0).passed
    assert not parse_criterion("error_rate", "!= 0").judge(None).passed
    assert str(parse_criterion("p95_ms", "< 2 * 250")) == "p95_ms < 2 * 250"
    assert parse_criterion("p95_ms", "< 2 * 250").judge(499).passed


@pytest.mark.parametrize(
    ("metric", "condition", "says"),
    [
        ("availability", "at least 0.8", "criterion availability: condition 'at least 0.8': "),
        ("availability", "=> 0.8", "unexpected '=' at column 1"),
        (
            "availability",
            True,
            'criterion availability: condition must be a string such as ">= 0.8"',
        ),
        ("recovery_s", "<= 1/0", "criterion recovery_s: condition '<= 1/0': division by zero"),
        ("p95_ms", "p(95) < 500", "criterion p95_ms: 'p(95) < 500' uses the aggregate p(95)"),
        ("p95_ms", "avg < 500", "criterion p95_ms: 'avg < 500' uses the aggregate avg"),
        (
            "availability",
            ">= baseline * 0.9",
            "criterion availability: '>= baseline * 0.9' uses baseline",
        ),
    ],
)
def test_bad_criteria_are_one_line_condition_errors(
    metric: str, condition: object, says: str
) -> None:
    # The gates' error type, so a caller catches one error for both.
    with pytest.raises(ConditionError) as raised:
        parse_criterion(metric, condition)
    assert says in str(raised.value)
    assert "\n" not in str(raised.value)
    assert isinstance(raised.value, UsageError)  # exit 2 from the CLI


def test_the_shipped_gate_and_criterion_on_1_mean_the_same() -> None:
    config = load(ROOT / "config.toml")
    gate = next(g for g in config.gates if g.metric == "unit.pass_rate")
    assert gate.conditions == ["== 1"]
    criterion = next(
        c
        for scenario in config.scenarios.values()
        for c in scenario.criteria
        if c.metric == "consistency"
    )
    assert criterion.condition == parse_condition(gate.conditions[0])
    for observed in (1.0, 0.1 * 10 - 1e-15, 1 + 1e-12, 0.999, 0.0, 2.0):
        run = gate_run(layer("unit", {"passed": 1}))
        run.layers[0].metrics = [Metric("pass_rate", observed)]
        (verdict,) = evaluate([gate], run)
        assert verdict.passed == criterion.judge(observed).passed, observed


@pytest.mark.parametrize("condition", ["== 1", "!= 1", "!= 0", ">= 0.8", "< 1", "<= 2 * 0.5"])
def test_a_gate_and_a_criterion_agree_on_every_comparison(condition: str) -> None:
    criterion = parse_criterion("availability", condition)
    gate = GateSpec("chaos.availability", [condition])
    for observed in (1.0, 0.1 * 10 - 1e-15, 1 + 1e-12, 0.999, 0.8, 0.0):
        run = gate_run(layer("chaos", {"passed": 1}))
        run.layers[0].metrics = [Metric("availability", observed)]
        (verdict,) = evaluate([gate], run)
        assert verdict.passed == criterion.judge(observed).passed, (condition, observed)


def test_a_scenario_table_is_checked_and_scaled_for_ci() -> None:
    scn = from_table(
        "p",
        {
            "duration_s": 60,
            "ci_duration_s": 15,
            "generator": "progressive_failures",
            "interval_s": 10,
            "criteria": {"availability": ">= 0.8"},
        },
    )
    full = scn.schedule(5, ["n1", "n2", "n3"], long=True)
    short = scn.schedule(5, ["n1", "n2", "n3"], long=False)
    assert full.end_s <= 60 and short.end_s <= 15
    assert [f.at_s for f in short.faults] == [round(f.at_s / 4, 3) for f in full.faults]
    with pytest.raises(ScenarioKeyError) as raised:
        from_table(
            "x",
            {
                "duration_s": 10,
                "criteria": {},
                "schedule": [{"kind": "kill", "target": "n1", "at_s": 8, "duration_s": 5}],
            },
        )
    assert raised.value.key == "schedule"


def test_observe_reads_each_metric_from_the_history() -> None:
    from distlab.checkers.history import from_records
    from distlab.checkers.stats import history_stats

    ms = 1_000_000
    recs = []
    for i in range(20):
        t = i * 100 * ms
        outcome = "ok" if i % 10 else "fail"
        recs += [
            {"process": 0, "type": "invoke", "f": "write", "value": i, "time": t},
            {"process": 0, "type": outcome, "f": "write", "value": i, "time": t + (i + 1) * ms},
        ]
    history = from_records(recs, "h")

    class Check:
        verdict = "valid"

    seen = observe(history, Check(), history_stats(history))
    assert seen["availability"] == 0.9
    assert seen["error_rate"] == 0.1
    assert seen["consistency"] == 1.0
    assert seen["p95_ms"] == pytest.approx(19.0)
    assert seen["recovery_s"] == 0.0  # no fault windows


# -- shrinking -----------------------------------------------------------------------------


def test_shrinking_finds_the_two_faults_that_matter() -> None:
    big = chaos_monkey(11, 60, 3, MIXED, fault_s=2.5)
    assert len(big) >= 12
    culprits = [f for f in big.faults if f.kind == "kill"][:1] + [
        f for f in big.faults if f.kind == "partition"
    ][:1]
    assert len(culprits) == 2

    def still_fails(s: Schedule) -> bool:
        # The "bug": a kill, then later a partition of at least a second.
        kills = [f for f in s.faults if f.kind == "kill"]
        parts = [f for f in s.faults if f.kind == "partition" and f.duration_s >= 1]
        return any(p.at_s > k.at_s for k in kills for p in parts)

    result = shrink(big, still_fails, budget_s=30)
    assert len(result.minimal) == 2
    assert still_fails(result.minimal)
    kinds = [f.kind for f in result.minimal.faults]
    assert kinds == ["kill", "partition"]
    # Shortened to what still fails, and moved earlier.
    assert result.minimal.faults[1].duration_s < 2.5
    assert result.minimal.faults[0].at_s <= 1.0
    text = result.regression()
    assert "Schedule.from_json" in text and f"seed {big.seed}" in text
    namespace: dict = {}
    exec(text, namespace)  # ready to paste: it runs and gives back the same schedule
    assert namespace["SCHEDULE"] == result.minimal


def test_shrinking_stops_at_its_budget_with_a_schedule_that_failed() -> None:
    big = chaos_monkey(5, 60, 3, MIXED)
    calls = []

    def slow_everything_fails(s: Schedule) -> bool:
        calls.append(len(s))
        return True

    result = shrink(big, slow_everything_fails, max_trials=3)
    assert result.trials == 3 and result.out_of_budget
    assert len(result.minimal) < len(big)


def test_two_nodes_claiming_to_lead_for_good_give_the_first_after_a_while() -> None:
    from distlab.nemesis import find_leader

    probe = {"n1": "follower", "n2": "leader", "n3": "leader"}.get
    assert find_leader(["n1", "n2", "n3"], probe, timeout_s=5, settle_s=0.2) == "n2"
    with pytest.raises(LabError, match=r"no leader among n1, n2 after 0\.2 s"):
        find_leader(["n1", "n2"], lambda n: "follower", timeout_s=0.2)
