"""docs/reference.md is what the code generates: a changed flag, config key,
event field, exit code or fixture without `make docs` fails here."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from distlab import docs_ref
from distlab.config import schema
from distlab.errors import ExitCode

REFERENCE = Path(__file__).resolve().parents[1] / "docs" / "reference.md"


def test_reference_md_is_what_the_code_generates() -> None:
    generated = docs_ref.generate()
    on_disk = REFERENCE.read_text()
    if on_disk != generated:
        old, new = on_disk.splitlines(), generated.splitlines()
        first = next(
            (i for i, (a, b) in enumerate(zip(old, new, strict=False)) if a != b),
            min(len(old), len(new)),
        )
        raise AssertionError(
            f"docs/reference.md is stale (first difference at line {first + 1}: "
            f"file has {old[first] if first < len(old) else '<end>'!r}, code gives "
            f"{new[first] if first < len(new) else '<end>'!r}); run `make docs`"
        )


def test_every_config_key_has_help_and_appears_in_the_reference() -> None:
    text = docs_ref.generate()
    for header, cls, _ in docs_ref.settings_sections():
        assert f"### `{header}`" in text
        for f in dataclasses.fields(cls):
            if "spec" in f.metadata:
                assert f.metadata["spec"].help.strip(), f"{header} {f.name} has no help"
                assert f"| `{f.name}` |" in text
    assert any(h == "[lab]" for h, _, _ in docs_ref.settings_sections()) == hasattr(
        schema, "LabSettings"
    )


def test_every_exit_code_and_command_is_documented() -> None:
    assert set(docs_ref.EXIT_MEANINGS) == set(ExitCode), "an ExitCode has no meaning in docs_ref"
    from distlab.cli.main import COMMANDS

    text = docs_ref.generate()
    for name in COMMANDS:
        assert f"`distlab {name}`" in text


def test_the_reference_is_stable_and_follows_the_code(monkeypatch: pytest.MonkeyPatch) -> None:
    first = docs_ref.generate()
    assert first == docs_ref.generate(), "two generations differ: something unordered leaks in"
    monkeypatch.setitem(docs_ref.EXIT_MEANINGS, ExitCode.LAB, "a changed meaning")
    assert "a changed meaning" in docs_ref.generate()
