"""Render the scaffold from ``Answers`` and write it, never clobbering a file unasked."""

from __future__ import annotations

import json
from pathlib import Path
from string import Template

from distlab.errors import UsageError
from distlab.scaffold import templates
from distlab.scaffold.answers import Answers

# Files whose presence means the directory already has a pytest configuration:
# a pytest.ini of ours would silently take it over, so we leave it out then.
PYTEST_CONFIGS = {
    "pytest.ini": "",
    "pyproject.toml": "[tool.pytest.ini_options]",
    "tox.ini": "[pytest]",
    "setup.cfg": "[tool:pytest]",
}


def _toml_string(text: str) -> str:
    # A JSON string is a valid TOML basic string for everything a command holds.
    return json.dumps(text)


def render(answers: Answers, directory: Path) -> dict[str, str]:
    """Relative path -> text of every file the scaffold consists of."""
    health = answers.health
    health_lines = ""
    if health.check == "http":
        health_lines = f"health_path = {_toml_string(health.path)}\n"
    elif health.check == "command":
        health_lines = f"health_command = {_toml_string(health.command)}\n"
    identify_line = ""
    if answers.wiring == "ingress":
        identify_line = f"ingress_identify = {_toml_string(answers.identify)}\n"
    fields = {
        "name": answers.name,
        "name_toml": _toml_string(answers.name),
        "nodes": str(answers.nodes),
        "command_toml": _toml_string(answers.command),
        "wiring": answers.wiring,
        "identify_line": identify_line,
        "health_check": health.check,
        "health_lines": health_lines,
    }
    files = {
        "config.toml": templates.CONFIG,
        "conftest.py": templates.CONFTEST,
        "client.py": templates.CLIENT,
        "suites/unit/test_config.py": templates.UNIT,
        "suites/concurrency/test_connections.py": templates.CONCURRENCY,
        "suites/distributed/test_partition.py": templates.DISTRIBUTED,
        "suites/chaos/test_crash.py": templates.CHAOS,
        "suites/performance/test_restart.py": templates.PERFORMANCE,
    }
    if not has_pytest_config(directory):
        files["pytest.ini"] = templates.PYTEST_INI
    return {path: Template(text).substitute(fields) for path, text in files.items()}


def has_pytest_config(directory: Path) -> bool:
    """Whether ``directory`` already configures pytest (then we add no pytest.ini)."""
    for name, marker in PYTEST_CONFIGS.items():
        path = directory / name
        if path.is_file() and (not marker or marker in path.read_text(errors="replace")):
            return True
    return False


def write(directory: Path, files: dict[str, str], *, force: bool = False) -> list[Path]:
    """Write ``files`` under ``directory``; refuse, naming each one, to overwrite without ``force``."""
    existing = [path for path in files if (directory / path).exists()]
    if existing and not force:
        raise UsageError(
            f"{directory}: would overwrite {', '.join(existing)}; "
            "pass --force to replace them, or pick another directory"
        )
    for path in files:
        target = directory / path
        if target.exists() and not target.is_file():
            raise UsageError(f"{target} exists and is not a file")
    written = []
    for path, text in files.items():
        target = directory / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text)
        written.append(target)
    return written
