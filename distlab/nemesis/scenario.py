"""Scenarios: a duration, a schedule, a workload and success criteria.

Defined in ``config.toml`` (``[scenarios.<name>]``) or in Python. Running
one plays the workload and the nemesis together for the duration, checks the
history, measures the criteria's metrics and gives each criterion a verdict
with the observed value. CI runs a shortened version (``ci_duration_s``;
generator intervals and explicit times scale with it); ``--long`` (the
``DISTLAB_LONG`` environment variable) runs the full length.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from distlab.env import LONG_ENV
from distlab.errors import UsageError
from distlab.nemesis.criteria import Criterion, CriterionVerdict, parse_criteria
from distlab.nemesis.faults import fault_from_dict
from distlab.nemesis.schedule import GENERATORS, GeneratorSpec, Schedule, template

if TYPE_CHECKING:
    from distlab.checkers.history import History
    from distlab.checkers.linearizability import LinearizabilityResult
    from distlab.checkers.stats import Stats
    from distlab.workload import HistoryRecorder

# Keys of a [scenarios.<name>] table.
KEYS = (
    "title",
    "duration_s",
    "ci_duration_s",
    "nodes",
    "clients",
    "keys",
    "timeout_s",
    "mix",
    "generator",
    "interval_s",
    "faults",
    "background",
    "fault_s",
    "quiet_s",
    "schedule",
    "criteria",
    "model",
)


# The ops a scenario's mix may weigh, per model.
MIX_OPS = {"register": ("read", "write", "cas"), "kv": ("get", "put", "append", "delete")}


def long_run() -> bool:
    """Whether scenarios run at full length (``distlab --long`` sets ``DISTLAB_LONG=1``)."""
    return os.environ.get(LONG_ENV, "") not in ("", "0")


@dataclass
class Scenario:
    """A named chaos experiment and what counts as surviving it."""

    name: str
    duration_s: float
    plan: Schedule | GeneratorSpec
    criteria: list[Criterion]
    title: str = ""
    ci_duration_s: float | None = None
    nodes: int | None = None
    clients: int = 4
    keys: int = 3
    timeout_s: float = 1.0
    mix: dict[str, float] = field(default_factory=lambda: {"read": 1.0, "write": 1.0})
    model: str = "register"

    def __post_init__(self) -> None:
        if self.duration_s <= 0:
            raise UsageError(f"scenario {self.name}: duration_s must be more than 0")
        if self.ci_duration_s is not None and not 0 < self.ci_duration_s <= self.duration_s:
            raise UsageError(
                f"scenario {self.name}: ci_duration_s must be more than 0 and at most duration_s "
                f"({self.duration_s:g}), got {self.ci_duration_s:g}"
            )
        if isinstance(self.plan, Schedule):
            self.plan.check_within(self.duration_s, f"scenario {self.name!r}")

    def length_s(self, long: bool | None = None) -> float:
        """How long this run lasts: full with ``--long`` (or no ci_duration_s), else shortened."""
        full = long_run() if long is None else long
        return self.duration_s if full or self.ci_duration_s is None else self.ci_duration_s

    def schedule(self, seed: int, nodes: list[str], long: bool | None = None) -> Schedule:
        """The schedule for this run; a shortened run scales every time by the same factor."""
        length = self.length_s(long)
        scale = length / self.duration_s
        if isinstance(self.plan, Schedule):
            faults = [
                fault_from_dict(
                    {**f.to_dict(), "at_s": f.at_s * scale, "duration_s": f.duration_s * scale}
                )
                for f in self.plan.faults
            ]
            return Schedule(tuple(faults), name=self.name, seed=seed)
        spec = self.plan
        scaled = GeneratorSpec(
            spec.generator,
            spec.interval_s * scale,
            spec.faults,
            spec.background,
            None if spec.fault_s is None else spec.fault_s * scale,
            None if spec.quiet_s is None else spec.quiet_s * scale,
        )
        built = scaled.build(seed, length, nodes, self.name)
        built.check_within(length, f"scenario {self.name!r}")
        return built


def from_table(name: str, table: dict[str, Any]) -> Scenario:
    """A scenario from a ``[scenarios.<name>]`` table. Errors are ``ScenarioKeyError`` naming the key."""
    for key in table:
        if key not in KEYS:
            raise ScenarioKeyError(key, f"unknown key; allowed: {', '.join(KEYS)}")

    def number(key: str, default: Any, lo: float, hi: float, whole: bool = False) -> Any:
        value = table.get(key, default)
        if value is None:
            return None
        ok_type = int if whole else (int, float)
        if isinstance(value, bool) or not isinstance(value, ok_type) or not lo <= value <= hi:
            kind = "a whole number" if whole else "a number"
            raise ScenarioKeyError(key, f"must be {kind} from {lo:g} to {hi:g}, got {value!r}")
        return value if whole else float(value)

    duration = number("duration_s", None, 0.001, 86_400)
    if duration is None:
        raise ScenarioKeyError("duration_s", "is required: how long the scenario runs, in seconds")
    if "criteria" not in table:
        raise ScenarioKeyError(
            "criteria", 'is required, e.g. criteria = { availability = ">= 0.8" }'
        )
    criteria = _wrap("criteria", lambda: parse_criteria(table["criteria"]))
    has_schedule, has_gen = "schedule" in table, "generator" in table
    if has_schedule == has_gen:
        raise ScenarioKeyError(
            "generator" if has_gen else "schedule",
            f"give either schedule = [...] (explicit faults) or generator = one of {', '.join(GENERATORS)}",
        )
    plan: Schedule | GeneratorSpec
    if has_schedule:
        entries = table["schedule"]
        if not isinstance(entries, list):
            raise ScenarioKeyError("schedule", "must be a list of fault tables")
        plan = _wrap(
            "schedule", lambda: Schedule(tuple(fault_from_dict(e) for e in entries), name=name)
        )
    else:
        gen = table["generator"]
        if gen not in GENERATORS:
            raise ScenarioKeyError(
                "generator", f"{gen!r} is not allowed; allowed: {', '.join(GENERATORS)}"
            )
        interval = number("interval_s", None, 0.001, 86_400)
        if interval is None:
            raise ScenarioKeyError("interval_s", f"is required by generator {gen}")
        faults = table.get("faults", [])
        background = table.get("background", [])
        if not isinstance(faults, list):
            raise ScenarioKeyError("faults", "must be a list of fault kinds or fault tables")
        if not isinstance(background, list):
            raise ScenarioKeyError("background", "must be a list of fault tables")
        _wrap("faults", lambda: [template(f) for f in faults])
        _wrap("background", lambda: [template(b) for b in background])
        plan = GeneratorSpec(
            gen,
            interval,
            list(faults),
            list(background),
            number("fault_s", None, 0.001, 86_400),
            number("quiet_s", None, 0, 86_400),
        )
    mix = table.get("mix", {"read": 1, "write": 1})
    if (
        not isinstance(mix, dict)
        or not mix
        or not all(
            isinstance(v, int | float) and not isinstance(v, bool) and v >= 0 for v in mix.values()
        )
    ):
        raise ScenarioKeyError("mix", "must be a table of op weights, e.g. { read = 1, write = 1 }")
    model = table.get("model", "register")
    if model not in MIX_OPS:
        raise ScenarioKeyError("model", f"{model!r} is not allowed; allowed: {', '.join(MIX_OPS)}")
    unknown = sorted(set(mix) - set(MIX_OPS[model]))
    if unknown:
        raise ScenarioKeyError(
            "mix",
            f"{unknown[0]!r} is not an op of the {model} model; allowed: {', '.join(MIX_OPS[model])}",
        )
    title = table.get("title", name)
    if not isinstance(title, str):
        raise ScenarioKeyError("title", "must be a string")
    return _wrap(
        "schedule" if has_schedule else "duration_s",
        lambda: Scenario(
            name=name,
            duration_s=duration,
            plan=plan,
            criteria=criteria,
            title=title,
            ci_duration_s=number("ci_duration_s", None, 0.001, 86_400),
            nodes=number("nodes", None, 1, 64, whole=True),
            clients=number("clients", 4, 1, 256, whole=True),
            keys=number("keys", 3, 1, 100_000, whole=True),
            timeout_s=number("timeout_s", 1.0, 0.01, 600),
            mix={str(k): float(v) for k, v in mix.items()},
            model=model,
        ),
    )


class ScenarioKeyError(UsageError):
    """A bad key in a scenario table; ``key`` says which, for the config loader's line number."""

    def __init__(self, key: str, message: str) -> None:
        super().__init__(message)
        self.key = key


