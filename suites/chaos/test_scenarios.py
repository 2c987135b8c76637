"""The two shipped scenarios of config.toml, against the reference Raft KV.

Shortened in CI (ci_duration_s, every time scaled alike); full length with
``distlab --long``. Each criterion is judged with its observed value, and the
values go out as metrics (``chaos.scenario.availability{scenario=...}``).
"""

from __future__ import annotations

import pytest
from support.refsys_client import client_factory

pytestmark = pytest.mark.chaos


@pytest.mark.parametrize("name", ["progressive_node_failures", "memory_pressure_with_partitions"])
def test_shipped_scenario_meets_its_criteria(name, cluster, kv, scenario, root_seed):
    kv.leader()  # start from a settled cluster, as a user would
    result = scenario(name, cluster, client_factory(cluster, seed=root_seed))
    print(result.report())
    print(result.schedule.describe())
    assert result.check.verdict == "valid" or "consistency" not in {
        c.metric for c in result.scenario.criteria
    }, result.check.report()
    assert result.passed, result.report()
