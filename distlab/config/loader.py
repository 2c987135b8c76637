"""Read ``config.toml`` into a ``Config``; every bad value is one line naming
file, line, section and key, what is wrong, and what is allowed."""

from __future__ import annotations

import dataclasses
import re
import shlex
import string
import tomllib
import types
import typing
from pathlib import Path
from typing import Any, Literal, get_args, get_origin

from distlab.config.fields import field_spec
from distlab.config.schema import (
    LAYERS,
    ClusterSettings,
    Config,
    GateSpec,
    GroupSettings,
    HostsSettings,
    LabSettings,
    NetworkSettings,
    PostgresSettings,
    ProjectSettings,
    SuiteSettings,
)
from distlab.errors import ConfigError
from distlab.gates.expr import ConditionError, parse_condition
from distlab.gates.metrics import parse_metric

# Sections that are one plain table, by name.
TABLE_SECTIONS: dict[str, type] = {
    "project": ProjectSettings,
    "cluster": ClusterSettings,
    "network": NetworkSettings,
    "hosts": HostsSettings,
    "postgres": PostgresSettings,
    "lab": LabSettings,
}
SECTIONS = (*TABLE_SECTIONS, "suites", "gates", "scenarios")

COMMAND_PLACEHOLDERS = frozenset(
    {
        "id",
        "group",
        "index",
        "port",
        "peer_port",
        "advertise_port",
        "peers",
        "data_dir",
        "python",
        "run_dir",
        "cluster_token",
        "ports",
        "advertise_ports",
        "host",
    }
)
# Placeholders indexed by a node id: {ports[redis1]}, {advertise_ports[redis1]}.
INDEXED_PLACEHOLDERS = frozenset({"ports", "advertise_ports"})
PEER_PLACEHOLDERS = frozenset({"id", "port", "index", "host"})

_HEADER = re.compile(r"^\s*\[\[?\s*([^\]]+?)\s*\]\]?\s*(#.*)?$")
_KEY = re.compile(r"""^\s*("(?:[^"\\]|\\.)*"|'[^']*'|[A-Za-z0-9_.\-]+)\s*=""")


class _Lines:
    """Finds the line of a section or key in the raw text (tomllib keeps none)."""

    def __init__(self, text: str) -> None:
        self.sections: dict[tuple[str, ...], int] = {}
        self.keys: dict[tuple[str, ...], int] = {}
        table: tuple[str, ...] = ()
        for number, line in enumerate(text.splitlines(), start=1):
            header = _HEADER.match(line)
            if header:
                table = tuple(_split_dotted(header.group(1)))
                self.sections.setdefault(table, number)
                continue
            key = _KEY.match(line)
            if key:
                parts = tuple(_split_dotted(key.group(1)))
                self.keys.setdefault(table + parts, number)

    def of(self, *path: str) -> int:
        """The line of ``path`` (a key or a table), or of its nearest enclosing table."""
        for end in range(len(path), 0, -1):
            sub = path[:end]
            if sub in self.keys:
                return self.keys[sub]
            if sub in self.sections:
                return self.sections[sub]
        return 1


def _split_dotted(text: str) -> list[str]:
    parts = re.findall(r'"((?:[^"\\]|\\.)*)"|\'([^\']*)\'|([^.\s]+)', text)
    return [a or b or c for a, b, c in parts]


def load(path: str | Path = "config.toml") -> Config:
    """Load and validate a config file."""
    p = Path(path)
    if not p.exists():
        raise ConfigError(f"{p}: no such file; create it or pass --config PATH")
    if p.is_dir():
        raise ConfigError(f"{p}: is a directory; --config takes a .toml file")
    try:
        text = p.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise ConfigError(f"{p}: not UTF-8 text; a config file is TOML") from None
    except OSError as e:
        raise ConfigError(f"{p}: cannot read: {e.strerror}") from None
    return loads(text, str(p))