def _wrap(key: str, build: Callable[[], Any]) -> Any:
    try:
        return build()
    except ScenarioKeyError:
        raise
    except UsageError as e:
        raise ScenarioKeyError(key, str(e)) from None


# -- judging ----------------------------------------------------------------------


@dataclass
class ScenarioResult:
    """What a scenario run observed, and the verdict of each criterion."""

    scenario: Scenario
    schedule: Schedule
    observed: dict[str, float | None]
    verdicts: list[CriterionVerdict]
    check: LinearizabilityResult | None = None
    stats: Stats | None = None
    elapsed_s: float = 0.0

    @property
    def passed(self) -> bool:
        return all(v.passed for v in self.verdicts)

    def report(self) -> str:
        lines = [
            f"scenario {self.scenario.title!r}: {'passed' if self.passed else 'FAILED'} "
            f"({self.elapsed_s:.1f} s, {len(self.schedule)} faults, seed {self.schedule.seed})"
        ]
        lines += [f"  {v}" for v in self.verdicts]
        return "\n".join(lines)


def observe(
    history: History, check: LinearizabilityResult | None, stats: Stats
) -> dict[str, float | None]:
    """The criteria metrics from a checked history and its stats."""
    lat = sorted(
        (op.ret - op.call) / 1e6
        for op in history.ops
        if op.type in ("ok", "fail") and op.ret is not None
    )
    p95 = lat[min(len(lat) - 1, max(0, int(0.95 * len(lat) + 0.999999) - 1))] if lat else None
    ops = stats.ops
    recoveries = stats.recovery_s
    if recoveries:
        # Unknown (None) if any window never recovered.
        recovered = [r for r in recoveries if r is not None]
        recovery = max(recovered) if len(recovered) == len(recoveries) else None
    else:
        recovery = 0.0  # no fault windows: nothing to recover from
    verdict = str(check.verdict) if check is not None else "unknown"
    return {
        "availability": stats.availability,
        "consistency": {"valid": 1.0, "invalid": 0.0}.get(verdict),
        "error_rate": stats.fail / ops if ops else None,
        "recovery_s": recovery,
        "p95_ms": p95,
    }


def judge(
    scenario: Scenario,
    schedule: Schedule,
    recorder: HistoryRecorder,
    *,
    budget_s: float = 60.0,
    started: float | None = None,
) -> ScenarioResult:
    """Check the recorded history and judge every criterion."""
    from distlab.checkers.models import get_model

    model = get_model(scenario.model)
    check = recorder.check(model, budget_s=budget_s)
    stats = recorder.stats()
    observed = observe(recorder.history(model), check, stats)
    verdicts = [c.judge(observed[c.metric]) for c in scenario.criteria]
    elapsed = time.monotonic() - started if started is not None else 0.0
    return ScenarioResult(scenario, schedule, observed, verdicts, check, stats, elapsed)
