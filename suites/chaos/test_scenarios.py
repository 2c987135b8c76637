"""The two shipped scenarios of config.toml, against the reference Raft KV.

Shortened in CI (ci_duration_s, every time scaled alike); full length with
``distlab --long``. Each criterion is judged with its observed value, and the
values go out as metrics (``chaos.scenario.availability{scenario=...}``).
"""

from __future__ import annotations

import pytest
from support.refsys_client import client_factory

from distlab.nemesis import Scenario, parse_criteria, timeline

pytestmark = pytest.mark.chaos


@pytest.mark.parametrize("name", ["progressive_node_failures", "memory_pressure_with_partitions"])
def test_shipped_scenario_meets_its_criteria(name, cluster, kv, scenario, root_seed):
    kv.leader()  # start from a settled cluster, as a user would
    # Availability as an ordinary client sees it: the reference client finds the
    # leader and retries elsewhere. (The chaos monkey pins ops to random nodes
    # instead, to catch a node answering what it should not.)
    result = scenario(name, cluster, client_factory(cluster, seed=root_seed, any_node=False))
    print(result.report())
    print(result.schedule.describe())
    assert result.check.verdict == "valid" or "consistency" not in {
        c.metric for c in result.scenario.criteria
    }, result.check.report()
    assert result.passed, result.report()


# A scenario written in Python rather than config.toml: an explicit timeline
# aimed at whoever leads, judged on consistency, recovery and tail latency.
LEADER_LOSS = Scenario(
    name="leader_loss",
    title="Leader killed, then the network halved",
    duration_s=12.0,
    plan=timeline(
        [
            {"kind": "kill", "target": "leader", "at_s": 2, "duration_s": 3},
            {"kind": "partition", "target": "all", "shape": "halves", "at_s": 7, "duration_s": 2},
        ],
        name="leader_loss",
    ),
    criteria=parse_criteria({"consistency": "== 1", "recovery_s": "<= 10", "p95_ms": "<= 2500"}),
    timeout_s=2.0,
    # No cas: a cas that finds another value is a legitimate fail, and recovery
    # means every op succeeding for a second, which a contended cas never gives.
    mix={"read": 2, "write": 1},
)


def test_a_python_scenario_aimed_at_the_leader(cluster, kv, scenario, root_seed):
    leader = kv.leader()
    result = scenario(LEADER_LOSS, cluster, client_factory(cluster, seed=root_seed, any_node=False))
    print(result.report())
    assert result.passed, result.report()
    assert {v.criterion.metric for v in result.verdicts} == {"consistency", "recovery_s", "p95_ms"}
    assert leader in cluster.ids
