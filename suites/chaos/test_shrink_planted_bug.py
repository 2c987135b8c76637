"""A planted bug found by a chaos run, and the failing schedule shrunk to at most 3 faults.

The ``split-brain`` bug (no step-down without quorum, elections without a
majority) is invisible on a healthy network and shows as a non-linearizable
history once a partition cuts the leader off. The chaos monkey's schedule
mixes kills, pauses and latency with such partitions; shrinking drops,
shortens and moves faults while the history stays invalid, each trial on a
fresh cluster, and reports the minimal schedule ready to paste into a
regression test.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from support.refsys_client import client_factory, role_probe

from distlab.cluster import Cluster
from distlab.nemesis import Lab, Nemesis, Schedule, chaos_monkey, shrink
from distlab.seeds import derive
from distlab.workload import HistoryRecorder, Keys, Workload, register_mix

pytestmark = pytest.mark.chaos

FAULTS = [
    "kill",
    "pause",
    {"kind": "latency", "target": "one", "ms": [50, 300]},
    {"kind": "partition", "shape": "isolate", "target": "leader"},
]


class Trials:
    """Runs a schedule against a fresh cluster with the bug on; says whether the history is invalid."""

    def __init__(self, settings, network, run_dir: Path, seed: int) -> None:
        self.settings, self.network, self.run_dir, self.seed = settings, network, run_dir, seed
        self.count = 0

    def fails(self, schedule: Schedule) -> bool:
        self.count += 1
        trial = self.run_dir / f"trial{self.count:02d}"
        with Cluster(
            self.settings,
            trial,
            env={"REFSYS_BUGS": "split-brain"},
            network=self.network,
            seed=derive(self.seed, f"trial{self.count}"),
            name=f"trial{self.count:02d}",
        ) as cluster:
            probe = role_probe(cluster)
            recorder = HistoryRecorder(trial / "history.jsonl")
            w = Workload(
                client_factory(cluster, seed=self.count),
                recorder,
                mix=register_mix(read=2, write=1, cas=1),
                keys=Keys.uniform(2),
                clients=4,
                duration_s=schedule.end_s + 1.5,
                timeout_s=1.0,
                seed=derive(self.seed, "workload"),
            )
            lab = Lab(cluster=cluster, role_probe=probe, run_dir=trial)
            with Nemesis(lab, schedule, seed=self.seed, recorder=recorder) as n:
                w.run()
            recorder.close()
            if n.errors:  # the lab could not play this candidate: it proves nothing
                print(f"trial {self.count}: {n.errors[0]}")
                return False
            return recorder.check("register", budget_s=20).invalid


def test_split_brain_found_by_chaos_is_shrunk_to_at_most_three_faults(
    cluster_settings, cluster_network, distlab_run_dir, root_seed, request
):
    # The first schedule drawn from the root seed with two partitions or more: a
    # monkey that never partitions cannot show this bug, and that is not news.
    for k in range(100):
        seed = derive(root_seed, f"{request.node.nodeid}:{k}")
        schedule = chaos_monkey(seed, 12.0, 1.5, FAULTS, fault_s=1.2, quiet_s=1.5, name="monkey")
        if sum(f.kind == "partition" for f in schedule.faults) >= 2:
            break
    assert len(schedule) >= 5, schedule.describe()
    trials = Trials(cluster_settings, cluster_network, distlab_run_dir / "shrink", seed)
    assert trials.fails(schedule), (
        f"the chaos run did not find the planted bug:\n{schedule.describe()}"
    )

    result = shrink(schedule, trials.fails, budget_s=80, max_trials=12)  # the CI budget
    report = result.regression()
    (distlab_run_dir / "shrink" / "regression.py").write_text(report)
    print(schedule.describe())
    print("\n".join(result.steps))
    print(report)
    assert len(result.minimal) <= 3, result.minimal.describe()
    assert len(result.minimal) < len(schedule)
    # What the shrinker returns is a schedule it saw fail, replayable from its JSON.
    assert Schedule.from_json(result.minimal.to_json()) == result.minimal
