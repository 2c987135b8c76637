"""Which git branch a run belongs to, for baselines ("last passing run on this branch")."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from distlab.env import BRANCH_ENV

# CI systems check out a detached HEAD; they say the branch in these.
CI_BRANCH_VARS = (
    BRANCH_ENV,  # explicit override
    "GITHUB_HEAD_REF",  # GitHub Actions, pull requests
    "GITHUB_REF_NAME",  # GitHub Actions, pushes
    "CI_COMMIT_REF_NAME",  # GitLab CI
    "BRANCH_NAME",  # Jenkins multibranch
    "GIT_BRANCH",  # Jenkins git plugin ("origin/main")
    "BUILDKITE_BRANCH",
    "CIRCLE_BRANCH",
)
UNKNOWN = "unknown"


def detect_branch(cwd: str | os.PathLike[str] | None = None) -> str:
    """The branch: a CI variable, else ``git``, else ``.git/HEAD``, else ``"unknown"``."""
    for var in CI_BRANCH_VARS:
        value = os.environ.get(var, "").strip()
        if value:
            return value.removeprefix("origin/")
    root = Path(cwd) if cwd is not None else Path.cwd()
    branch = _from_git(root) or _from_head_file(root)
    return branch or UNKNOWN


def _from_git(root: Path) -> str | None:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "--abbrev-ref", "HEAD"],
            cwd=root,
            capture_output=True,
            text=True,
            timeout=5,
            stdin=subprocess.DEVNULL,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    name = out.stdout.strip()
    if out.returncode != 0 or not name:
        return None
    return "detached" if name == "HEAD" else name


def _from_head_file(root: Path) -> str | None:
    # No git binary: read the ref git would have printed, walking up to the repo.
    for directory in (root, *root.resolve().parents):
        head = directory / ".git" / "HEAD"
        try:
            text = head.read_text(encoding="utf-8").strip()
        except OSError:
            continue
        if text.startswith("ref: refs/heads/"):
            return text.removeprefix("ref: refs/heads/")
        return "detached"
    return None
