"""Collect a layer's tests without running them (for `distlab list` and the TUI)."""

from __future__ import annotations

import os
import re
import tempfile
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from distlab import events
from distlab.env import EVENTS_ENV, LAYER_ENV
from distlab.events import read_events
from distlab.runner.layer import LayerPlan
from distlab.runner.pytest_process import run_pytest

# Collection should take seconds; this bounds a conftest that hangs.
COLLECT_TIMEOUT_S = 120.0


@dataclass
class Listing:
    """What one layer collects: tests ({nodeid, file, line, markers}) and collection errors."""

    layer: str
    tests: tuple[events.CollectedTest, ...] = ()
    errors: tuple[events.CollectError, ...] = ()
    problem: str = ""  # pytest itself failed (timeout, crash, bad arguments)
    rootdir: str = ""  # pytest's rootdir: the node ids are relative to it

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def collect_layers(plans: list[LayerPlan], cwd: Path, workers: int = 2) -> list[Listing]:
    """Collect several layers, ``workers`` at a time, in the order given."""
    with ThreadPoolExecutor(max_workers=max(1, workers), thread_name_prefix="collect") as pool:
        return list(pool.map(lambda p: collect_layer(p, cwd), plans))


def collect_layer(plan: LayerPlan, cwd: Path) -> Listing:
    """Run ``pytest --collect-only`` for one layer and read its ``collect`` event."""
    listing = Listing(layer=plan.name)
    with tempfile.TemporaryDirectory(prefix="distlab-collect-") as tmp:
        feed = Path(tmp) / "events.jsonl"
        log = Path(tmp) / "pytest.log"
        env = dict(os.environ)
        env.update({EVENTS_ENV: f"file:{feed}", LAYER_ENV: plan.name})
        args = ["--collect-only", "-q", "-p", "no:cacheprovider", "--color=no"]
        if plan.settings.markers:
            args += ["-m", plan.settings.markers]
        args += [*plan.settings.args, *plan.targets]
        exit_ = run_pytest(
            args,
            env=env,
            cwd=cwd,
            log_path=log,
            timeout_s=min(plan.settings.timeout_s, COLLECT_TIMEOUT_S),
            stop=threading.Event(),
        )
        found = (
            [e for e in read_events(feed) if isinstance(e, events.Collect)] if feed.exists() else []
        )
        if found:
            listing.tests = found[-1].tests
            listing.rootdir = found[-1].rootdir
            listing.errors = tuple(
                events.CollectError(nodeid=e.nodeid, message=_last_line(e.message))
                for e in found[-1].errors
            )
        if exit_.timed_out:
            listing.problem = f"collection timed out after {COLLECT_TIMEOUT_S:g}s"
        elif exit_.returncode not in (0, 2, 5) or not found:
            tail = _last_line(log.read_text(encoding="utf-8", errors="replace"))
            listing.problem = f"pytest could not collect ({exit_.describe()}): {tail}"
    return listing


def _last_line(text: str) -> str:
    lines = [line.strip() for line in str(text).strip().splitlines() if line.strip()]
    return re.sub(r"^E\s+", "", lines[-1]) if lines else ""
