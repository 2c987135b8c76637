"""The SQLite run history: baselines per branch, recent runs, branch detection, the CLI."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from gate_runs import latencies, layer, run

from distlab.cli.main import main
from distlab.config.schema import GateSpec
from distlab.errors import UsageError
from distlab.gates import evaluate
from distlab.report.branch import CI_BRANCH_VARS, detect_branch
from distlab.report.history import RunHistory, history_path


@pytest.fixture(autouse=True)
def _no_ci_branch(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in CI_BRANCH_VARS:
        monkeypatch.delenv(var, raising=False)


def perf_run(scale: float, *, seed: int, started: float, branch: str = "main", verdict="pass"):
    perf = layer("performance", {"passed": 2}, duration_s=10.0 * scale)
    perf.metrics = latencies([scale * x for x in (5.0, 6.0, 7.0, 20.0)])
    r = run(perf, seed=seed, branch=branch, started=started)
    r.verdict = verdict
    return r


def test_last_passing_run_on_the_same_branch_is_the_baseline(tmp_path: Path) -> None:
    history = RunHistory(tmp_path / ".distlab" / "history.sqlite")
    assert history.last_passing("main") is None
    first = perf_run(1.0, seed=1, started=100.0)
    history.record(first)
    history.record(perf_run(0.5, seed=2, started=200.0, verdict="fail"))
    history.record(perf_run(0.7, seed=3, started=300.0, branch="feature/x"))
    baseline = history.last_passing("main")
    assert baseline is not None and baseline.to_dict() == first.to_dict()
    assert history.last_passing("feature/x").seed == 3
    assert history.last_passing("nope") is None


def test_a_2x_slowdown_fails_the_baseline_gate_through_the_history(tmp_path: Path) -> None:
    history = RunHistory(tmp_path / "history.sqlite")
    gates = [
        GateSpec("performance.duration_s", ["<= baseline * 1.10"]),
        GateSpec("performance.kv_put_ms", ["p(95) <= baseline * 1.10", "avg <= 100"]),
    ]
    history.record(perf_run(1.0, seed=1, started=100.0))
    steady = evaluate(gates, perf_run(1.02, seed=2, started=200.0), history.last_passing("main"))
    assert all(v.passed for v in steady)
    slow = evaluate(gates, perf_run(2.0, seed=3, started=300.0), history.last_passing("main"))
    assert [v.passed for v in slow] == [False, False, True]
    assert "baseline 10" in slow[0].threshold


def test_recent_lists_newest_first(tmp_path: Path) -> None:
    history = RunHistory(tmp_path / "history.sqlite")
    for i in range(5):
        history.record(perf_run(1.0, seed=i, started=100.0 + i, branch="main" if i % 2 else "dev"))
    records = history.recent(3)
    assert [r.seed for r in records] == [4, 3, 2]
    assert records[0].layers == ["performance"] and records[0].duration_s == 5.0
    assert [r.seed for r in history.recent(10, branch="main")] == [3, 1]
    assert history.get(records[0].id).seed == 4


def test_a_run_without_a_branch_gets_the_detected_one(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("DISTLAB_BRANCH", "release-1")
    history = RunHistory(tmp_path / "history.sqlite")
    history.record(perf_run(1.0, seed=9, started=1.0, branch=""))
    assert history.recent(1)[0].branch == "release-1"
    # A caller that does not know its branch finds the baseline the same way.
    assert history.last_passing("").seed == 9


def test_a_corrupt_history_is_a_one_line_error(tmp_path: Path) -> None:
    path = tmp_path / "history.sqlite"
    path.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(UsageError) as e:
        RunHistory(path).recent()
    assert str(path) in e.value.message and "\n" not in e.value.message


def test_branch_from_git_from_head_file_and_from_ci(tmp_path: Path, monkeypatch) -> None:
    repo = tmp_path / "repo"
    repo.mkdir()
    subprocess.run(["git", "init", "-q", "-b", "feature/gates", str(repo)], check=True)
    (repo / "sub").mkdir()
    assert detect_branch(repo / "sub") == "feature/gates"
    monkeypatch.setenv("PATH", "")  # no git binary: read .git/HEAD
    assert detect_branch(repo / "sub") == "feature/gates"
    (repo / ".git" / "HEAD").write_text("0123456789abcdef0123456789abcdef01234567\n")
    assert detect_branch(repo) == "detached"
    monkeypatch.setenv("GIT_BRANCH", "origin/main")
    assert detect_branch(repo) == "main"


def test_no_repository_at_all_is_unknown(tmp_path: Path, monkeypatch) -> None:
    assert not any((d / ".git").exists() for d in (tmp_path, *tmp_path.parents))
    monkeypatch.setenv("PATH", "")
    assert detect_branch(tmp_path) == "unknown"


def test_cli_lists_runs(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = tmp_path / "config.toml"
    assert main(["--config", str(config), "history"]) == 0
    assert "no runs recorded yet" in capsys.readouterr().out
    history = RunHistory(history_path(config))
    assert history.path == tmp_path / ".distlab" / "history.sqlite"
    failing = perf_run(1.0, seed=424242, started=1000.0, verdict="fail")
    failing.exit_code = 1
    failing.gates = evaluate([GateSpec("performance.failed", ["> 0"])], failing)
    history.record(failing)
    history.record(perf_run(1.0, seed=515151, started=2000.0))
    assert main(["--config", str(config), "history"]) == 0
    out = capsys.readouterr().out
    assert out.index("515151") < out.index("424242")
    assert "fail (1 gates)" in out and "5.0s" in out
    assert main(["--config", str(config), "history", "--json", "-n", "1"]) == 0
    [line] = capsys.readouterr().out.splitlines()
    assert json.loads(line)["seed"] == 515151


def test_cli_reads_the_history_next_to_a_configured_run_dir(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "config.toml"
    config.write_text('[project]\nrun_dir = "out/runs"\n')
    RunHistory(tmp_path / "out" / "history.sqlite").record(perf_run(1.0, seed=777, started=1.0))
    assert main(["--config", str(config), "history"]) == 0
    assert "777" in capsys.readouterr().out


def test_cli_rejects_a_bad_limit(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--config", str(tmp_path / "config.toml"), "history", "-n", "0"]) == 2
    assert "--limit must be" in capsys.readouterr().err
