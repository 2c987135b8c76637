"""Before the first run the dashboard shows what will run: collected tests (cached by
file mtimes) and the gates, pending (issue 19 item 1)."""

from __future__ import annotations

import os
import textwrap
from pathlib import Path

import pytest
from tui_helpers import pilot_test

from distlab.config.loader import load
from distlab.events import Collect
from distlab.tui import preview
from distlab.tui.app import DistlabApp
from distlab.tui.backend import RunBackend


def project(root: Path) -> Path:
    (root / "t").mkdir()
    (root / "t" / "test_a.py").write_text(
        "def test_one():\n    pass\n\ndef test_two():\n    pass\n"
    )
    (root / "config.toml").write_text(
        textwrap.dedent(
            """\
            [project]
            name = "preview"
            [suites.unit]
            paths = ["t"]
            [gates]
            "unit.pass_rate" = "== 1"
            """
        )
    )
    return root / "config.toml"


def test_collected_tests_are_cached_until_a_file_changes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = load(str(project(tmp_path)))
    (first,) = preview.collected_events(config)
    assert isinstance(first, Collect)
    assert [t.nodeid.split("::")[-1] for t in first.tests] == ["test_one", "test_two"]
    assert (tmp_path / ".distlab" / "collect-cache.json").is_file()

    calls: list[object] = []
    real = preview.collect_layers

    def counting(*args: object, **kwargs: object) -> object:
        calls.append(args)
        return real(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(preview, "collect_layers", counting)
    (again,) = preview.collected_events(config)
    assert again.tests == first.tests and calls == []  # nothing changed: from the cache

    test_file = tmp_path / "t" / "test_a.py"
    test_file.write_text(test_file.read_text() + "\ndef test_three():\n    pass\n")
    st = test_file.stat()
    os.utime(test_file, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000_000))
    (changed,) = preview.collected_events(config)
    assert len(calls) == 1 and len(changed.tests) == 3


@pilot_test
async def test_before_the_first_run_the_dashboard_shows_tests_and_pending_gates(
    tmp_path: Path,
) -> None:
    import asyncio
    import time

    app = DistlabApp(RunBackend(load(str(project(tmp_path)))))
    async with app.run_test(size=(80, 24)) as pilot:
        deadline = time.monotonic() + 120
        while len(app.state.tests) < 2:
            assert time.monotonic() < deadline, "no tests listed before the first run"
            await asyncio.sleep(0.05)
        app.flush_now()
        await pilot.pause()
        assert app.state.counts()["pending"] == 2
        assert [g.status for g in app.state.gates.values()] == ["pending"]
        assert app.state.overall_verdict() is None  # pending is not a pass
