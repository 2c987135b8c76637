"""Bad input is one line and an exit code, never a traceback (issue 14 item 8).

Property tests in the manner of test_config.py's mutated configs, for the other
inputs a user hands distlab: event files (``replay``, and the dashboard's state
that replays them), the run history database, and command-line flags; plus the
cases that once gave a traceback, each named. Every example that raises
anything but distlab's own one-line errors fails the test, so the count of
tracebacks found is the count of failures: 0.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import sqlite3
import subprocess
import zlib
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from distlab.cli.main import main
from distlab.errors import DistlabError
from distlab.events import read_events
from distlab.report import history as history_module
from distlab.report.history import RunHistory
from distlab.tui.state import LabState

DATA = Path(__file__).parent / "data"
EVENT_LINES = [
    line
    for name in ("events_finished.jsonl", "events_partitioned.jsonl")
    for line in (DATA / name).read_text(encoding="utf-8").splitlines()
    if line.strip()
]

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats()
    | st.text(max_size=12),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3)
    ),
    max_leaves=6,
)


def _one_line_error(err: str) -> None:
    assert "Traceback" not in err, err
    lines = [line for line in err.splitlines() if line.startswith("distlab: error")]
    assert len(lines) <= 1, err


# -- event files ---------------------------------------------------------------


@st.composite
def mutated_event_files(draw: st.DrawFn) -> str:
    """A real event stream with some fields given values of other types (or removed)."""
    picked = draw(st.lists(st.sampled_from(EVENT_LINES), min_size=1, max_size=25))
    lines = [json.loads(line) for line in picked]
    for _ in range(draw(st.integers(min_value=1, max_value=6))):
        obj = lines[draw(st.integers(min_value=0, max_value=len(lines) - 1))]
        key = draw(st.sampled_from(sorted(obj)))
        if draw(st.integers(0, 9)) == 0:
            del obj[key]
        else:
            obj[key] = draw(json_values)
    return "\n".join(json.dumps(o) for o in lines) + "\n"


@settings(
    max_examples=300,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(text=mutated_event_files())
def test_replay_of_mistyped_events_is_never_a_traceback(
    text: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "events.jsonl"
    path.write_text(text, encoding="utf-8")
    code = main(["replay", "--plain", str(path)])
    err = capsys.readouterr().err
    assert code in (0, 2), err
    _one_line_error(err)
    # The dashboard replays the same file into its state: no field may crash it.
    state = LabState()
    for event in read_events(path):
        state.apply(event)


# -- the run history database ---------------------------------------------------

_GOOD_ROW: dict[str, Any] = {
    "started": 1795000000.0,
    "finished": 1795000060.0,
    "duration_s": 60.0,
    "seed": 7,
    "branch": "main",
    "verdict": "pass",
    "exit_code": 0,
    "run_dir": ".distlab/runs/x",
    "layers": '["unit"]',
    "gates_failed": 0,
    "summary": zlib.compress(b'{"seed": 7, "layers": [], "gates": []}'),
}

sqlite_values = st.one_of(
    st.none(),
    st.integers(min_value=-(2**63), max_value=2**63 - 1),
    st.floats(),
    st.text(max_size=12),
    st.binary(max_size=12),
    st.sampled_from(["[1, 2]", "{}", "null", '["unit", 3]', "1e999"]),
    json_values.map(lambda v: zlib.compress(json.dumps(v).encode())),
)


def _history(path: Path, rows: list[dict[str, Any]]) -> None:
    """distlab's own table, as another tool might write it: without NOT NULL."""
    with sqlite3.connect(path) as db:
        db.executescript(history_module._SCHEMA.replace("NOT NULL", ""))
        db.execute(f"PRAGMA user_version = {history_module.SCHEMA_VERSION}")
        for row in rows:
            db.execute(
                f"INSERT INTO runs ({', '.join(row)}) VALUES ({', '.join('?' * len(row))})",
                tuple(row.values()),
            )


@settings(
    max_examples=120,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(
    changes=st.dictionaries(
        st.sampled_from(sorted(_GOOD_ROW)), sqlite_values, min_size=1, max_size=4
    )
)
def test_a_history_with_mistyped_columns_is_one_line(
    changes: dict[str, Any], tmp_path_factory: pytest.TempPathFactory
) -> None:
    path = tmp_path_factory.mktemp("history") / "history.sqlite"
    _history(path, [_GOOD_ROW, {**_GOOD_ROW, **changes}])
    history = RunHistory(path)
    for read in (
        lambda: history.recent(5),
        lambda: history.last_passing("main"),
        lambda: history.get(2),
    ):
        try:
            read()
        except DistlabError as e:
            assert "\n" not in e.message
    # ...and `distlab history`, which prints the rows as a table.
    config = path.parent / "config.toml"
    config.write_text('[project]\nrun_dir = "runs"\n')
    with (
        contextlib.redirect_stdout(io.StringIO()),
        contextlib.redirect_stderr(io.StringIO()) as err,
    ):
        code = main(["history", "--config", str(config)])
    assert code in (0, 2), err.getvalue()
    _one_line_error(err.getvalue())


def test_distlab_history_with_text_in_a_number_column(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _history(tmp_path / "history.sqlite", [{**_GOOD_ROW, "started": "yesterday"}])
    (tmp_path / "config.toml").write_text('[project]\nrun_dir = "runs"\n')
    code = main(["history", "--config", str(tmp_path / "config.toml")])
    err = capsys.readouterr().err
    assert code == 2
    assert err.strip() == (
        "distlab: error: the run history's run 1 has started = 'yesterday', "
        "not int or float; move the history aside"
    )


# -- flags -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("argv", "text"),
    [
        (["check", "--model", "subprocess:Popen", "x.jsonl"], "is not a distlab.checkers.Model"),
        (["check", "--model", "os:system", "x.jsonl"], "is not a distlab.checkers.Model"),
        (["cluster", "up", "--base-port", "70000"], "--base-port must be from 1024 to 65000"),
        (["cluster", "up", "--for", "-1"], "--for must be a number of seconds above 0, got -1"),
        (["cluster", "up", "--for", "nan"], "--for must be a number of seconds above 0, got nan"),
    ],
)
def test_bad_flags_are_usage_errors(
    argv: list[str], text: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(argv)
    err = capsys.readouterr().err
    assert code == 2, err
    assert err.count("\n") == 1 and text in err, err


# -- a full disk -------------------------------------------------------------------


def test_a_run_dir_on_a_full_disk_is_exit_3_with_the_reason(tmp_path: Path) -> None:
    """A real full filesystem (a 64 KiB tmpfs), not a mocked write."""
    if os.geteuid() != 0:
        pytest.skip("mounting a small tmpfs needs root")
    from tests.test_ci import distlab, write_config

    disk = tmp_path / "disk"
    disk.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(disk)], capture_output=True
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.decode().strip()}")
    try:
        config = write_config(tmp_path, {"unit": {"suite": "suites_pass"}})
        text = config.read_text().replace('run_dir = "runs"', f'run_dir = "{disk}/runs"')
        config.write_text(text)
        (disk / "filler").write_bytes(b"x" * 60 * 1024)
        done = distlab(tmp_path, "--ci", "--config", str(config), "--seed", "3")
    finally:
        subprocess.run(["umount", "-l", str(disk)], check=False)
    assert done.returncode == 3, done.stdout[-2000:] + done.stderr[-2000:]
    assert "Traceback" not in done.stdout + done.stderr
    assert "No space left on device" in done.stderr
