"""docs/reference.md, generated from the code so that it cannot drift.

Every command and flag comes from the argparse parser, every config key from
the schema's ``Spec`` (its help, limits and choices), every event kind from
``distlab.event_types``, every exit code from ``ExitCode``, every fixture and
marker from the pytest plugin. ``make docs`` rewrites the file; a test fails
when the file differs from what this module generates.

    python -m distlab.docs_ref            # print it
    python -m distlab.docs_ref --write docs/reference.md
"""

from __future__ import annotations

import argparse
import dataclasses
import importlib
import inspect
import pkgutil
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from distlab.errors import ExitCode

# What each exit code means. Kept beside the generator (not in errors.py's comments) so
# the table reads as sentences; the test fails if an ExitCode member has no entry.
EXIT_MEANINGS: dict[ExitCode, str] = {
    ExitCode.OK: "the gates passed (`check`: the history is valid)",
    ExitCode.FAILED: "a gate or a required layer failed (`check`: not linearizable; "
    "`doctor`: a required check failed)",
    ExitCode.USAGE: "bad usage, a bad config file or a bad input file; one line names it",
    ExitCode.LAB: "the lab itself broke: a node command that cannot start, a port clash",
    ExitCode.UNKNOWN: "no verdict: `check` ran out of its time or memory budget; `--ci` is "
    "INCOMPLETE (a gate of a selected layer could not be evaluated), never a pass",
    ExitCode.INTERRUPTED: "interrupted or stopped (Ctrl-C, SIGTERM, `s`); everything started "
    "was stopped, and what finished is in the reports",
}

HEADER = """\
# distlab reference

Generated from the code by `make docs` (`python -m distlab.docs_ref --write
docs/reference.md`); do not edit by hand: `tests/test_docs_reference.py` fails
when this file differs from what the code generates. The guide
([guide.md](guide.md)) explains how the pieces fit together.

Contents: [commands](#commands) · [exit codes](#exit-codes) ·
[config.toml](#configtoml) · [fault kinds](#fault-kinds) · [events](#events) ·
[fixtures](#fixtures) · [markers](#markers)
"""


def cell(text: Any) -> str:
    """``text`` made safe for one Markdown table cell."""
    return " ".join(str(text).split()).replace("|", "\\|")


def table(head: list[str], rows: list[list[str]]) -> list[str]:
    out = ["| " + " | ".join(head) + " |", "|" + "|".join("---" for _ in head) + "|"]
    out += ["| " + " | ".join(cell(c) for c in row) + " |" for row in rows]
    return out


# -- commands -------------------------------------------------------------------------


def _subparsers(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    return {}


# Accepted by every command; listed once, under `distlab`.
GLOBAL_DESTS = ("config", "seed")


def _flag_rows(parser: argparse.ArgumentParser, *, globals_too: bool) -> list[list[str]]:
    formatter = parser._get_formatter()
    rows = []
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction | argparse._HelpAction):
            continue
        if not globals_too and action.dest in GLOBAL_DESTS:
            continue
        if action.help == argparse.SUPPRESS:
            continue
        if action.option_strings:
            names = ", ".join(f"`{o}`" for o in action.option_strings)
            if action.nargs != 0:
                metavar = action.metavar or (
                    "{" + ",".join(map(str, action.choices)) + "}"
                    if action.choices
                    else action.dest.upper()
                )
                names += f" `{metavar}`"
        else:
            names = f"`{action.metavar or action.dest}`"
        help_text = formatter._expand_help(action) if action.help else ""
        if action.choices and action.option_strings and "{" not in names:
            help_text += f" (one of: {', '.join(map(str, action.choices))})"
        rows.append([names, help_text])
    return rows


def _usage(path: list[str], parser: argparse.ArgumentParser) -> str:
    positionals = [
        a
        for a in parser._actions
        if not a.option_strings and not isinstance(a, argparse._SubParsersAction)
    ]
    words = [*path, "[options]"]
    if _subparsers(parser):
        words.append("COMMAND")
    for a in positionals:
        name = str(a.metavar or a.dest)
        words.append(
            f"[{name}]" if a.nargs == "?" else f"{name}..." if a.nargs in ("+", "*") else name
        )
    return " ".join(words)


