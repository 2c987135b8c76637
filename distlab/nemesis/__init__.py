"""distlab.nemesis: faults as data, seeded schedules, scenarios with success criteria, shrinking.

    from distlab.nemesis import Lab, Nemesis, chaos_monkey
    schedule = chaos_monkey(seed, duration_s=30, interval_s=5, faults=["kill", "partition"])
    with Nemesis(Lab(cluster=cluster, role_probe=probe, run_dir=run_dir), schedule,
                 seed=seed, recorder=history):
        workload.run()

See docs/nemesis.md.
"""

from distlab.nemesis.actions import Lab, drop_connections
from distlab.nemesis.criteria import (
    METRICS,
    Criterion,
    CriterionVerdict,
    parse_criteria,
    parse_criterion,
)
from distlab.nemesis.faults import KINDS, SELECTORS, Fault, fault_from_dict, make_fault
from distlab.nemesis.nemesis import Applied, Nemesis
from distlab.nemesis.resources import small_filesystem
from distlab.nemesis.scenario import Scenario, ScenarioResult, from_table, judge, long_run
from distlab.nemesis.schedule import (
    GeneratorSpec,
    Schedule,
    chaos_monkey,
    flip_flop,
    progressive_failures,
    timeline,
)
from distlab.nemesis.shrink import ShrinkResult, shrink
from distlab.nemesis.targets import RoleProbe, find_leader, resolve

__all__ = [
    "KINDS",
    "METRICS",
    "SELECTORS",
    "Applied",
    "Criterion",
    "CriterionVerdict",
    "Fault",
    "GeneratorSpec",
    "Lab",
    "Nemesis",
    "RoleProbe",
    "Scenario",
    "ScenarioResult",
    "Schedule",
    "ShrinkResult",
    "chaos_monkey",
    "drop_connections",
    "fault_from_dict",
    "find_leader",
    "flip_flop",
    "from_table",
    "judge",
    "long_run",
    "make_fault",
    "parse_criteria",
    "parse_criterion",
    "progressive_failures",
    "resolve",
    "shrink",
    "small_filesystem",
    "timeline",
]
