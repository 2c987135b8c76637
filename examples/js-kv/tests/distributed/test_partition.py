"""js-kv under a network partition: a register workload while one follower is cut off.

The correct mode stays linearizable; the naive mode serves stale values on
both sides of the partition, and the checker finds it.
"""

from __future__ import annotations

import pytest
from client import client_factory

from distlab.nemesis import timeline
from distlab.workload import Keys, register_mix

pytestmark = pytest.mark.distributed


def test_register_is_linearizable_while_a_follower_is_cut_off(cluster, nemesis, workload, history):
    schedule = timeline(
        [{"kind": "partition", "shape": "isolate", "target": "n3", "at_s": 2, "duration_s": 4}]
    )
    w = workload(
        client_factory(cluster),
        mix=register_mix(read=2, write=1, cas=1),
        keys=Keys.uniform(3),
        clients=6,
        bind="member",  # two clients stay on each node, whatever happens to them
        members=cluster.ids,
        duration_s=8,
        rate=150,
        timeout_s=1.0,
    )
    with nemesis(schedule, cluster=cluster) as n:
        w.run()
    n.raise_errors()
    result = history.check("register")
    print(schedule.describe())
    assert result.verdict == "valid", result.report()
