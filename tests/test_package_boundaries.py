"""distlab is a lab for any system: nothing under distlab/ may import the shipped
reference system (its adapter lives beside it, in suites/support/).

The source is read with ``ast``, so an import inside a function, a
``from reference_system import x`` or ``importlib.import_module("reference_system...")``
is found as surely as one at the top of a module.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
FORBIDDEN = "reference_system"


def forbidden_imports(source: str, filename: str = "<source>") -> list[int]:
    """Line numbers where ``source`` imports the reference system."""
    lines = []
    for node in ast.walk(ast.parse(source, filename)):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module]
        elif (
            isinstance(node, ast.Call)
            and node.args
            and isinstance(node.args[0], ast.Constant)
            and isinstance(node.args[0].value, str)
            and (
                (isinstance(node.func, ast.Attribute) and node.func.attr == "import_module")
                or (
                    isinstance(node.func, ast.Name)
                    and node.func.id in ("import_module", "__import__")
                )
            )
        ):
            names = [node.args[0].value]
        if any(n == FORBIDDEN or n.startswith(FORBIDDEN + ".") for n in names):
            lines.append(node.lineno)
    return lines


def test_nothing_under_distlab_imports_the_reference_system() -> None:
    files = sorted((ROOT / "distlab").rglob("*.py"))
    assert len(files) > 50  # the scan saw the package, not an empty directory
    found = [
        f"{path.relative_to(ROOT)}:{line}"
        for path in files
        for line in forbidden_imports(path.read_text(encoding="utf-8"), str(path))
    ]
    assert not found, f"distlab must not import {FORBIDDEN}: {', '.join(found)}"


@pytest.mark.parametrize(
    "source",
    [
        "import reference_system\n",
        "import reference_system.client as c\n",
        "from reference_system.client import Client\n",
        "from reference_system import client\n",
        "def f():\n    from reference_system.node import main\n",
        "import importlib\nimportlib.import_module('reference_system.client')\n",
        "__import__('reference_system')\n",
    ],
)
def test_the_scan_finds_every_way_of_importing_it(source: str) -> None:
    assert forbidden_imports(source)


@pytest.mark.parametrize(
    "source",
    [
        "import reference_systems\n",
        "from distlab.lab import adapter\n",
        "from . import reference_system\n",  # a relative import of a module of our own
        "x = 'reference_system.client'\n",  # a string is not an import
    ],
)
def test_the_scan_leaves_other_imports_alone(source: str) -> None:
    assert not forbidden_imports(source)
