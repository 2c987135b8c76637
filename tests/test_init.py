"""`distlab init`: the scaffold runs green against a real (echo) cluster, never
clobbers a file without --force, prompts on a terminal, and turns every bad
answer into one line and exit 2."""

from __future__ import annotations

import builtins
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from distlab.cli.main import main

ECHO_NODE = Path(__file__).with_name("echo_node.py")
ECHO_COMMAND = f"{{python}} {ECHO_NODE} --id {{id}} --port {{port}} --peer-port {{peer_port}} --peers {{peers}}"
DISTLAB = Path(sys.executable).with_name("distlab")
SCAFFOLD = {
    "config.toml",
    "conftest.py",
    "client.py",
    "pytest.ini",
    "suites/unit/test_config.py",
    "suites/concurrency/test_connections.py",
    "suites/distributed/test_partition.py",
    "suites/chaos/test_crash.py",
    "suites/performance/test_restart.py",
}


def exit_code(argv: list[str]) -> int:
    """``distlab ARGV``'s exit code, whether argparse or the command decided it."""
    try:
        return main(argv)
    except SystemExit as e:
        return int(e.code or 0)


def init(tmp_path: Path, *flags: str) -> int:
    return exit_code(["init", str(tmp_path), "--command", ECHO_COMMAND, "--yes", *flags])


