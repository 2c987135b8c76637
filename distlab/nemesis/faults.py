"""Faults as data: what a fault is, what it takes, and checking it before anything runs.

A ``Fault`` is a plain value (kind, target selector, parameters, when, how
long). Nothing here touches a process or a socket: ``distlab.nemesis.actions``
turns a fault into calls on the cluster, the network and the database.
Keeping faults as data is what lets a schedule be generated from a seed,
written to a file, replayed, and shrunk.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from distlab.errors import UsageError

# Partition shapes of distlab.net that need no extra argument besides the nodes.
SHAPES = ("halves", "isolate", "majority_minority", "majorities_ring", "bridge", "asymmetric")


@dataclass(frozen=True)
class Param:
    """One parameter of a fault kind: its default and the allowed range or choices."""

    default: Any
    lo: float | None = None
    hi: float | None = None
    choices: tuple[str, ...] | None = None
    flag: bool = False  # true or false

    def check(self, kind: str, name: str, value: Any) -> Any:
        if self.flag:
            if not isinstance(value, bool):
                raise UsageError(f"fault {kind}: {name} must be true or false, got {value!r}")
            return value
        if self.choices is not None:
            if value not in self.choices:
                raise UsageError(
                    f"fault {kind}: {name} {value!r} is not allowed; allowed: {', '.join(self.choices)}"
                )
            return value
        if (
            isinstance(value, bool)
            or not isinstance(value, int | float)
            or not math.isfinite(value)
        ):
            raise UsageError(f"fault {kind}: {name} must be a number, got {value!r}")
        if (self.lo is not None and value < self.lo) or (self.hi is not None and value > self.hi):
            raise UsageError(
                f"fault {kind}: {name} must be from {_num(self.lo)} to {_num(self.hi)}, got {_num(value)}"
            )
        return value


@dataclass(frozen=True)
class Kind:
    """A fault kind: its parameters, whether it lasts (has an end), what it acts on."""

    name: str
    params: dict[str, Param]
    lasting: bool  # False: instantaneous (heal, restart, resume, db_drop)
    acts_on: str  # "nodes" | "links" | "db" | "net"
    help: str


def _k(name: str, acts_on: str, help: str, lasting: bool = True, **params: Param) -> Kind:
    return Kind(name, params, lasting, acts_on, help)


KINDS: dict[str, Kind] = {
    k.name: k
    for k in (
        _k(
            "partition",
            "net",
            "split the nodes by a named shape (isolate uses the target)",
            shape=Param("isolate", choices=SHAPES),
            mode=Param("drop", choices=("drop", "reject")),
            # A clean heal: connections that lost bytes are reset, not resumed with a hole.
            reset=Param(False, flag=True),
        ),
        _k("heal", "net", "clear every network fault and partition now", lasting=False),
        _k("kill", "nodes", "SIGKILL the target; restarted when the fault ends"),
        _k(
            "restart",
            "nodes",
            "restart the target (down or not) and wait until healthy",
            lasting=False,
        ),
        _k("pause", "nodes", "SIGSTOP the target; SIGCONT when the fault ends"),
        _k("resume", "nodes", "SIGCONT the target now", lasting=False),
        _k(
            "latency",
            "links",
            "delay the target's links (or a share of all links) by ms +- jitter_ms",
            ms=Param(100.0, 0, 60_000),
            jitter_ms=Param(0.0, 0, 60_000),
            links=Param(1.0, 0, 1),
        ),
        _k(
            "loss",
            "links",
            "lose chunks on the target's links with a probability",
            probability=Param(0.2, 0, 1),
            links=Param(1.0, 0, 1),
            reset=Param(False, flag=True),
        ),
        _k(
            "bandwidth",
            "links",
            "limit the target's links to kbit_s",
            kbit_s=Param(64.0, 0.001, 10_000_000),
            links=Param(1.0, 0, 1),
        ),
        _k(
            "memory",
            "nodes",
            "a companion process beside each target grows to rss_mb (or fraction of limit_mb) and holds it",
            rss_mb=Param(64.0, 1, 65_536),
            limit_mb=Param(0.0, 0, 65_536),
            fraction=Param(0.9, 0.01, 1),
        ),
        _k(
            "memory_limit",
            "nodes",
            "cap the target's address space (RLIMIT_AS) at limit_mb; allocations past it fail",
            limit_mb=Param(256.0, 16, 1_048_576),
        ),
        _k(
            "cpu",
            "nodes",
            "busy processes beside the target (procs of them, pinned to its CPUs)",
            procs=Param(2, 1, 64),
        ),
        _k(
            "fds",
            "nodes",
            "lower the target's RLIMIT_NOFILE to limit; every new fd numbered at or above it fails",
            limit=Param(3, 0, 1_000_000),
        ),
        _k(
            "disk_full",
            "nodes",
            "fill the filesystem of the target's data dir, leaving free_kb",
            free_kb=Param(0, 0, 1_048_576),
            max_fill_mb=Param(1024, 1, 1_048_576),
        ),
        _k("db_kill", "db", "SIGKILL PostgreSQL; restarted when the fault ends"),
        _k("db_cut", "db", "cut the client-to-database links (bytes vanish)"),
        _k(
            "db_slow",
            "db",
            "delay the client-to-database links",
            ms=Param(200.0, 0, 60_000),
            jitter_ms=Param(0.0, 0, 60_000),
        ),
        _k("db_drop", "db", "terminate every client connection to the database now", lasting=False),
    )
}

# Selectors a target may be, besides a node id such as "n2".
SELECTORS = ("one", "minority", "majority", "leader", "followers", "all", "db")


@dataclass(frozen=True)
class Fault:
    """One fault on a timeline: ``kind`` on ``target`` from ``at_s`` for ``duration_s``.

    ``duration_s`` is 0 for instantaneous kinds. ``params`` are the kind's
    parameters (missing ones take their defaults when checked).
    """

    kind: str
    target: str = "one"
    at_s: float = 0.0
    duration_s: float = 0.0
    params: dict[str, Any] = field(default_factory=dict)

    @property
    def end_s(self) -> float:
        return self.at_s + self.duration_s

    def to_dict(self) -> dict[str, Any]:
        """A plain dict (JSON-ready) with rounded times, so a schedule file is stable."""
        return {
            "kind": self.kind,
            "target": self.target,
            "at_s": round(self.at_s, 3),
            "duration_s": round(self.duration_s, 3),
            "params": dict(sorted(self.params.items())),
        }

    def describe(self) -> str:
        params = " ".join(f"{k}={_num(v)}" for k, v in sorted(self.params.items()))
        span = f" for {self.duration_s:g} s" if self.duration_s else ""
        return f"{self.at_s:g} s: {self.kind} {self.target}{span}" + (
            f" ({params})" if params else ""
        )


def check_target(target: Any, kind: str = "") -> str:
    """``target`` if it is a known selector or a node id (``n`` + number); else a UsageError."""
    if isinstance(target, str) and (
        target in SELECTORS or _is_node_id(target) or _is_group_target(target)
    ):
        return target
    where = f"fault {kind}: " if kind else ""
    raise UsageError(
        f"{where}unknown target {target!r}; allowed: {', '.join(SELECTORS)}, a node id such as n2, "
        "group:NAME, or a selector within a group such as one:group:sentinel"
    )


def _is_node_id(text: str) -> bool:
    # n2, or a group member such as redis1 / sentinel3 ([cluster.groups.<name>]).
    name = text.rstrip("0123456789")
    number = text[len(name) :]
    return bool(name) and name.isalpha() and number.isdigit() and int(number) >= 1


def _is_group_target(text: str) -> bool:
    """``group:NAME`` or ``SELECTOR:group:NAME`` (whether NAME exists is known only at run time)."""
    selector, found, group = text.rpartition("group:")
    return (
        bool(found)
        and bool(group)
        and group.replace("_", "").replace("-", "").isalpha()
        and selector in ("", *(f"{s}:" for s in SELECTORS if s not in ("all", "db")))
    )


def make_fault(
    kind: Any,
    target: Any = "one",
    at_s: Any = 0.0,
    duration_s: Any = None,
    **params: Any,
) -> Fault:
    """Check and build a fault; every mistake is a one-line UsageError naming it."""
    if kind not in KINDS:
        raise UsageError(f"unknown fault {kind!r}; allowed: {', '.join(KINDS)}")
    spec = KINDS[kind]
    target = check_target(target, kind)
    if spec.acts_on == "db" and target != "db":
        raise UsageError(
            f"fault {kind}: acts on the database, so its target must be db, got {target!r}"
        )
    if spec.acts_on != "db" and target == "db" and kind != "heal":
        raise UsageError(f"fault {kind}: acts on nodes or links; target db is for db_* faults")
    at = _seconds(kind, "at_s", at_s)
    if duration_s is None:
        duration = 0.0 if not spec.lasting else 5.0
    else:
        duration = _seconds(kind, "duration_s", duration_s)
    if not spec.lasting and duration:
        raise UsageError(
            f"fault {kind}: happens at once, so duration_s must be 0, got {_num(duration)}"
        )
    if spec.lasting and duration <= 0:
        raise UsageError(f"fault {kind}: lasts until healed, so duration_s must be more than 0")
    checked: dict[str, Any] = {}
    for name, value in params.items():
        if name not in spec.params:
            allowed = ", ".join(spec.params) or "none"
            raise UsageError(f"fault {kind}: unknown parameter {name!r}; allowed: {allowed}")
        checked[name] = spec.params[name].check(kind, name, value)
    return Fault(kind, target, at, duration, checked)


def param(fault: Fault, name: str) -> Any:
    """A fault's parameter, or its kind's default."""
    if name in fault.params:
        return fault.params[name]
    return KINDS[fault.kind].params[name].default


def fault_from_dict(data: Any) -> Fault:
    """A fault from its ``to_dict`` form (or a config table with the same keys)."""
    if not isinstance(data, dict):
        raise UsageError(
            f"a fault must be a table with kind, target, at_s, duration_s; got {data!r}"
        )
    allowed = {"kind", "target", "at_s", "duration_s", "params"}
    extra = set(data) - allowed
    params = dict(data.get("params") or {})
    # Config tables may give parameters inline: {kind = "latency", ms = 500}.
    for name in sorted(extra):
        params[name] = data[name]
    if "kind" not in data:
        raise UsageError(f"a fault needs kind; allowed kinds: {', '.join(KINDS)}")
    return make_fault(
        data["kind"],
        data.get(
            "target",
            "one" if data["kind"] not in KINDS or KINDS[data["kind"]].acts_on != "db" else "db",
        ),
        data.get("at_s", 0.0),
        data.get("duration_s"),
        **params,
    )


def _seconds(kind: str, name: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise UsageError(f"fault {kind}: {name} must be a number of seconds, got {value!r}")
    if value < 0:
        raise UsageError(f"fault {kind}: {name} must be 0 or more seconds, got {_num(value)}")
    return float(value)


def _num(value: Any) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)
