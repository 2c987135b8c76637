"""The config loader: the shipped config loads, every broken file in
tests/data/bad_configs gives exit 2 and one line naming the key, and random
mutations of a valid config never crash the loader."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from distlab.cli.main import main
from distlab.config import LAYERS, load, loads
from distlab.errors import ConfigError

ROOT = Path(__file__).resolve().parents[1]
BAD = ROOT / "tests" / "data" / "bad_configs"

# file -> (line the message must point at, text the message must contain)
EXPECTED = {
    "01_nodes_string": (2, "[cluster] nodes: must be a whole number from 1 to 64"),
    "02_nodes_zero": (2, "[cluster] nodes: must be a whole number from 1 to 64, got 0"),
    "03_nodes_too_many": (2, "[cluster] nodes:"),
    "04_unknown_section": (1, "[clusters]: unknown section; allowed:"),
    "05_unknown_key": (2, "[cluster] node: unknown key; allowed: nodes,"),
    "06_bad_topology": (
        2,
        "[cluster] topology: 'tree' is not allowed; allowed: ring | star | mesh | custom",
    ),
    "07_custom_no_links": (2, "[cluster] topology: custom topology needs links"),
    "08_bad_link": (3, "[cluster] links: 'n1 to n2' is not a link"),
    "09_link_out_of_range": (4, "[cluster] links: 'n1->n4' names a node outside n1..n3"),
    "10_unknown_placeholder": (2, "[cluster] command: unknown placeholder {listen}"),
    "11_bad_template_brace": (2, "[cluster] command: bad template"),
    "12_ingress_no_identify": (2, "[cluster] wiring: ingress wiring needs ingress_identify"),
    "13_bad_regex": (3, "[cluster] ingress_identify: not a valid regex"),
    "14_timeout_negative": (
        2,
        "[cluster] start_timeout_s: must be a number from 0.1 to 600, got -1",
    ),
    "15_bool_as_string": (2, '[network] proxy_process: must be true or false, got "yes"'),
    "16_pg_binaries": (
        2,
        "[postgres] binaries: 'docker' is not allowed; allowed: auto | system | embedded",
    ),
    "17_unknown_layer": (1, "[suites] integration: unknown layer; allowed: unit, concurrency"),
    "18_reruns_too_many": (3, "[suites.unit] reruns: must be a whole number from 0 to 10, got 99"),
    "19_paths_not_list": (2, '[suites.unit] paths: must be a list of strings, got "suites/unit"'),
    "20_invalid_toml": (3, "invalid TOML"),
    "21_gate_not_condition": (2, '[gates] unit.pass_rate: must be a condition such as "< 50"'),
    "22_gate_table_unknown": (2, "[gates] unit.pass_rate: unknown key 'abort'"),
    "23_env_not_strings": (2, "[cluster] env: must be a table of strings"),
    "24_section_not_table": (1, "[cluster]: must be a table"),
    "25_health_command_missing": (2, '[cluster] health_check: "command" needs health_command'),
    "26_order_float": (2, "[suites.unit] order: must be a whole number from 0 to 1000, got 1.5"),
    "27_duplicate_key": (3, "invalid TOML"),
    "28_suite_not_table": (2, "[suites] unit: must be a table"),
    "60_scenario_unknown_fault": (
        5,
        "[scenarios.monkey] faults: unknown fault 'explode'; allowed:",
    ),
    "61_scenario_unknown_target": (
        4,
        "[scenarios.timeline] schedule: fault kill: unknown target 'king'",
    ),
    "62_scenario_unknown_metric": (
        5,
        "[scenarios.monkey] criteria: unknown criterion metric 'throughput'; allowed: availability",
    ),
    "63_scenario_schedule_too_long": (
        5,
        "[scenarios.short] schedule: schedule 'short': partition at 8 s ends at 13 s, longer than",
    ),
    "64_scenario_unknown_key": (4, "[scenarios.monkey] interval: unknown key; allowed: title"),
    "65_scenario_bad_condition": (
        5,
        "criterion availability: condition 'at least 0.8': unknown aggregate 'at'",
    ),
    "66_scenario_negative_latency": (4, "fault latency: ms must be from 0 to 60000, got -5"),
    "67_scenario_criterion_aggregate": (
        5,
        "criterion p95_ms: 'p(95) < 500' uses the aggregate p(95); a criterion judges one",
    ),
    "68_scenario_criterion_baseline": (
        5,
        "criterion availability: '>= baseline * 0.9' uses baseline; a scenario has no baseline",
    ),
    # Inputs that gave a traceback once (issue 14 item 8). None: tomllib gives no line.
    "29_command_only_quote": (2, "[cluster] command: cannot be split like a shell line"),
    "30_command_only_spaces": (2, "[cluster] command: is blank"),
    "31_command_nul": (2, "[cluster] command: must not contain a NUL character"),
    "32_env_nul": (2, "[cluster] env: must not contain a NUL character"),
    "33_data_dir_nul": (2, "[cluster] data_dir: must not contain a NUL character"),
    "34_nodes_5000_digits": (None, "invalid TOML: Exceeds the limit (4300 digits)"),
    "35_deep_nesting": (None, "invalid TOML: arrays or tables nested too deeply"),
}


def test_every_bad_config_has_an_expectation() -> None:
    files = {p.stem for p in BAD.glob("*.toml")}
    assert files == set(EXPECTED)
    assert len(files) >= 20


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_bad_config_is_one_line_naming_the_key(
    name: str, capsys: pytest.CaptureFixture[str]
) -> None:
    path = BAD / f"{name}.toml"
    line, text = EXPECTED[name]
    with pytest.raises(ConfigError) as raised:
        load(path)
    message = raised.value.message
    assert message.startswith(f"{path}:{line}: " if line else f"{path}: "), message
    assert text in message, message
    assert "\n" not in message

    # The same file through the CLI: exit 2, exactly one line on stderr, no traceback.
    code = main(["doctor", "--config", str(path)])
    err = capsys.readouterr().err
    assert code == 2
    assert err.count("\n") == 1, err
    assert err.startswith("distlab: error: ") and text in err
    assert "Traceback" not in err


def test_bad_config_from_a_real_process_has_no_traceback() -> None:
    path = BAD / "01_nodes_string.toml"
    proc = subprocess.run(
        [sys.executable, "-m", "distlab.cli.main", "doctor", "--config", str(path)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [
        f'distlab: error: {path}:2: [cluster] nodes: must be a whole number from 1 to 64, got "five"'
    ]


def test_missing_and_directory_config() -> None:
    with pytest.raises(ConfigError, match=r"no such file; create it or pass --config PATH"):
        load(BAD / "nope.toml")
    with pytest.raises(ConfigError, match="is a directory"):
        load(BAD)


def test_shipped_config_drives_every_layer() -> None:
    config = load(ROOT / "config.toml")
    assert config.ordered_layers() == list(LAYERS)
    assert "{peers}" in config.cluster.command
    assert all(config.suites[layer].paths for layer in LAYERS)


def test_defaults_and_values() -> None:
    config = loads(
        "[cluster]\nnodes = 5\n[suites.chaos]\nreruns = 2\norder = 1\n[suites.unit]\norder = 2\n"
    )
    assert config.cluster.nodes == 5
    assert config.cluster.topology == "mesh"
    assert config.suites["chaos"].reruns == 2
    assert config.ordered_layers() == ["chaos", "unit"]
    assert config.gates == []


def test_gate_forms() -> None:
    config = loads(
        '[gates]\n"unit.pass_rate" = "== 1"\n'
        '"performance.put_ms" = ["p(95) < 50", "avg < 20"]\n'
        '"chaos.availability" = { threshold = ">= 0.8", abort_on_fail = true }\n'
    )
    by_metric = {g.metric: g for g in config.gates}
    assert by_metric["unit.pass_rate"].conditions == ["== 1"]
    assert by_metric["performance.put_ms"].conditions == ["p(95) < 50", "avg < 20"]
    assert by_metric["chaos.availability"].abort_on_fail is True
    assert by_metric["chaos.availability"].line == 4


def test_suite_tables_carry_their_line_which_is_not_a_key() -> None:
    config = loads("[cluster]\nnodes = 3\n\n[suites.unit]\npaths = ['t']\n[suites.chaos]\n")
    assert (config.suites["unit"].line, config.suites["chaos"].line) == (4, 6)
    with pytest.raises(ConfigError, match=r"config.toml:2: \[suites.unit\] line: unknown key"):
        loads("[suites.unit]\nline = 9\n")


VALID = (ROOT / "config.toml").read_text(encoding="utf-8")
LINES = VALID.splitlines()

toml_values = st.one_of(
    st.integers(min_value=-(2**70), max_value=2**70).map(str),
    st.floats(allow_nan=True, allow_infinity=True).map(lambda f: repr(f).replace("inf", "inf")),
    st.text(max_size=20).map(lambda s: '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'),
    st.sampled_from(["true", "false", "[]", "{}", '["a", 1]', "{ a = 1 }", "nan", "-inf", '""']),
    # Values that once crashed the loader (issue 14 item 8): a lone quote, blanks,
    # NUL in a string, a 5000-digit number, nesting deeper than the parser's recursion.
    st.sampled_from(
        ['"\\""', '"   "', '"a\\u0000b"', '{ A = "x\\u0000" }', '["\\u0000"]', "9" * 5000]
    ),
    st.integers(min_value=1, max_value=3000).map(lambda n: "[" * n + "]" * n),
    st.text(max_size=10),
)


@st.composite
def mutated_configs(draw: st.DrawFn) -> str:
    lines = list(LINES)
    for _ in range(draw(st.integers(min_value=1, max_value=4))):
        i = draw(st.integers(min_value=0, max_value=len(lines) - 1))
        op = draw(st.sampled_from(["delete", "duplicate", "value", "key", "garbage", "header"]))
        if op == "delete":
            del lines[i]
        elif op == "duplicate":
            lines.insert(i, lines[i])
        elif op == "value" and "=" in lines[i]:
            key = lines[i].split("=", 1)[0]
            lines[i] = f"{key}= {draw(toml_values)}"
        elif op == "key":
            name = draw(st.from_regex(r"[a-z_]{1,12}", fullmatch=True))
            lines.insert(i, f"{name} = {draw(toml_values)}")
        elif op == "garbage":
            lines.insert(i, draw(st.text(max_size=30)))
        else:
            section = draw(st.from_regex(r"[a-z_.]{1,20}", fullmatch=True))
            lines.insert(i, f"[{section}]")
        if not lines:
            break
    return "\n".join(lines)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mutated_configs())
def test_mutated_configs_never_crash_the_loader(text: str) -> None:
    try:
        config = loads(text)
    except ConfigError as e:
        # Every rejection is one line that says where.
        assert "\n" not in e.message
        assert re.match(r"^config\.toml(:\d+)?: ", e.message), e.message
    else:
        assert 1 <= config.cluster.nodes <= 64