def _command_section(path: list[str], parser: argparse.ArgumentParser, level: int) -> list[str]:
    out = [f"{'#' * level} `{' '.join(path)}`", ""]
    if parser.description:
        out += [" ".join(parser.description.split()), ""]
    out += ["```", _usage(path, parser), "```", ""]
    rows = _flag_rows(parser, globals_too=len(path) == 1)
    if rows:
        out += [*table(["flag", "what it does"], rows), ""]
    for name, sub in _subparsers(parser).items():
        out += _command_section([*path, name], sub, min(level + 1, 4))
    return out


def commands() -> list[str]:
    from distlab.cli.main import build_parser

    parser = build_parser()
    out = ["## Commands", ""]
    out += [
        "`--config PATH` and `--seed N` are accepted before or after any command.",
        "",
    ]
    top = _command_section(["distlab"], parser, 3)
    return out + top


def exit_codes() -> list[str]:
    rows = [
        [
            str(int(code)),
            " / ".join(n.lower() for n, m in ExitCode.__members__.items() if m is code),
            EXIT_MEANINGS[code],
        ]
        for code in ExitCode
    ]
    return ["## Exit codes", "", *table(["code", "name", "meaning"], rows), ""]


# -- config ---------------------------------------------------------------------------


def _type_name(f: dataclasses.Field[Any]) -> str:
    text = str(f.type)
    if f.metadata["spec"].choices:
        return "string"  # a Literal alias such as Topology: the choices say the rest
    return {
        "str": "string",
        "int": "integer",
        "float": "number",
        "bool": "boolean",
        "list[str]": "list of strings",
        "dict[str, str]": "table of strings",
    }.get(text, text)


def _default(f: dataclasses.Field[Any]) -> str:
    if f.default is not dataclasses.MISSING:
        value = f.default
    elif f.default_factory is not dataclasses.MISSING:
        value = f.default_factory()
    else:
        return "required"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return f'`"{value}"`'
    if isinstance(value, list):
        return "`[]`"
    if isinstance(value, dict):
        return "`{}`"
    return f"`{value:g}`" if isinstance(value, float) else f"`{value}`"


def _allowed(spec: Any) -> str:
    if spec.choices:
        return ", ".join(f"`{c}`" for c in spec.choices)
    if spec.min is not None or spec.max is not None:
        lo = "" if spec.min is None else f"{spec.min:g}"
        hi = "" if spec.max is None else f"{spec.max:g}"
        return f"{lo} to {hi}".strip()
    return ""


def config_keys_rows(section: type) -> list[list[str]]:
    """One row per keyed field of a settings dataclass: key, type, default, allowed, help."""
    from distlab.config.fields import field_spec

    rows = []
    for f in dataclasses.fields(section):
        if "spec" not in f.metadata:
            continue  # not a key: set by the loader (e.g. line numbers, built sub-tables)
        spec = field_spec(f)
        rows.append([f"`{f.name}`", _type_name(f), _default(f), _allowed(spec), spec.help])
    return rows


def settings_sections() -> Iterator[tuple[str, type, str]]:
    """(table header, settings class, note) for every keyed table of config.toml."""
    from distlab.config import schema

    for f in dataclasses.fields(schema.Config):
        made = f.default_factory() if f.default_factory is not dataclasses.MISSING else None
        if made is None or not dataclasses.is_dataclass(made):
            continue  # path, and the tables of tables handled below
        yield f"[{f.name}]", type(made), ""
        groups = getattr(schema, "GroupSettings", None)
        if f.name == "cluster" and groups is not None:
            yield (
                "[cluster.groups.NAME]",
                groups,
                "One table per kind of member of a heterogeneous cluster.",
            )
    yield (
        "[suites.LAYER]",
        schema.SuiteSettings,
        "LAYER is one of " + ", ".join(f"`{x}`" for x in schema.LAYERS) + ".",
    )


