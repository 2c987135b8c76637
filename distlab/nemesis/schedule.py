"""Schedules: explicit timelines and seeded generators of them.

A ``Schedule`` is a list of ``Fault``s with start times and durations. The
generators (``chaos_monkey``, ``progressive_failures``, ``flip_flop``) draw
every choice from one seed, so the same seed gives the same schedule, and
``to_json`` renders it byte for byte the same (sorted keys, rounded times)
for the run directory and for pasting into a regression test.
"""

from __future__ import annotations

import json
import random
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from distlab.errors import UsageError
from distlab.nemesis.faults import KINDS, Fault, fault_from_dict, make_fault
from distlab.seeds import rng as seeded_rng


@dataclass(frozen=True)
class Schedule:
    """Faults on a timeline (seconds from the start of the run)."""

    faults: tuple[Fault, ...] = ()
    name: str = "schedule"
    seed: int | None = None

    def __post_init__(self) -> None:
        ordered = tuple(sorted(self.faults, key=lambda f: (f.at_s, f.kind, f.target)))
        object.__setattr__(self, "faults", ordered)

    def __len__(self) -> int:
        return len(self.faults)

    @property
    def end_s(self) -> float:
        """When the last fault ends (0 for an empty schedule)."""
        return max((f.end_s for f in self.faults), default=0.0)

    def with_faults(self, faults: Iterable[Fault]) -> Schedule:
        return replace(self, faults=tuple(faults))

    def check_within(self, duration_s: float, owner: str = "scenario") -> None:
        """A UsageError if any fault starts or ends after ``duration_s``."""
        for f in self.faults:
            if f.end_s > duration_s + 1e-9:
                raise UsageError(
                    f"schedule {self.name!r}: {f.kind} at {f.at_s:g} s ends at {f.end_s:g} s, "
                    f"longer than its {owner} ({duration_s:g} s)"
                )

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "seed": self.seed, "faults": [f.to_dict() for f in self.faults]}

    def to_json(self) -> str:
        """Canonical text: the same schedule always renders to the same bytes."""
        return json.dumps(self.to_dict(), sort_keys=True, indent=1) + "\n"

    def write(self, run_dir: Path) -> Path:
        """Write ``<run_dir>/nemesis/<name>.schedule.json``; returns the path."""
        path = Path(run_dir) / "nemesis" / f"{_safe(self.name)}.schedule.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(self.to_json(), encoding="utf-8")
        return path

    @classmethod
    def from_dict(cls, data: Any) -> Schedule:
        if not isinstance(data, dict) or not isinstance(data.get("faults"), list):
            raise UsageError('a schedule is {"name": ..., "seed": ..., "faults": [...]}')
        return cls(
            tuple(fault_from_dict(f) for f in data["faults"]),
            name=str(data.get("name", "schedule")),
            seed=data.get("seed"),
        )

    @classmethod
    def from_json(cls, text: str) -> Schedule:
        try:
            return cls.from_dict(json.loads(text))
        except json.JSONDecodeError as e:
            raise UsageError(f"schedule is not JSON: {e}") from None

    def describe(self) -> str:
        """One line per fault, for reports."""
        head = f"schedule {self.name!r} (seed {self.seed}): {len(self)} fault(s)"
        return "\n".join([head, *(f"  {f.describe()}" for f in self.faults)])


def timeline(entries: Sequence[dict[str, Any]], name: str = "timeline") -> Schedule:
    """An explicit schedule from dicts: ``{"kind": "kill", "target": "leader", "at_s": 2, "duration_s": 3}``."""
    return Schedule(tuple(fault_from_dict(e) for e in entries), name=name)


# -- generators -------------------------------------------------------------------


def _draw(rng: random.Random, value: Any) -> Any:
    """A parameter given as [lo, hi] is drawn uniformly (rounded to 1 ms / 0.001)."""
    if _is_range(value):
        lo, hi = value
        if all(isinstance(x, int) and not isinstance(x, bool) for x in (lo, hi)):
            return rng.randint(int(lo), int(hi))
        return round(rng.uniform(float(lo), float(hi)), 3)
    return value


