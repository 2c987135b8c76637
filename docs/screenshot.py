"""Export the dashboard as an SVG, drawn by Textual from a real run's events.

    .venv/bin/python docs/screenshot.py examples/js-kv/.distlab/runs/<run> docs/dashboard.svg

The run is replayed into the dashboard headless (Textual's ``run_test``), the
first failed test is selected so its counterexample shows, and Textual's own
``save_screenshot`` writes the SVG the README shows.
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

from distlab.tui.app import DistlabApp
from distlab.tui.backend import ReplayBackend

# The dashboard tests' Pilot helpers: wait until every event is drawn, select a test.
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from tui_helpers import select_test, settle

SIZE = (140, 40)


async def export(run_dir: Path, out: Path) -> None:
    app = DistlabApp(ReplayBackend(run_dir / "events.jsonl"), title="examples/js-kv --naive")
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot, timeout_s=60)
        failures = app.state.failures()
        if failures:
            await select_test(app, pilot, failures[0].nodeid)
            await settle(app, pilot, timeout_s=60)
        app.save_screenshot(filename=out.name, path=str(out.parent))


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print(__doc__.strip().splitlines()[2].strip(), file=sys.stderr)
        return 2
    run_dir, out = Path(argv[0]), Path(argv[1])
    if not (run_dir / "events.jsonl").is_file():
        print(f"screenshot: {run_dir} has no events.jsonl; give a run directory", file=sys.stderr)
        return 2
    asyncio.run(export(run_dir, out))
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