def config() -> list[str]:
    from distlab.gates.expr import AGGREGATES, COMPARATORS
    from distlab.gates.metrics import builtin_metrics
    from distlab.nemesis.criteria import METRICS
    from distlab.results import LayerResult

    builtin = list(builtin_metrics(LayerResult(layer="unit", required=True)))
    from distlab.nemesis.scenario import KEYS, MIX_OPS
    from distlab.nemesis.schedule import GENERATORS

    out = [
        "## config.toml",
        "",
        "Every key is optional unless marked required. `distlab doctor` validates the file;",
        "an error names the file, line, section and key.",
        "",
    ]
    for header, cls, note in settings_sections():
        out += [f"### `{header}`", ""]
        if note:
            out += [note, ""]
        out += table(["key", "type", "default", "allowed", "what it does"], config_keys_rows(cls))
        out.append("")
    out += [
        "### `[gates]`",
        "",
        '`"METRIC" = "CONDITION"` or a list of conditions. METRIC is `LAYER.NAME` with an',
        "optional `{tag:value}` selector; built in for every layer: "
        + ", ".join(f"`{m}`" for m in builtin)
        + "; tests add their own with the `metric` fixture.",
        "A condition is `[AGGREGATE] COMPARE EXPR`: AGGREGATE one of "
        + ", ".join(f"`{a}(N)`" if a == "p" else f"`{a}`" for a in AGGREGATES)
        + "; COMPARE one of "
        + ", ".join(f"`{c}`" for c in sorted(COMPARATORS))
        + "; EXPR numbers and `baseline` (the same metric in the last passing run on the",
        "branch) with `+ - * /` and parentheses. A table `{ threshold = ..., abort_on_fail = true }`",
        "stops the run as soon as the gate fails.",
        "",
        "### `[scenarios.NAME]`",
        "",
        "Keys: " + ", ".join(f"`{k}`" for k in KEYS) + ".",
        "Give either `schedule = [...]` (fault tables with `at_s`, `duration_s`) or",
        "`generator` = " + ", ".join(f"`{g}`" for g in GENERATORS) + " with `interval_s`.",
        "`model` and the ops its `mix` may weigh: "
        + "; ".join(f"`{m}`: {', '.join(ops)}" for m, ops in MIX_OPS.items())
        + ".",
        "",
        "Metrics that `criteria` may judge:",
        "",
        *table(["metric", "meaning"], [[f"`{k}`", v] for k, v in METRICS.items()]),
        "",
    ]
    return out


def faults() -> list[str]:
    from distlab.nemesis.faults import KINDS, SELECTORS

    rows = []
    for kind in KINDS.values():
        params = []
        for name, p in kind.params.items():
            if p.choices:
                allowed = "|".join(p.choices)
            else:
                allowed = f"{p.lo:g}..{p.hi:g}" if p.lo is not None and p.hi is not None else ""
            params.append(f"`{name}`={p.default!r}" + (f" ({allowed})" if allowed else ""))
        rows.append(
            [
                f"`{kind.name}`",
                kind.acts_on,
                "yes" if kind.lasting else "no",
                ", ".join(params),
                kind.help,
            ]
        )
    return [
        "## Fault kinds",
        "",
        "A fault is a table `{kind, target, at_s, duration_s, ...params}` in a schedule, a",
        "scenario or `timeline([...])`. A target is a node id or one of "
        + ", ".join(f"`{s}`" for s in SELECTORS)
        + ".",
        "",
        *table(
            ["kind", "acts on", "lasting", "parameters (default, allowed)", "what it does"], rows
        ),
        "",
    ]


# -- events ---------------------------------------------------------------------------


def _field_comments(cls: type) -> dict[str, str]:
    """Trailing ``# comments`` of a dataclass's field lines: they say what values mean."""
    try:
        lines, _ = inspect.getsourcelines(cls)
    except (OSError, TypeError):
        return {}
    comments = {}
    for line in lines:
        code, sep, comment = line.partition("  # ")
        head = code.strip().split(":", 1)[0]
        if sep and head.isidentifier():
            comments[head] = comment.strip()
    return comments