def _is_range(value: Any) -> bool:
    return isinstance(value, list | tuple) and len(value) == 2


def template(spec: str | dict[str, Any]) -> dict[str, Any]:
    """A fault template: a kind name, or a dict with kind, target and parameters (ranges allowed)."""
    t = {"kind": spec} if isinstance(spec, str) else dict(spec)
    kind = t.get("kind")
    if kind not in KINDS:
        raise UsageError(f"unknown fault {kind!r}; allowed: {', '.join(KINDS)}")
    # Check the template at both ends of every range, so a typo or an out-of-range
    # bound fails when the template is read, before anything runs.
    for end in (0, 1):
        probe = {k: (v[end] if _is_range(v) else v) for k, v in t.items()}
        probe["duration_s"] = 1.0 if KINDS[kind].lasting else 0.0
        probe.pop("at_s", None)
        fault_from_dict(probe)
    return t


def _from_template(
    rng: random.Random, t: dict[str, Any], at_s: float, duration_s: float, target: str | None = None
) -> Fault:
    params = {
        k: _draw(rng, v) for k, v in t.items() if k not in ("kind", "target", "at_s", "duration_s")
    }
    kind = t["kind"]
    default_target = "db" if KINDS[kind].acts_on == "db" else "one"
    return make_fault(
        kind,
        target or t.get("target", default_target),
        round(at_s, 3),
        round(duration_s, 3) if KINDS[kind].lasting else 0.0,
        **params,
    )


def _check_interval(name: str, duration_s: float, interval_s: float) -> None:
    if not isinstance(interval_s, int | float) or interval_s <= 0:
        raise UsageError(f"{name}: interval_s must be more than 0 seconds, got {interval_s!r}")
    if not isinstance(duration_s, int | float) or duration_s <= 0:
        raise UsageError(f"{name}: duration_s must be more than 0 seconds, got {duration_s!r}")


def chaos_monkey(
    seed: int,
    duration_s: float,
    interval_s: float,
    faults: Sequence[str | dict[str, Any]] = ("kill", "pause", "partition", "latency"),
    *,
    fault_s: float | None = None,
    quiet_s: float | None = None,
    name: str = "chaos_monkey",
    background: Sequence[dict[str, Any]] = (),
) -> Schedule:
    """Every ``interval_s`` a random fault from ``faults`` (seeded) for ``fault_s`` (default 60% of it).

    Nothing starts in the last ``quiet_s`` (default one interval), so the run
    ends healed and recovery can be measured. ``background`` templates run
    from 0 to the start of the quiet tail.
    """
    _check_interval(name, duration_s, interval_s)
    rng = seeded_rng(seed, f"nemesis.schedule:{name}")
    templates = [template(f) for f in faults]
    if not templates:
        raise UsageError(f"{name}: faults must name at least one fault kind")
    span = fault_s if fault_s is not None else round(interval_s * 0.6, 3)
    quiet = interval_s if quiet_s is None else quiet_s
    out = _background(rng, background, duration_s - quiet)
    at = interval_s / 2
    while at + span <= duration_s - quiet + 1e-9:
        out.append(_from_template(rng, rng.choice(templates), at, span))
        at += interval_s
    return Schedule(tuple(out), name=name, seed=seed)


