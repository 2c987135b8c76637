"""Sharded CI runs: each of N jobs runs a deterministic share of every layer.

A CI matrix runs ``distlab --ci --shard K/N`` in N jobs; ``distlab merge``
then judges the gates once, over all the shards' results (distlab.runner.merge).

The share is decided from the collected test ids alone, so every job computes
the same split without talking to the others:

- tests are weighed by their duration in the run history (the last passing
  run on the branch), and a test the history does not know weighs the median
  of those it does (1 s when it knows none);
- the heaviest tests are placed first, each on the least loaded shard (ties to
  the lowest index); equal weights therefore deal the tests out round-robin in
  node-id order, which balances by count.

A layer that cannot be collected (an import error) goes whole to shard 1, so
its error is reported once rather than lost.
"""

from __future__ import annotations

import os
import re
import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from distlab.errors import UsageError

if TYPE_CHECKING:
    from distlab.config.schema import Config

MAX_SHARDS = 256
_SHARD = re.compile(r"\s*(\d{1,4})\s*/\s*(\d{1,4})\s*")
DEFAULT_WEIGHT_S = 1.0


@dataclass(frozen=True)
class Shard:
    """Shard ``index`` (1-based) of ``total``."""

    index: int
    total: int

    def __str__(self) -> str:
        return f"{self.index}/{self.total}"


def parse_shard(text: str) -> Shard:
    """``"2/3"`` -> Shard(2, 3); anything else is a one-line UsageError."""
    m = _SHARD.fullmatch(text)
    if m is None:
        raise UsageError(f"--shard must be K/N, e.g. 2/3 (shard 2 of 3), got {text!r}")
    index, total = int(m.group(1)), int(m.group(2))
    if not 1 <= total <= MAX_SHARDS:
        raise UsageError(f"--shard {text}: the number of shards must be 1 to {MAX_SHARDS}")
    if not 1 <= index <= total:
        raise UsageError(f"--shard {text}: the shard must be 1 to {total}")
    return Shard(index, total)


def split(tests: Sequence[str], durations: Mapping[str, float], total: int) -> list[list[str]]:
    """Every shard's tests (index 0 is shard 1), each list in collection order."""
    known = [d for t in tests if (d := durations.get(t)) is not None and d >= 0]
    fallback = statistics.median(known) if known else DEFAULT_WEIGHT_S
    weight = {t: durations.get(t, fallback) for t in tests}
    loads = [0.0] * total
    owner: dict[str, int] = {}
    for test in sorted(tests, key=lambda t: (-weight[t], t)):
        i = min(range(total), key=lambda k: (loads[k], k))
        owner[test] = i
        loads[i] += max(weight[test], 1e-6)  # zero-length tests still spread out
    shares: list[list[str]] = [[] for _ in range(total)]
    for test in tests:
        shares[owner[test]].append(test)
    return shares


@dataclass
class ShardPlan:
    """What one shard runs: the tests of each layer (a layer with none is left out)."""

    shard: Shard
    tests: dict[str, list[str]] = field(default_factory=dict)
    whole: list[str] = field(default_factory=list)  # layers run whole (could not collect)
    collected: dict[str, int] = field(default_factory=dict)  # layer -> tests in all shards
    targets: dict[str, list[str]] = field(default_factory=dict)  # the ids as pytest arguments
    balanced_by: str = "count"  # "durations" when the history knew any test

    def to_dict(self) -> dict[str, Any]:
        """What ``summary.json`` records of the shard, for ``distlab merge``."""
        return {
            "index": self.shard.index,
            "total": self.shard.total,
            "balanced_by": self.balanced_by,
            "collected": dict(self.collected),
            "assigned": {layer: len(ids) for layer, ids in self.tests.items()},
            "whole": list(self.whole),
        }


def plan_shard(
    shard: Shard,
    collected: Mapping[str, Sequence[str] | None],
    durations: Mapping[str, float],
) -> ShardPlan:
    """The shard's tests per layer; ``collected[layer]`` None: the layer did not collect."""
    out = ShardPlan(shard)
    if any(t in durations for ids in collected.values() if ids for t in ids):
        out.balanced_by = "durations"
    for layer, ids in collected.items():
        if ids is None:
            if shard.index == 1:
                out.whole.append(layer)
            continue
        out.collected[layer] = len(ids)
        mine = split(list(ids), durations, shard.total)[shard.index - 1]
        if mine:
            out.tests[layer] = mine
    return out


def plan_shard_of(config: Config, base: Path, layers: list[str], shard: Shard) -> ShardPlan:
    """Collect ``layers`` of ``config`` and work out what ``shard`` runs of them."""
    from distlab.runner import collect, outputs, plan

    plans = plan.plan_layers(config, layers)
    listings = collect.collect_layers(plans, base, workers=2)
    collected: dict[str, list[str] | None] = {
        listing.layer: None
        if listing.errors or listing.problem
        else [t.nodeid for t in listing.tests]
        for listing in listings
    }
    baseline = outputs.last_passing(base / config.project.run_dir, outputs.current_branch(base))
    durations = (
        {t.nodeid: t.duration_s for layer in baseline.layers for t in layer.tests}
        if baseline is not None
        else {}
    )
    out = plan_shard(shard, collected, durations)
    # Node ids are relative to pytest's rootdir, which need not be the config's directory.
    roots = {listing.layer: listing.rootdir for listing in listings}
    out.targets = {
        layer: [os.path.join(roots[layer], t) if roots[layer] else t for t in ids]
        for layer, ids in out.tests.items()
    }
    return out


def shard_reports(config: Config, shard: Shard) -> Path:
    """A shard's own reports directory: ``<reports_dir>/shard-K-of-N``."""
    from distlab.runner import plan

    base = plan.config_dir(config) / config.project.reports_dir
    return base / f"shard-{shard.index}-of-{shard.total}"
