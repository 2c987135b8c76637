"""Metric names the gates can judge: built-ins per layer and recorded samples.

A gate names a metric by dotted name, ``<layer>.<name>``, with an optional
selector on the samples' tags: ``performance.kv_put_ms{f:put}`` or
``performance.kv_put_ms{f:put,node:n1}`` (every pair must match).

Built-in metrics of each layer that ran:

- ``pass_rate``: passed (including flaky, xfailed and xpassed) over tests
  that ran (not skipped); ``0`` for a layer that crashed, timed out, errored
  or collected nothing, whatever its partial results said.
- ``failed`` (failed + error), ``flaky``, ``skipped``, ``passed``, ``tests``.
- ``duration_s``: the layer's wall time.

Recorded metrics (the ``metric`` fixture) appear as ``<layer>.<name>``; a
``coverage.percent`` sample recorded by the runner is one of them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from distlab.results import LayerResult, RunResult

# Layer outcomes that mean "this layer did not produce a trustworthy result".
BROKEN_OUTCOMES = ("error", "timeout", "empty", "crashed")  # "stopped" is partial, not broken

_NAME = r"[A-Za-z_][A-Za-z0-9_\-]*(?:\.[A-Za-z_0-9][A-Za-z0-9_\-]*)*"
_REF = re.compile(rf"\s*(?P<name>{_NAME})\s*(?:\{{(?P<selector>[^{{}}]*)\}})?\s*")
_PAIR = re.compile(r"\s*(?P<key>[A-Za-z_][A-Za-z0-9_\-.]*)\s*[:=]\s*(?P<value>[^,:=]+?)\s*")


@dataclass(frozen=True)
class MetricRef:
    """A metric as a gate names it: dotted name plus tag selector."""

    name: str
    selector: tuple[tuple[str, str], ...] = field(default=())

    @property
    def layer(self) -> str:
        return self.name.split(".", 1)[0]

    def __str__(self) -> str:
        if not self.selector:
            return self.name
        return self.name + "{" + ",".join(f"{k}:{v}" for k, v in self.selector) + "}"


def parse_metric(text: str) -> MetricRef:
    """Parse ``name`` or ``name{tag:value,...}``; ``ValueError`` with a one-line reason."""
    m = _REF.fullmatch(text) if isinstance(text, str) else None
    if m is None or "." not in m.group("name"):
        raise ValueError(
            f"metric {text!r} is not a metric name; write <layer>.<name> with an optional "
            "selector, e.g. 'unit.pass_rate' or 'performance.kv_put_ms{f:put}'"
        )
    pairs: list[tuple[str, str]] = []
    selector = m.group("selector")
    if selector is not None:
        for part in selector.split(","):
            pm = _PAIR.fullmatch(part)
            if pm is None:
                raise ValueError(
                    f"metric {text!r}: selector part {part.strip()!r} must be tag:value, "
                    "e.g. {f:put}"
                )
            pairs.append((pm.group("key"), pm.group("value")))
    return MetricRef(m.group("name"), tuple(pairs))


def builtin_metrics(layer: LayerResult) -> dict[str, float]:
    """The built-in metrics of one layer, unprefixed (``pass_rate``, ``failed``...)."""
    counts = layer.counts()
    ran = len(layer.tests) - counts["skipped"]
    good = counts["passed"] + counts["flaky"] + counts["xfailed"] + counts["xpassed"]
    if layer.outcome in BROKEN_OUTCOMES or ran <= 0:
        # A crash after 10 passing tests is not a 100% pass rate. A layer where
        # everything was skipped proved nothing either, unless it says it passed.
        pass_rate = 1.0 if ran <= 0 and layer.outcome == "passed" and layer.tests else 0.0
    else:
        pass_rate = good / ran
    return {
        "pass_rate": pass_rate,
        "failed": float(counts["failed"] + counts["error"]),
        "flaky": float(counts["flaky"]),
        "skipped": float(counts["skipped"]),
        "passed": float(counts["passed"]),
        "tests": float(len(layer.tests)),
        "duration_s": float(layer.duration_s),
    }


def ran_layers(run: RunResult) -> list[LayerResult]:
    """The layers of a run that were started (not ``not-run``)."""
    return [layer for layer in run.layers if layer.outcome != "not-run"]


def metrics_of(run: RunResult) -> dict[str, list[float]]:
    """Every metric of a run by full name, with all its samples (tags ignored)."""
    found: dict[str, list[float]] = {}
    for layer in ran_layers(run):
        for sample in layer.metrics:
            found.setdefault(f"{layer.layer}.{sample.name}", []).append(float(sample.value))
        # A recorded metric with a built-in's name wins, as in ``select``.
        for name, value in builtin_metrics(layer).items():
            found.setdefault(f"{layer.layer}.{name}", [value])
    return found


@dataclass
class Selection:
    """The samples a metric reference picked out, and what is needed to explain them."""

    ref: MetricRef
    samples: list[float]
    unit: str = ""
    known: bool = True  # the name exists in the run (even if the selector matched nothing)
    tag_values: dict[str, set[str]] = field(default_factory=dict)


def select(run: RunResult, ref: MetricRef) -> Selection:
    """The samples of ``ref`` in ``run`` (built-in or recorded, filtered by tags)."""
    layer = run.layer(ref.layer)
    if layer is None or layer.outcome == "not-run":
        return Selection(ref, [], known=False)
    name = ref.name.split(".", 1)[1]
    builtins = builtin_metrics(layer)
    if name in builtins and not any(m.name == name for m in layer.metrics):
        if ref.selector:
            return Selection(ref, [], known=True)
        unit = "s" if name == "duration_s" else ""
        return Selection(ref, [builtins[name]], unit=unit)
    recorded = [m for m in layer.metrics if m.name == name]
    tag_values: dict[str, set[str]] = {}
    for m in recorded:
        for k, v in m.tags.items():
            tag_values.setdefault(k, set()).add(v)
    wanted = dict(ref.selector)
    chosen = [m for m in recorded if all(m.tags.get(k) == v for k, v in wanted.items())]
    units = {m.unit for m in chosen if m.unit}
    return Selection(
        ref,
        [float(m.value) for m in chosen],
        unit=units.pop() if len(units) == 1 else "",
        known=bool(recorded),
        tag_values=tag_values,
    )