def progressive_failures(
    seed: int,
    duration_s: float,
    interval_s: float,
    nodes: Sequence[str],
    *,
    kind: str = "kill",
    max_down: int | None = None,
    quiet_s: float | None = None,
    name: str = "progressive_failures",
    background: Sequence[dict[str, Any]] = (),
) -> Schedule:
    """One more node down every ``interval_s`` (nodes drawn from the seed), up to ``max_down``
    (default: a minority); then all come back and the progression starts over."""
    _check_interval(name, duration_s, interval_s)
    if kind not in ("kill", "pause"):
        raise UsageError(f"{name}: kind must be kill or pause, got {kind!r}")
    ids = list(nodes)
    if not ids:
        raise UsageError(f"{name}: needs the cluster's node ids")
    most = max(1, (len(ids) - 1) // 2) if max_down is None else max_down
    if not 1 <= most <= len(ids):
        raise UsageError(f"{name}: max_down must be from 1 to {len(ids)}, got {most}")
    rng = seeded_rng(seed, f"nemesis.schedule:{name}")
    quiet = interval_s if quiet_s is None else quiet_s
    last = duration_s - quiet
    out = _background(rng, background, last)
    at = interval_s
    while at < last - 1e-9:
        # One round: nodes go down one per interval and all come back together.
        order = rng.sample(ids, most)
        round_end = min(at + most * interval_s, last)
        for i, node in enumerate(order):
            start = at + i * interval_s
            if start >= round_end - 1e-9:
                break
            out.append(make_fault(kind, node, round(start, 3), round(round_end - start, 3)))
        at = round_end + interval_s
    return Schedule(tuple(out), name=name, seed=seed)


def flip_flop(
    seed: int,
    duration_s: float,
    interval_s: float,
    a: str | dict[str, Any],
    b: str | dict[str, Any],
    *,
    quiet_s: float | None = None,
    name: str = "flip_flop",
) -> Schedule:
    """``a`` for an interval, a healthy interval, ``b`` for an interval, ... (Jepsen's flip-flop)."""
    _check_interval(name, duration_s, interval_s)
    rng = seeded_rng(seed, f"nemesis.schedule:{name}")
    pair = [template(a), template(b)]
    quiet = interval_s if quiet_s is None else quiet_s
    out: list[Fault] = []
    at, i = interval_s, 0
    while at + interval_s <= duration_s - quiet + 1e-9:
        out.append(_from_template(rng, pair[i % 2], at, interval_s))
        at += 2 * interval_s
        i += 1
    return Schedule(tuple(out), name=name, seed=seed)


def _background(
    rng: random.Random, templates: Sequence[dict[str, Any]], until: float
) -> list[Fault]:
    if until <= 0:
        return []
    return [_from_template(rng, template(t), 0.0, until) for t in templates]


GENERATORS = ("chaos_monkey", "progressive_failures", "flip_flop")


@dataclass
class GeneratorSpec:
    """A generator named in config or a test, built into a schedule once the nodes are known."""

    generator: str
    interval_s: float
    faults: list[Any] = field(default_factory=list)
    background: list[dict[str, Any]] = field(default_factory=list)
    fault_s: float | None = None
    quiet_s: float | None = None

    def build(self, seed: int, duration_s: float, nodes: Sequence[str], name: str) -> Schedule:
        if self.generator == "chaos_monkey":
            return chaos_monkey(
                seed,
                duration_s,
                self.interval_s,
                self.faults or ("kill", "pause", "partition", "latency"),
                fault_s=self.fault_s,
                quiet_s=self.quiet_s,
                name=name,
                background=self.background,
            )
        if self.generator == "progressive_failures":
            kind = self.faults[0] if self.faults else "kill"
            return progressive_failures(
                seed,
                duration_s,
                self.interval_s,
                nodes,
                kind=kind,
                quiet_s=self.quiet_s,
                name=name,
                background=self.background,
            )
        if self.generator == "flip_flop":
            if len(self.faults) != 2:
                raise UsageError(
                    f"{name}: flip_flop needs exactly two faults, got {len(self.faults)}"
                )
            return flip_flop(
                seed,
                duration_s,
                self.interval_s,
                self.faults[0],
                self.faults[1],
                quiet_s=self.quiet_s,
                name=name,
            )
        raise UsageError(f"unknown generator {self.generator!r}; allowed: {', '.join(GENERATORS)}")


def _safe(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in name) or "schedule"
