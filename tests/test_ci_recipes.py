"""The CI recipes in docs/ci/ are valid YAML, run commands that exist and parse,
publish the JUnit file distlab writes, keep the run directory, and are shown
unchanged in docs/ci.md."""

from __future__ import annotations

import re
import shlex
import shutil
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from distlab.cli.main import build_parser
from distlab.config.schema import ProjectSettings

DOCS = Path(__file__).resolve().parents[1] / "docs"
GITHUB = DOCS / "ci" / "github-actions.yml"
GITLAB = DOCS / "ci" / "gitlab-ci.yml"
SHARDED = DOCS / "ci" / "github-actions-sharded.yml"
JUNIT = f"{ProjectSettings().reports_dir}/junit.xml"
RUN_DIR = ProjectSettings().run_dir
# Actions the GitHub recipe may use, pinned to a major version.
KNOWN_ACTIONS = {
    "actions/checkout",
    "actions/setup-python",
    "actions/upload-artifact",
    "actions/download-artifact",
    "mikepenz/action-junit-report",
}


def load(path: Path) -> Any:
    return yaml.safe_load(path.read_text())


def commands(script: str) -> list[list[str]]:
    """Each command line of a shell script, split into words, with CI variables filled in."""
    out = []
    for line in script.splitlines():
        line = re.sub(r"\$\{\{[^}]*\}\}", "2", line)  # GitHub expressions: run_number, matrix.shard
        line = re.sub(r'"?\$(CI_PIPELINE_IID|GITHUB_RUN_NUMBER)"?', "7", line)
        if line.strip() and not line.strip().startswith("#"):
            out.append(shlex.split(line))
    return out


def check_command(words: list[str]) -> str:
    """The program exists here; a distlab command line parses with distlab's own parser.

    Returns what it runs: "pip", "ci" or "merge"."""
    program = words[0]
    assert program in ("python", "distlab"), f"unexpected program in a recipe: {words}"
    if program == "python":
        assert shutil.which("python3") or shutil.which("python")
        assert words[1:4] == ["-m", "pip", "install"], words
        return "pip"
    assert Path(sys.executable).with_name("distlab").exists()
    try:
        args = build_parser().parse_args(words[1:])
    except SystemExit as e:
        raise AssertionError(f"distlab rejects {shlex.join(words)} (exit {e.code})") from None
    if args.command == "merge":
        return "merge"
    assert args.ci and not args.command, f"a recipe runs distlab --ci or distlab merge: {words}"
    return "ci"


def github_steps(path: Path) -> tuple[dict[str, Any], list[str]]:
    """Every job of a workflow, and what its run steps run (checked on the way)."""
    workflow = load(path)
    ran = []
    for job in workflow["jobs"].values():
        for step in job["steps"]:
            if "uses" in step:
                action, _, version = step["uses"].partition("@")
                assert action in KNOWN_ACTIONS and re.fullmatch(r"v\d+", version), step["uses"]
            if "run" in step:
                ran += [check_command(words) for words in commands(step["run"])]
            # No step may swallow distlab's exit code.
            assert not step.get("continue-on-error"), step
    return workflow["jobs"], ran


def by_action(steps: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {s["uses"].split("@")[0]: s for s in steps if "uses" in s}


def test_github_actions_recipe() -> None:
    jobs, ran = github_steps(GITHUB)
    assert set(jobs) == {"distlab"} and ran == ["pip", "ci"]
    steps = by_action(jobs["distlab"]["steps"])
    junit = steps["mikepenz/action-junit-report"]
    assert junit["if"] == "always()" and junit["with"]["report_paths"] == JUNIT
    upload = steps["actions/upload-artifact"]
    assert upload["if"] == "always()"
    assert f"{RUN_DIR}/" in upload["with"]["path"].split()


def test_sharded_github_actions_recipe() -> None:
    jobs, ran = github_steps(SHARDED)
    assert set(jobs) == {"shard", "merge"} and ran == ["pip", "ci", "pip", "merge"]
    shard, merge = jobs["shard"], jobs["merge"]
    shards = shard["strategy"]["matrix"]["shard"]
    run = next(s["run"] for s in shard["steps"] if "--shard" in s.get("run", ""))
    assert f"/{len(shards)}" in run and "${{ matrix.shard }}" in run
    # The merge job runs even when a shard failed, and waits for all of them.
    assert merge["needs"] == "shard" and merge["if"] == "always()"
    merged = next(s["run"] for s in merge["steps"] if "merge" in s.get("run", ""))
    assert f"--shards {len(shards)}" in merged and f"of-{len(shards)}" in merged
    upload = by_action(shard["steps"])["actions/upload-artifact"]
    assert upload["if"] == "always()" and f"{RUN_DIR}/" in upload["with"]["path"].split()
    download = by_action(merge["steps"])["actions/download-artifact"]
    assert download["with"]["pattern"] == upload["with"]["name"].replace("${{ matrix.shard }}", "*")
    junit = by_action(merge["steps"])["mikepenz/action-junit-report"]
    assert junit["if"] == "always()" and junit["with"]["report_paths"] == JUNIT


def test_gitlab_ci_recipe() -> None:
    job = load(GITLAB)["distlab"]
    ran = [check_command(words) for line in job["script"] for words in commands(line)]
    assert ran == ["pip", "ci"]
    assert not job.get("allow_failure"), "the job must fail on distlab's exit code"
    artifacts = job["artifacts"]
    assert artifacts["when"] == "always"
    assert artifacts["reports"]["junit"] == JUNIT
    assert f"{RUN_DIR}/" in artifacts["paths"]


@pytest.mark.parametrize("recipe", [GITHUB, SHARDED, GITLAB], ids=lambda p: p.name)
def test_ci_md_shows_each_recipe_unchanged(recipe: Path) -> None:
    assert f"```yaml\n{recipe.read_text()}```" in (DOCS / "ci.md").read_text()


def test_a_broken_distlab_command_is_caught() -> None:
    with pytest.raises(AssertionError, match="distlab rejects"):
        check_command(["distlab", "--ci", "--layers"])
