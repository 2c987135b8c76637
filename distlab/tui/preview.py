"""What a run will do, shown before the first one: each layer's collected tests and
the gates, pending.

Collection runs ``pytest --collect-only`` per layer (seconds), so it happens on a
thread after the dashboard is up, and its listing is cached in
``<run_dir>/../collect-cache.json`` keyed by the config file and the modification
times of every file under the layers' paths: an unchanged tree opens at once.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from distlab.config.schema import Config
from distlab.events import Collect, CollectedTest, CollectError, Event, GateResult
from distlab.runner import plan
from distlab.runner.collect import Listing, collect_layers

CACHE_VERSION = 1


def gate_events(config: Config) -> list[Event]:
    """Every configured gate as pending: nothing is judged before a run."""
    return [
        GateResult(
            name=gate.metric,
            metric=gate.metric,
            threshold=" and ".join(gate.conditions),
            status="pending",
            explanation="judged when its layer has run",
        )
        for gate in config.gates
    ]


def collected_events(config: Config) -> list[Event]:
    """One ``Collect`` per layer, from the cache when nothing changed."""
    base = plan.config_dir(config)
    plans = plan.plan_layers(config, plan.select_layers(config, None))
    cache = base / config.project.run_dir / ".." / "collect-cache.json"
    key = _fingerprint(config, base, plans)
    listings = _read_cache(cache, key)
    if listings is None:
        listings = collect_layers(plans, base)
        if not any(listing.problem for listing in listings):
            _write_cache(cache, key, listings)
    return [
        Collect(layer=listing.layer, tests=listing.tests, errors=listing.errors)
        for listing in listings
    ]


def _files(base: Path, plans: list[plan.LayerPlan]) -> Iterator[Path]:
    for layer in plans:
        for target in layer.targets:
            path = (base / target.split("::")[0]).resolve()
            if path.is_file():
                yield path
            elif path.is_dir():
                for root, dirs, names in os.walk(path):
                    dirs[:] = [d for d in dirs if not d.startswith((".", "__pycache__"))]
                    for name in names:
                        if name.endswith((".py", ".ini", ".toml", ".cfg")):
                            yield Path(root) / name


def _fingerprint(config: Config, base: Path, plans: list[plan.LayerPlan]) -> str:
    # mtimes and sizes, not contents: cheap enough to check on every start.
    parts = [f"v{CACHE_VERSION}", str(Path(config.path).resolve())]
    for path in sorted({*_files(base, plans), Path(config.path).resolve()}):
        try:
            st = path.stat()
        except OSError:
            continue
        parts.append(f"{path}:{st.st_mtime_ns}:{st.st_size}")
    return "\n".join(parts)


def _read_cache(cache: Path, key: str) -> list[Listing] | None:
    try:
        data: dict[str, Any] = json.loads(cache.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if data.get("key") != key:
        return None
    return [
        Listing(
            layer=item["layer"],
            tests=tuple(
                CollectedTest(**{**t, "markers": tuple(t["markers"])}) for t in item["tests"]
            ),
            errors=tuple(CollectError(**e) for e in item["errors"]),
        )
        for item in data.get("listings", [])
    ]


def _write_cache(cache: Path, key: str, listings: list[Listing]) -> None:
    try:
        cache.parent.mkdir(parents=True, exist_ok=True)
        tmp = cache.with_suffix(".tmp")
        tmp.write_text(
            json.dumps({"key": key, "listings": [x.to_dict() for x in listings]}), encoding="utf-8"
        )
        tmp.replace(cache)
    except OSError:
        pass  # a cache that cannot be written only costs the next start a collection
