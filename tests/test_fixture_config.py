"""One config loader for every fixture: DISTLAB_CONFIG, else config.toml in the
rootdir, else the defaults; a DISTLAB_CONFIG naming a missing file is one line."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from distlab.config.schema import Config
from distlab.env import CONFIG_ENV, RUN_DIR_ENV, SEED_ENV
from distlab.errors import ConfigError
from distlab.fixtures.config import run_config

CLUSTER_CONFIG = '[cluster]\nnodes = 5\n[postgres]\ndsn = "postgresql://u@127.0.0.1:1/x"\n'


def test_the_named_file_wins(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    named = tmp_path / "elsewhere.toml"
    named.write_text(CLUSTER_CONFIG)
    (tmp_path / "config.toml").write_text("[cluster]\nnodes = 2\n")
    monkeypatch.setenv(CONFIG_ENV, str(named))
    config = run_config(tmp_path)
    assert config.cluster.nodes == 5
    assert config.postgres.dsn.endswith("/x")


def test_without_the_variable_the_rootdir_config_else_defaults(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(CONFIG_ENV, raising=False)
    assert run_config(tmp_path) == Config()
    (tmp_path / "config.toml").write_text(CLUSTER_CONFIG)
    assert run_config(tmp_path).cluster.nodes == 5


@pytest.mark.parametrize("what", ["missing", "directory"])
def test_a_named_missing_file_is_one_line_naming_it(
    what: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Never the defaults: a run aimed at one config must not quietly test another.
    (tmp_path / "config.toml").write_text(CLUSTER_CONFIG)
    named = tmp_path / "gone.toml"
    if what == "directory":
        named.mkdir()
    monkeypatch.setenv(CONFIG_ENV, str(named))
    with pytest.raises(ConfigError) as raised:
        run_config(tmp_path)
    message = raised.value.message
    reason = "is a directory" if what == "directory" else "no such file"
    assert message == f"{CONFIG_ENV}={named}: {reason}; point it at a config.toml or unset it"


TESTS = """
def test_cluster(cluster_settings):
    pass

def test_network(cluster_network):
    pass

def test_pg(pg):
    pass

def test_scenario(scenario):
    scenario("progressive_node_failures", None, lambda i: None)
"""


def test_every_fixture_fails_the_same_one_line_way(tmp_path: Path) -> None:
    """The cluster, pg and scenario fixtures all meet a missing DISTLAB_CONFIG with
    the same line and no traceback (pg used to fall back to the defaults)."""
    (tmp_path / "test_uses_config.py").write_text(TESTS)
    missing = tmp_path / "missing.toml"
    env = {k: v for k, v in os.environ.items() if not k.startswith("DISTLAB_")}
    env.update({CONFIG_ENV: str(missing), SEED_ENV: "5"})
    env.update({RUN_DIR_ENV: str(tmp_path / "run"), "COLUMNS": "400"})
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-rfE", "-q", str(tmp_path)],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
        timeout=120,
    )
    out = proc.stdout + proc.stderr
    assert proc.returncode == 1, out
    line = f"{CONFIG_ENV}={missing}: no such file; point it at a config.toml or unset it"
    summary = [s for s in out.splitlines() if s.startswith(("ERROR ", "FAILED "))]
    assert len(summary) == 4, out
    assert all(s.endswith(line) for s in summary), out
    assert "Traceback" not in out and "during handling" not in out, out
    assert "distlab/config" not in out and "distlab/fixtures" not in out, out
