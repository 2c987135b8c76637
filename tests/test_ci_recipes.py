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
JUNIT = f"{ProjectSettings().reports_dir}/junit.xml"
RUN_DIR = ProjectSettings().run_dir
# Actions the GitHub recipe may use, pinned to a major version.
KNOWN_ACTIONS = {
    "actions/checkout",
    "actions/setup-python",
    "actions/upload-artifact",
    "mikepenz/action-junit-report",
}


def load(path: Path) -> Any:
    return yaml.safe_load(path.read_text())


def commands(script: str) -> list[list[str]]:
    """Each command line of a shell script, split into words, with CI variables filled in."""
    out = []
    for line in script.splitlines():
        line = re.sub(r"\$\{\{[^}]*\}\}", "7", line)  # GitHub expressions such as run_number
        line = re.sub(r'"?\$(CI_PIPELINE_IID|GITHUB_RUN_NUMBER)"?', "7", line)
        if line.strip() and not line.strip().startswith("#"):
            out.append(shlex.split(line))
    return out


def check_command(words: list[str]) -> None:
    """The program exists here; a distlab command line parses with distlab's own parser."""
    program = words[0]
    assert program in ("python", "distlab"), f"unexpected program in a recipe: {words}"
    if program == "python":
        assert shutil.which("python3") or shutil.which("python")
        assert words[1:4] == ["-m", "pip", "install"], words
        return
    assert Path(sys.executable).with_name("distlab").exists()
    try:
        args = build_parser().parse_args(words[1:])
    except SystemExit as e:
        raise AssertionError(f"distlab rejects {shlex.join(words)} (exit {e.code})") from None
    assert args.ci, "the recipe must run distlab --ci"


def test_github_actions_recipe() -> None:
    workflow = load(GITHUB)
    assert set(workflow["jobs"]) == {"distlab"}
    steps = workflow["jobs"]["distlab"]["steps"]
    ran = []
    for step in steps:
        if "uses" in step:
            action, _, version = step["uses"].partition("@")
            assert action in KNOWN_ACTIONS and re.fullmatch(r"v\d+", version), step["uses"]
        if "run" in step:
            for words in commands(step["run"]):
                check_command(words)
                ran.append(words[0])
    assert ran == ["python", "distlab"]
    by_action = {s["uses"].split("@")[0]: s for s in steps if "uses" in s}
    junit = by_action["mikepenz/action-junit-report"]
    assert junit["if"] == "always()" and junit["with"]["report_paths"] == JUNIT
    upload = by_action["actions/upload-artifact"]
    assert upload["if"] == "always()"
    assert f"{RUN_DIR}/" in upload["with"]["path"].split()
    # The distlab step has no continue-on-error: its exit code fails the job.
    assert not any(s.get("continue-on-error") for s in steps)


def test_gitlab_ci_recipe() -> None:
    job = load(GITLAB)["distlab"]
    ran = []
    for line in job["script"]:
        for words in commands(line):
            check_command(words)
            ran.append(words[0])
    assert ran == ["python", "distlab"]
    assert not job.get("allow_failure"), "the job must fail on distlab's exit code"
    artifacts = job["artifacts"]
    assert artifacts["when"] == "always"
    assert artifacts["reports"]["junit"] == JUNIT
    assert f"{RUN_DIR}/" in artifacts["paths"]


@pytest.mark.parametrize("recipe", [GITHUB, GITLAB], ids=lambda p: p.name)
def test_ci_md_shows_each_recipe_unchanged(recipe: Path) -> None:
    assert f"```yaml\n{recipe.read_text()}```" in (DOCS / "ci.md").read_text()


def test_a_broken_distlab_command_is_caught() -> None:
    with pytest.raises(AssertionError, match="distlab rejects"):
        check_command(["distlab", "--ci", "--layers"])
