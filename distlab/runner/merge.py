"""``distlab merge``: the shards of a sharded CI run, judged as one run.

Each shard (``distlab --ci --shard K/N``) leaves a ``summary.json`` with its
tests, metrics and what it was given (distlab.runner.shard). Merging puts
each layer back together from its shards and evaluates the gates once, on
the whole, exactly as an unsharded run would.

A verdict over part of the evidence must not read as a pass: when a shard is
missing, or crashed (the lab broke, or it was stopped), every gate of a layer
that shard had tests of is *not evaluated*, and the release is INCOMPLETE.
Which layers a missing shard had is known without it: every shard records how
many tests each layer collected, and the split gives shard K a share of a
layer exactly when the layer has at least K tests.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from pathlib import Path

from distlab.config.schema import Config
from distlab.errors import UsageError
from distlab.gates import evaluate
from distlab.gates.evaluate import NOT_EVALUATED
from distlab.results import LayerResult, RunResult

# Worst first: the merged layer takes the worst outcome any shard saw.
_OUTCOME_RANK = ("crashed", "timeout", "error", "stopped", "failed", "empty", "passed", "not-run")


@dataclass
class ShardResult:
    """One shard's summary as merged: where it came from and what it says."""

    source: Path
    result: RunResult
    index: int
    total: int
    collected: dict[str, int]
    whole: list[str]

    @property
    def broken(self) -> str:
        """Why this shard's results cannot stand for its share ("" when they can)."""
        if self.result.verdict in ("error", "stopped") or self.result.exit_code not in (0, 1):
            return f"crashed ({self.result.verdict}, exit {self.result.exit_code})" + (
                f": {self.result.reason}" if self.result.reason else ""
            )
        return ""


def load_shard(arg: str) -> ShardResult:
    """A shard's reports: a directory holding ``summary.json``, or the file itself."""
    path = Path(arg)
    summary = path / "summary.json" if path.is_dir() else path
    try:
        data = json.loads(summary.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise UsageError(f"{arg}: no summary.json; give a shard's reports directory") from None
    except (OSError, UnicodeDecodeError, ValueError) as e:
        raise UsageError(f"{summary}: not a readable summary.json ({e})") from None
    try:
        result = RunResult.from_dict(data)
    except (TypeError, ValueError, KeyError) as e:
        raise UsageError(f"{summary}: not a distlab summary ({e})") from None
    shard = result.shard
    if not shard:
        raise UsageError(f"{summary}: not from a sharded run (distlab --ci --shard K/N)")
    try:
        return ShardResult(
            summary,
            result,
            int(shard["index"]),
            int(shard["total"]),
            {str(k): int(v) for k, v in shard.get("collected", {}).items()},
            [str(layer) for layer in shard.get("whole", [])],
        )
    except (KeyError, TypeError, ValueError):
        raise UsageError(f"{summary}: its shard record is damaged: {shard!r}") from None


def merge(config: Config, shards: list[ShardResult], total: int | None = None) -> RunResult:
    """One run from the shards' results, with the gates of ``config`` judged on it."""
    if not shards:
        raise UsageError("distlab merge needs at least one shard's reports directory")
    totals = {s.total for s in shards} | ({total} if total else set())
    if len(totals) != 1:
        raise UsageError(f"the shards disagree on how many there are: {sorted(totals)}")
    (n,) = totals
    seen: dict[int, Path] = {}
    for s in shards:
        if s.index in seen:
            raise UsageError(f"shard {s.index}/{n} given twice: {seen[s.index]} and {s.source}")
        seen[s.index] = s.source
    first = min(shards, key=lambda s: s.index).result
    merged = RunResult(
        seed=first.seed,
        started=min(s.result.started for s in shards),
        finished=max(s.result.finished for s in shards),
        run_dir=", ".join(s.result.run_dir for s in shards),
        config=config.path,
        branch=first.branch,
        layers=_merge_layers(config, shards),
    )
    merged.gates = evaluate(config.gates, merged)
    unjudged = _unjudged_layers(shards, n)
    merged.gates = [
        replace(
            g,
            status="not-evaluated",
            explanation=f"{NOT_EVALUATED}{unjudged[layer]} (it had tests of layer {layer!r})",
        )
        if (layer := g.metric.split(".", 1)[0].split("{", 1)[0]) in unjudged
        and g.status != "not-selected"
        else g
        for g in merged.gates
    ]
    merged.shard = {
        "total": n,
        "merged": sorted(seen),
        "missing": [k for k in range(1, n + 1) if k not in seen],
        "broken": {s.index: s.broken for s in shards if s.broken},
    }
    return merged


def _merge_layers(config: Config, shards: list[ShardResult]) -> list[LayerResult]:
    by_name: dict[str, list[LayerResult]] = {}
    for s in sorted(shards, key=lambda s: s.index):
        for layer in s.result.layers:
            by_name.setdefault(layer.layer, []).append(layer)
    order = {name: i for i, name in enumerate(config.ordered_layers())}
    merged = []
    for name in sorted(by_name, key=lambda n: order.get(n, len(order))):
        parts = by_name[name]
        outcome = min((p.outcome for p in parts), key=_rank)
        reasons = [p.reason for p in parts if p.reason and p.outcome == outcome]
        merged.append(
            LayerResult(
                layer=name,
                outcome=outcome,
                required=any(p.required for p in parts),
                # The shards ran side by side: the layer took as long as its slowest share.
                duration_s=max(p.duration_s for p in parts),
                reason="; ".join(dict.fromkeys(reasons)),
                tests=[t for p in parts for t in p.tests],
                metrics=[m for p in parts for m in p.metrics],
                config_line=parts[0].config_line,
            )
        )
    return merged


def _unjudged_layers(shards: list[ShardResult], n: int) -> dict[str, str]:
    """Layer -> why its gates cannot be judged (a missing or broken shard had its tests)."""
    collected: dict[str, int] = {}
    whole: set[str] = set()
    for s in shards:
        collected.update(s.collected)
        whole.update(s.whole)
    present = {s.index: s for s in shards}
    out: dict[str, str] = {}
    for k in range(1, n + 1):
        shard = present.get(k)
        why = f"shard {k}/{n} is missing" if shard is None else shard.broken
        if not why:
            continue
        if shard is not None:
            why = f"shard {k}/{n} {why}"
        for layer, count in collected.items():
            if count >= k:
                out.setdefault(layer, why)
        if k == 1:
            for layer in whole:
                out.setdefault(layer, why)
    return out


def _rank(outcome: str) -> int:
    return _OUTCOME_RANK.index(outcome) if outcome in _OUTCOME_RANK else 0