def events() -> list[str]:
    from distlab.event_types import EVENT_TYPES
    from distlab.events import SCHEMA_VERSION

    out = [
        "## Events",
        "",
        "One JSON object per line in `events.jsonl` and on the live feed, each with",
        f"`v` (schema version, now {SCHEMA_VERSION}), `ts` (Unix seconds) and `kind`, then the",
        "fields below. `distlab replay` reads the file back.",
        "",
    ]
    for cls in EVENT_TYPES:
        doc = inspect.getdoc(cls) or ""
        own_doc = (
            doc
            if cls.__doc__ and "__init__" not in doc and not doc.startswith(cls.__name__ + "(")
            else ""
        )
        out += [f"### `{cls.kind}`", ""]
        if own_doc:
            out += [" ".join(own_doc.split()), ""]
        comments = _field_comments(cls)
        for base in cls.__mro__[1:]:
            for k, v in _field_comments(base).items():
                comments.setdefault(k, v)
        rows = [
            [f"`{f.name}`", str(f.type), comments.get(f.name, "")]
            for f in dataclasses.fields(cls)
            if f.name != "ts"
        ]
        out += table(["field", "type", "note"], rows) if rows else ["No fields beyond `ts`."]
        out.append("")
    return out


# -- fixtures and markers -------------------------------------------------------------


def _fixture_modules() -> list[Any]:
    import distlab.fixtures
    import distlab.pytest_plugin

    names = sorted(m.name for m in pkgutil.iter_modules(distlab.fixtures.__path__))
    return [distlab.pytest_plugin] + [
        importlib.import_module(f"distlab.fixtures.{n}") for n in names
    ]


def fixtures() -> list[str]:
    from _pytest.fixtures import FixtureFunctionDefinition

    rows = []
    seen = set()
    for module in _fixture_modules():
        for attr in sorted(vars(module)):
            obj = getattr(module, attr)
            if not isinstance(obj, FixtureFunctionDefinition) or obj.name in seen:
                continue
            seen.add(obj.name)
            fn = obj._fixture_function
            params = [p for p in inspect.signature(fn).parameters if p != "request"]
            doc = (inspect.getdoc(fn) or "").split("\n\n")[0]
            scope = obj._fixture_function_marker.scope
            rows.append(
                [
                    f"`{obj.name}`",
                    str(scope),
                    ", ".join(f"`{p}`" for p in params),
                    doc,
                ]
            )
    return [
        "## Fixtures",
        "",
        "From distlab's pytest plugin (entry point `pytest11`), in every test of a layer.",
        "",
        *table(
            ["fixture", "scope", "uses", "what it gives"],
            sorted(rows, key=lambda r: r[0].strip("`")),
        ),
        "",
    ]


class _MarkerRecorder:
    def __init__(self) -> None:
        self.lines: list[str] = []

    def addinivalue_line(self, name: str, line: str) -> None:
        if name == "markers":
            self.lines.append(line)


def markers() -> list[str]:
    from distlab.fixtures import cluster
    from distlab.pytest_plugin import MARKERS

    recorder = _MarkerRecorder()
    cluster.pytest_configure(recorder)  # type: ignore[arg-type]
    rows = [[f"`@pytest.mark.{k}`", v] for k, v in MARKERS.items()]
    for line in recorder.lines:
        name, _, description = line.partition(": ")
        rows.append([f"`@pytest.mark.{name}`", description])
    return ["## Markers", "", *table(["marker", "meaning"], rows), ""]


def generate() -> str:
    """The whole of docs/reference.md."""
    parts = [
        HEADER.splitlines(),
        [""],
        commands(),
        exit_codes(),
        config(),
        faults(),
        events(),
        fixtures(),
        markers(),
    ]
    text = "\n".join(line for part in parts for line in part)
    return text.rstrip("\n") + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m distlab.docs_ref", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument(
        "--write", metavar="PATH", help="write the reference here instead of stdout"
    )
    args = parser.parse_args(argv)
    text = generate()
    if args.write:
        Path(args.write).write_text(text)
    else:
        sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