def files_under(root: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*") if p.is_file()}


def test_the_scaffold_passes_distlab_ci_against_the_echo_node(tmp_path: Path) -> None:
    assert init(tmp_path) == 0
    assert files_under(tmp_path) == SCAFFOLD
    env = {k: v for k, v in os.environ.items() if not k.startswith("DISTLAB_")}
    done = subprocess.run(
        [str(DISTLAB), "--ci", "--seed", "11"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stdout[-5000:] + done.stderr[-2000:]
    summary = json.loads((tmp_path / "reports" / "summary.json").read_text())
    layers = {layer["layer"]: layer for layer in summary["layers"]}
    assert set(layers) == {"unit", "concurrency", "distributed", "chaos", "performance"}
    assert all(layer["outcome"] == "passed" for layer in layers.values()), layers
    # The tests that need the user's client wait for it, and say so.
    assert "client.py is a stub" in done.stdout + json.dumps(summary)
    assert "performance.node_restart_ms" in done.stdout


def test_the_client_tests_fail_naming_each_method_still_a_stub(tmp_path: Path) -> None:
    assert init(tmp_path) == 0
    client = tmp_path / "client.py"
    text = client.read_text()
    # The user wrote read and write but not cas yet.
    text = text.replace("    @stub\n    def read", "    def read", 1)
    text = text.replace("    @stub\n    def write", "    def write", 1)
    client.write_text(text)
    done = subprocess.run(
        [sys.executable, "-c", "import client; print(client.stubs())"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.stdout.strip() == "['cas']", done.stderr


def test_it_refuses_to_overwrite_naming_every_file_and_force_overwrites(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "config.toml").write_text("# mine\n")
    (tmp_path / "client.py").write_text("# mine\n")
    assert init(tmp_path) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1, err
    assert "would overwrite config.toml, client.py" in err and "--force" in err
    assert (tmp_path / "config.toml").read_text() == "# mine\n"
    assert not (tmp_path / "conftest.py").exists(), (
        "nothing is written when anything would be clobbered"
    )
    assert init(tmp_path, "--force") == 0
    assert "[cluster]" in (tmp_path / "config.toml").read_text()
    assert files_under(tmp_path) == SCAFFOLD


def test_an_existing_pytest_configuration_is_left_alone(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text('[tool.pytest.ini_options]\naddopts = "-q"\n')
    assert init(tmp_path) == 0
    assert not (tmp_path / "pytest.ini").exists()


@pytest.mark.parametrize(
    ("flags", "says"),
    [
        (["--nodes", "five"], "--nodes: must be a whole number from 1 to 64, got 'five'"),
        (["--nodes", "0"], "--nodes: must be from 1 to 64, got 0"),
        (["--health", "udp"], "--health 'udp' is not one of tcp, http:/PATH, command:CMD or none"),
        (["--health", "http:health"], "the path must start with /"),
        (["--wiring", "star"], "argument --wiring: invalid choice: 'star'"),
        (["--wiring", "ingress"], "--wiring ingress needs --identify REGEX"),
        (["--wiring", "ingress", "--identify", "HELLO \\S+"], "needs a group for the node's id"),
        (["--wiring", "ingress", "--identify", "(("], "is not a regex"),
        (["--bogus"], "unrecognized arguments: --bogus"),
    ],
)
def test_a_bad_flag_is_one_line_and_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], flags: list[str], says: str
) -> None:
    assert init(tmp_path, *flags) == 2
    err = capsys.readouterr().err
    assert says in err, err
    assert err.startswith("distlab: error: ") and err.count("\n") == 1, err
    assert not any(tmp_path.iterdir()), "a bad answer writes nothing"


def test_a_command_without_port_or_no_command_at_all_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert exit_code(["init", str(tmp_path), "--yes"]) == 2
    assert "--command is required" in capsys.readouterr().err
    assert exit_code(["init", str(tmp_path), "--yes", "--command", "./node --id {id}"]) == 2
    assert "has no {port}" in capsys.readouterr().err


def test_a_bad_placeholder_is_caught_by_the_config_loader_before_writing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert (
        exit_code(["init", str(tmp_path), "--yes", "--command", "./node --port {port} {bogus}"])
        == 2
    )
    err = capsys.readouterr().err
    assert "bogus" in err and str(tmp_path / "config.toml") in err, err
    assert not any(tmp_path.iterdir())


def test_on_a_terminal_it_asks_for_what_no_flag_gave(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    answers = iter([ECHO_COMMAND, "demo", "5", "http:/status", "per-link"])
    asked: list[str] = []

    def fake_input(prompt: str) -> str:
        asked.append(prompt)
        return next(answers)

    monkeypatch.setattr(sys.stdin, "isatty", lambda: True)
    monkeypatch.setattr(sys.stdout, "isatty", lambda: True)
    monkeypatch.setattr(builtins, "input", fake_input)
    assert main(["init", str(tmp_path)]) == 0
    assert len(asked) == 5 and asked[0].startswith("Node command")
    config = (tmp_path / "config.toml").read_text()
    assert 'name = "demo"' in config and "nodes = 5" in config
    assert 'health_check = "http"' in config and 'health_path = "/status"' in config


def test_the_scaffold_is_clean_python_under_ruff_defaults(tmp_path: Path) -> None:
    # Users copy from these files first; they should not start with lint to fix.
    assert init(tmp_path, "--name", "a-system-with-a-rather-long-name") == 0
    ruff = str(Path(sys.executable).with_name("ruff"))
    for args in (["check", "--isolated", "."], ["format", "--isolated", "--check", "."]):
        done = subprocess.run(
            [ruff, *args], cwd=tmp_path, capture_output=True, text=True, timeout=60
        )
        assert done.returncode == 0, done.stdout + done.stderr


def test_on_a_terminal_a_bad_answer_is_asked_again_then_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(sys.stdin, "isatty", lambda: True)
    monkeypatch.setattr(sys.stdout, "isatty", lambda: True)
    answers = iter([ECHO_COMMAND, "demo", "seven", "3", "udp", "tcp", "star", "per-link"])
    monkeypatch.setattr(builtins, "input", lambda prompt: next(answers))
    assert main(["init", str(tmp_path / "ok")]) == 0
    out = capsys.readouterr().out
    assert "got 'seven'; try again" in out and "'udp' is not one of" in out, out
    assert "wiring must be one of per-link, ingress, got 'star'; try again" in out, out
    assert "nodes = 3" in (tmp_path / "ok" / "config.toml").read_text()
    # Three bad answers in a row: the reason, one line, exit 2, nothing written.
    answers = iter([ECHO_COMMAND, "demo", "0", "x", "-1"])
    monkeypatch.setattr(builtins, "input", lambda prompt: next(answers))
    assert main(["init", str(tmp_path / "no")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("distlab: error: nodes must be") and err.count("\n") == 1, err
    assert not (tmp_path / "no").exists()
