"""The dashboard commands at the edge: no terminal, flags that do not fit, what a
dashboard run writes. Real processes on pipes and pseudo-terminals."""

from __future__ import annotations

import json
import subprocess
import textwrap
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from test_tui_live import DISTLAB, ROOT, Terminal


@pytest.fixture
def terminal() -> Iterator[Callable[..., Terminal]]:
    made: list[Terminal] = []

    def start(argv: list[str], cwd: Path = ROOT) -> Terminal:
        made.append(Terminal(argv, cwd))
        return made[-1]

    yield start
    for t in made:
        t.close()


def two_layer_project(root: Path) -> Path:
    for layer in ("unit", "concurrency"):
        (root / layer).mkdir()
        (root / layer / f"test_{layer}.py").write_text(f"def test_{layer}():\n    pass\n")
    (root / "config.toml").write_text(
        textwrap.dedent(
            """\
            [project]
            name = "tui-cli"
            [suites.unit]
            paths = ["unit"]
            [suites.concurrency]
            paths = ["concurrency"]
            """
        )
    )
    return root / "config.toml"


def on_a_pipe(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*DISTLAB, *args],
        cwd=cwd,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_no_terminal_is_a_one_line_hint_to_use_ci_and_exit_2(tmp_path: Path) -> None:
    config = two_layer_project(tmp_path)
    done = on_a_pipe("--config", str(config))
    assert done.returncode == 2
    assert done.stdout == ""  # no escape codes in the pipe
    assert done.stderr.count("\n") == 1 and "--ci" in done.stderr, done.stderr
    assert not (tmp_path / ".distlab").exists()  # nothing started, nothing written


def lab_config(root: Path) -> Path:
    """The shipped config with its runs under ``root``."""
    config = root / "config.toml"
    text = (ROOT / "config.toml").read_text()
    config.write_text(text.replace('run_dir = ".distlab/runs"', f'run_dir = "{root / "runs"}"'))
    return config


def test_lab_without_a_terminal_fails_before_anything_starts(tmp_path: Path) -> None:
    done = on_a_pipe("lab", "--config", str(lab_config(tmp_path)))
    assert done.returncode == 2
    assert done.stderr.count("\n") == 1 and "terminal" in done.stderr, done.stderr
    assert not (tmp_path / "runs").exists()


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--nodes", "0"], b"--nodes must be a whole number from 1 to 64, got 0"),
        (["--clients", "0"], b"--clients must be at least 1"),
        (["--rate", "-1"], b"--rate must be at least 0.1"),
        (["--client", "nosuch_module_x:adapter"], b"nosuch_module_x"),
        (["--nodes", "three"], b"invalid int value"),
    ],
)
def test_bad_lab_flags_fail_before_the_app_opens(
    terminal: Callable[..., Terminal], tmp_path: Path, flags: list[str], message: bytes
) -> None:
    t = terminal([*DISTLAB, "lab", "--config", str(lab_config(tmp_path)), *flags], cwd=tmp_path)
    t.wait_for(lambda: t.proc.poll() is not None, 30, "exit")
    assert t.proc.returncode == 2
    t.read()
    assert message in t.output, t.output
    assert b"\x1b[?1049h" not in t.output and b"session saved" not in t.output
    assert not (tmp_path / "runs").exists()


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--junit-xml", "x.xml"], b"--junit-xml is for --ci runs"),
        (["-q"], b"-q/--quiet is for --ci runs"),
    ],
)
def test_ci_only_flags_without_ci_are_refused_in_one_line(
    terminal: Callable[..., Terminal], tmp_path: Path, flags: list[str], message: bytes
) -> None:
    config = two_layer_project(tmp_path)
    t = terminal([*DISTLAB, "--config", str(config), *flags], cwd=tmp_path)
    t.wait_for(lambda: t.proc.poll() is not None, 30, "exit")
    assert t.proc.returncode == 2
    t.read()
    assert message in t.output
    assert b"\x1b[?1049h" not in t.output  # the app never took the screen


def test_bad_layers_without_ci_fail_before_the_app_opens(
    terminal: Callable[..., Terminal], tmp_path: Path
) -> None:
    config = two_layer_project(tmp_path)
    t = terminal([*DISTLAB, "--config", str(config), "--layers", "chaos"], cwd=tmp_path)
    t.wait_for(lambda: t.proc.poll() is not None, 30, "exit")
    assert t.proc.returncode == 2
    t.read()
    assert b"--layers: 'chaos'" in t.output and b"\x1b[?1049h" not in t.output


def test_layers_without_ci_are_what_a_runs(
    terminal: Callable[..., Terminal], tmp_path: Path
) -> None:
    config = two_layer_project(tmp_path)
    t = terminal([*DISTLAB, "--config", str(config), "--layers", "concurrency"], cwd=tmp_path)
    t.wait_for(lambda: t.saw("Run all"), 30, "the footer")
    t.send("a")
    runs = tmp_path / ".distlab" / "runs"

    def run_ended() -> bool:
        return any('"run.end"' in f.read_text() for f in runs.glob("*/events.jsonl"))

    t.wait_for(run_ended, 90, "the run's end in its events file")
    t.send("q")
    t.wait_for(lambda: t.proc.poll() is not None, 30, "exit")
    (events,) = runs.glob("*/events.jsonl")
    starts = [json.loads(line) for line in events.read_text().splitlines() if '"run.start"' in line]
    assert [s["layers"] for s in starts] == [["concurrency"]]