def loads(text: str, path: str = "config.toml") -> Config:
    """Validate config text; ``path`` is only used in messages."""
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        msg = str(e)
        line = re.search(r"at line (\d+)", msg)
        where = f"{path}:{line.group(1)}" if line else path
        reason = re.sub(r"\s*\(at line \d+, column \d+\)", "", msg)
        raise ConfigError(f"{where}: invalid TOML: {reason}") from None
    # tomllib itself gives up on these with Python's own errors, not TOMLDecodeError.
    except RecursionError:
        raise ConfigError(f"{path}: invalid TOML: arrays or tables nested too deeply") from None
    except ValueError as e:  # e.g. int() of more than 4300 digits
        raise ConfigError(f"{path}: invalid TOML: {str(e).split(';')[0]}") from None
    return _Builder(text, path).build(raw)


class _Builder:
    def __init__(self, text: str, path: str) -> None:
        self.lines = _Lines(text)
        self.path = path

    def fail(self, where: tuple[str, ...], what: str) -> ConfigError:
        line = self.lines.of(*where)
        section = ".".join(where[:-1]) if len(where) > 1 else where[0]
        key = f" {where[-1]}" if len(where) > 1 else ""
        return ConfigError(f"{self.path}:{line}: [{section}]{key}: {what}")

    def build(self, raw: dict[str, Any]) -> Config:
        config = Config(path=self.path)
        for name, value in raw.items():
            if name not in SECTIONS:
                line = self.lines.of(name)
                raise ConfigError(
                    f"{self.path}:{line}: [{name}]: unknown section; allowed: {', '.join(SECTIONS)}"
                )
            if not isinstance(value, dict):
                raise self.fail((name,), "must be a table, e.g. [" + name + "]")
        for name, cls in TABLE_SECTIONS.items():
            if name in raw:
                table = dict(raw[name])
                groups = table.pop("groups", None) if name == "cluster" else None
                setattr(config, name, self.table(cls, table, (name,)))
                if groups is not None:
                    config.cluster.groups = self.groups(groups)
        config.suites = self.suites(raw.get("suites", {}))
        config.gates = self.gates(raw.get("gates", {}))
        config.scenarios = self.scenarios(raw.get("scenarios", {}))
        self.cross_check(config)
        return config

    def table(self, cls: type, raw: dict[str, Any], where: tuple[str, ...]) -> Any:
        # Only fields with a spec are keys; the loader fills in the others (line).
        fields = {f.name: f for f in dataclasses.fields(cls) if "spec" in f.metadata}
        hints = typing.get_type_hints(cls)
        values: dict[str, Any] = {}
        for key, value in raw.items():
            if key not in fields:
                allowed = ", ".join(fields)
                raise self.fail((*where, key), f"unknown key; allowed: {allowed}")
            values[key] = self.value(hints[key], value, fields[key], (*where, key))
        return cls(**values)

    def value(
        self, hint: Any, value: Any, f: dataclasses.Field[Any], where: tuple[str, ...]
    ) -> Any:
        spec = field_spec(f)
        origin = get_origin(hint)
        if origin is Literal:
            choices = get_args(hint)
            if value not in choices:
                listed = " | ".join(str(c) for c in choices)
                raise self.fail(where, f"{value!r} is not allowed; allowed: {listed}")
            return value
        if hint is bool:
            if not isinstance(value, bool):
                raise self.fail(where, f"must be true or false, got {_show(value)}")
            return value
        if hint is int:
            if isinstance(value, bool) or not isinstance(value, int):
                raise self.fail(where, f"must be a whole number{_range(spec)}, got {_show(value)}")
            self.check_range(value, spec, where, "a whole number")
            return value
        if hint is float:
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise self.fail(where, f"must be a number{_range(spec)}, got {_show(value)}")
            if value != value:  # NaN
                raise self.fail(where, f"must be a number{_range(spec)}, got nan")
            self.check_range(value, spec, where, "a number")
            return float(value)
        if hint is str:
            if not isinstance(value, str):
                raise self.fail(where, f"must be a string, got {_show(value)}")
            self.check_no_nul(value, where)
            return value
        if origin is list:
            (item,) = get_args(hint)
            if not isinstance(value, list) or not all(isinstance(v, item) for v in value):
                raise self.fail(where, f"must be a list of strings, got {_show(value)}")
            for v in value:
                self.check_no_nul(v, where)
            return list(value)
        if origin is dict and get_args(hint)[1] is float:
            if not isinstance(value, dict) or not all(
                isinstance(v, int | float) and not isinstance(v, bool) and v >= 0
                for v in value.values()
            ):
                raise self.fail(where, f"must be a table of weights >= 0, got {_show(value)}")
            if value and not any(v > 0 for v in value.values()):
                raise self.fail(where, "needs at least one weight > 0")
            return {str(k): float(v) for k, v in value.items()}
        if origin is dict:
            if not isinstance(value, dict) or not all(
                isinstance(k, str) and isinstance(v, str) for k, v in value.items()
            ):
                raise self.fail(where, f"must be a table of strings, got {_show(value)}")
            for k, v in value.items():
                self.check_no_nul(k, where)
                self.check_no_nul(v, where)
            return dict(value)
        if isinstance(hint, types.UnionType):  # pragma: no cover - no such field yet
            raise self.fail(where, "unsupported type in schema")
        raise self.fail(where, f"unsupported type in schema: {hint!r}")  # pragma: no cover

    def check_no_nul(self, value: str, where: tuple[str, ...]) -> None:
        # Every string ends up in an argv, a path or the environment, none of
        # which can hold a NUL (the OS call would fail with a bare ValueError).
        if "\x00" in value:
            raise self.fail(where, "must not contain a NUL character (\\u0000)")

    def check_command_line(self, template: str, where: tuple[str, ...]) -> None:
        """A command template must split like a shell line into at least a program."""
        # Placeholders become one plain word each, as their quoted values will.
        plain = re.sub(r"\{[^{}]*\}", "x", template.replace("{{", "").replace("}}", ""))
        try:
            argv = shlex.split(plain)
        except ValueError as e:
            raise self.fail(where, f"cannot be split like a shell line: {e}") from None
        if not argv:
            raise self.fail(where, "is blank; set it to the command that starts one node")

    def check_range(self, value: float, spec: Any, where: tuple[str, ...], kind: str) -> None:
        if (spec.min is not None and value < spec.min) or (
            spec.max is not None and value > spec.max
        ):
            raise self.fail(where, f"must be {kind}{_range(spec)}, got {value}")

    def suites(self, raw: dict[str, Any]) -> dict[str, SuiteSettings]:
        suites: dict[str, SuiteSettings] = {}
        for layer, table in raw.items():
            if layer not in LAYERS:
                raise self.fail(("suites", layer), f"unknown layer; allowed: {', '.join(LAYERS)}")
            if not isinstance(table, dict):
                raise self.fail(("suites", layer), f"must be a table, e.g. [suites.{layer}]")
            suites[layer] = self.table(SuiteSettings, table, ("suites", layer))
            suites[layer].line = self.lines.of("suites", layer)
            for package in suites[layer].coverage:
                if not re.fullmatch(r"[A-Za-z_]\w*(\.[A-Za-z_]\w*)*", package):
                    raise self.fail(
                        ("suites", layer, "coverage"),
                        f'{package!r} is not a package name; write e.g. "reference_system"',
                    )
        return suites

    def groups(self, raw: Any) -> dict[str, GroupSettings]:
        """[cluster.groups.<name>] tables; member ids are the name plus 1..nodes."""
        if not isinstance(raw, dict) or not raw:
            raise self.fail(("cluster", "groups"), "must hold tables, e.g. [cluster.groups.server]")
        groups: dict[str, GroupSettings] = {}
        for name, table in raw.items():
            where = ("cluster", "groups", name)
            if not re.fullmatch(r"[A-Za-z][A-Za-z_-]*", name):
                raise self.fail(
                    where, f"group name {name!r} must be letters (ids are the name plus a number)"
                )
            if not isinstance(table, dict):
                raise self.fail(where, f"must be a table, e.g. [cluster.groups.{name}]")
            group = self.table(GroupSettings, table, where)
            if not group.command:
                raise self.fail(
                    (*where, "command"), "each group needs the command that starts one member"
                )
            groups[name] = group
        return groups

    def gates(self, raw: dict[str, Any]) -> list[GateSpec]:
        gates: list[GateSpec] = []
        for metric, value in raw.items():
            where = ("gates", metric)
            abort = False
            if isinstance(value, dict):
                unknown = set(value) - {"threshold", "abort_on_fail"}
                if unknown:
                    raise self.fail(
                        where,
                        f"unknown key {sorted(unknown)[0]!r}; allowed: threshold, abort_on_fail",
                    )
                if "threshold" not in value:
                    raise self.fail(where, 'needs threshold = "< 50" (a condition or a list)')
                abort = value.get("abort_on_fail", False)
                if not isinstance(abort, bool):
                    raise self.fail(
                        where, f"abort_on_fail must be true or false, got {_show(abort)}"
                    )
                value = value["threshold"]
            conditions = [value] if isinstance(value, str) else value
            if (
                not isinstance(conditions, list)
                or not conditions
                or not all(isinstance(c, str) for c in conditions)
            ):
                raise self.fail(
                    where,
                    f'must be a condition such as "< 50" or a list of them, got {_show(value)}',
                )
            self.check_metric(metric, where)
            for condition in conditions:
                self.check_condition(condition, where)
            gates.append(
                GateSpec(
                    metric=metric,
                    conditions=list(conditions),
                    abort_on_fail=abort,
                    line=self.lines.of(*where),
                )
            )
        return gates

    def scenarios(self, raw: dict[str, Any]) -> dict[str, Any]:
        """[scenarios.<name>] tables, each checked by distlab.nemesis (faults, targets, criteria)."""
        built: dict[str, Any] = {}
        if not raw:
            return built
        from distlab.nemesis.scenario import ScenarioKeyError, from_table

        for name, table in raw.items():
            if not isinstance(table, dict):
                raise self.fail(("scenarios", name), f"must be a table, e.g. [scenarios.{name}]")
            try:
                built[name] = from_table(name, table)
            except ScenarioKeyError as e:
                raise self.fail(("scenarios", name, e.key), str(e)) from None
        return built

    def check_metric(self, metric: str, where: tuple[str, ...]) -> None:
        try:
            parse_metric(metric)
        except ValueError as e:
            raise self.fail(where, str(e)) from None

    def check_condition(self, condition: str, where: tuple[str, ...]) -> None:
        try:
            parse_condition(condition)
        except ConditionError as e:
            raise self.fail(where, str(e)) from None

    def cross_check(self, config: Config) -> None:
        c = config.cluster
        ids = node_ids(c)
        if c.groups and c.command:
            raise self.fail(
                ("cluster", "command"),
                "with [cluster.groups.*] each group has its own command; leave [cluster] command out",
            )
        if c.command:
            self.check_template(c.command, ("cluster", "command"), COMMAND_PLACEHOLDERS, ids)
            self.check_command_line(c.command, ("cluster", "command"))
        for name, group in c.groups.items():
            where = ("cluster", "groups", name)
            self.check_template(group.command, (*where, "command"), COMMAND_PLACEHOLDERS, ids)
            self.check_command_line(group.command, (*where, "command"))
            if group.health_check == "command" and not group.health_command:
                raise self.fail(
                    (*where, "health_check"),
                    '"command" needs health_command, a command that exits 0 when the member is up',
                )
        self.check_template(c.peer_format, ("cluster", "peer_format"), PEER_PLACEHOLDERS)
        if c.topology == "custom" and not c.links:
            raise self.fail(
                ("cluster", "topology"),
                'custom topology needs links = ["n1->n2", ...] in [cluster]',
            )
        for link in c.links:
            ends = re.fullmatch(
                r"\s*([A-Za-z][\w-]*?\d+)\s*(?:->|<->)\s*([A-Za-z][\w-]*?\d+)\s*", link
            )
            if not ends:
                raise self.fail(
                    ("cluster", "links"), f'{link!r} is not a link; write "n1->n2" or "n1<->n2"'
                )
            outside = [end for end in ends.groups() if end not in ids]
            if outside:
                raise self.fail(
                    ("cluster", "links"),
                    f"{link!r} names a node outside {ids[0]}..{ids[-1]}"
                    if not c.groups
                    else f"{link!r} names {outside[0]}, not a node; nodes: {_id_range(ids)}",
                )
        if c.wiring == "ingress" and not c.ingress_identify:
            raise self.fail(
                ("cluster", "wiring"),
                "ingress wiring needs ingress_identify, a regex whose group 1 is the dialler's id",
            )
        # "hook:module:function" names a user hook instead; distlab.net checks it on use.
        if c.ingress_identify and not c.ingress_identify.startswith("hook:"):
            try:
                pattern = re.compile(c.ingress_identify.encode())
            except re.error as e:
                raise self.fail(
                    ("cluster", "ingress_identify"), f"not a valid regex: {e}"
                ) from None
            if pattern.groups < 1:
                raise self.fail(
                    ("cluster", "ingress_identify"), "needs a group, e.g. 'X-Node: (\\w+)'"
                )
        if c.health_check == "command" and not c.health_command:
            raise self.fail(
                ("cluster", "health_check"),
                '"command" needs health_command, a command that exits 0 when the node is up',
            )

    def check_template(
        self,
        template: str,
        where: tuple[str, ...],
        allowed: frozenset[str],
        ids: list[str] | None = None,
    ) -> None:
        try:
            names = [
                name for _, name, _, _ in string.Formatter().parse(template) if name is not None
            ]
        except ValueError as e:
            raise self.fail(
                where, f"bad template: {e}; use {{name}}, and {{{{ }}}} for braces"
            ) from None
        for full in names:
            name, _, index = full.partition("[")
            if name in INDEXED_PLACEHOLDERS and name in allowed:
                node = index.rstrip("]")
                if not index.endswith("]") or (ids is not None and node not in ids):
                    raise self.fail(
                        where,
                        f"{{{full}}} must name a node, e.g. {{{name}[{(ids or ['n1'])[0]}]}}; "
                        f"nodes: {_id_range(ids or [])}",
                    )
                continue
            if full != name or name not in allowed:
                shown = "{" + name + "}" if name else "{}"
                raise self.fail(
                    where,
                    f"unknown placeholder {shown}; allowed: "
                    + " ".join("{" + a + "}" for a in sorted(allowed)),
                )


def node_ids(c: ClusterSettings) -> list[str]:
    """The member ids a cluster config gives: n1..nN, or each group's name plus 1..nodes."""
    if not c.groups:
        return [f"n{i}" for i in range(1, c.nodes + 1)]
    return [f"{name}{i}" for name, g in c.groups.items() for i in range(1, g.nodes + 1)]


def _id_range(ids: list[str]) -> str:
    return ", ".join(ids) if len(ids) <= 8 else f"{ids[0]}..{ids[-1]} ({len(ids)} nodes)"


def _range(spec: Any) -> str:
    if spec.min is not None and spec.max is not None:
        lo = int(spec.min) if float(spec.min).is_integer() else spec.min
        hi = int(spec.max) if float(spec.max).is_integer() else spec.max
        return f" from {lo} to {hi}"
    if spec.min is not None:
        return f" >= {spec.min}"
    if spec.max is not None:
        return f" <= {spec.max}"
    return ""


def _show(value: Any) -> str:
    text = repr(value) if not isinstance(value, str) else f'"{value}"'
    return text if len(text) <= 40 else text[:37] + "..."
