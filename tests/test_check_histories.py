"""Hand-made histories with known verdicts, bad input, and the `distlab check` command."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from distlab.checkers import KV, HistoryError, Register, Verdict, check_linearizable, load
from distlab.cli.main import main
from distlab.workload.simulate import hard_history

DATA = Path(__file__).parent / "data" / "histories"
MODELS = {"register": Register(), "kv": KV()}


def _cases() -> list[tuple[str, Path, Verdict]]:
    cases = []
    for model in MODELS:
        for path in sorted((DATA / model).glob("*.jsonl")):
            expected = Verdict(path.name.split("_", 1)[0])
            cases.append((model, path, expected))
    return cases


@pytest.mark.parametrize(
    ("model", "path", "expected"), _cases(), ids=lambda v: getattr(v, "stem", None)
)
def test_hand_made_history_has_its_known_verdict(model: str, path: Path, expected: Verdict) -> None:
    result = check_linearizable(load(path, MODELS[model]), MODELS[model])
    assert result.verdict is expected, result.summary()
    if expected is Verdict.INVALID:
        cx = result.invalid[0].counterexample
        assert cx is not None and cx.blocked is not None
        assert "cannot" in cx.text()


def test_only_the_bad_key_is_blamed() -> None:
    result = check_linearizable(load(DATA / "register/invalid_multi_key_one_bad.jsonl"), Register())
    assert [k.key for k in result.invalid] == ["b"]
    as_json = json.loads(json.dumps(result.to_dict()))
    assert as_json["verdict"] == "invalid" and len(as_json["keys"]) == 3
    assert {k.key: k.verdict for k in result.keys}["a"] is Verdict.VALID


def test_counterexample_is_the_shortest_failing_prefix() -> None:
    # The stale read is on line 5-6; the ops after it must not be in the counterexample.
    recs = [json.loads(line) for line in (DATA / "register/invalid_stale_read.jsonl").open()]
    t = recs[-1]["time"]
    recs += [
        {"process": 0, "type": "invoke", "f": "write", "key": "x", "value": 9, "time": t + 10},
        {"process": 0, "type": "ok", "f": "write", "key": "x", "value": 9, "time": t + 20},
    ]
    from distlab.checkers import from_records

    result = check_linearizable(from_records(recs), Register())
    cx = result.invalid[0].counterexample
    assert cx is not None
    assert cx.cut == t
    assert [op.value for op in cx.longest] == [1, 2]
    assert cx.blocked is not None and cx.blocked.output == 1


BAD = {
    "unmatched_completion": ":3: ok for process 1 matches no open invoke",
    "time_backwards": ":3: time goes backwards",
    "unknown_f": ":3: unknown f 'increment'",
    "malformed_json": ":2: malformed JSON",
    "empty": ": empty history",
    "invoke_twice": ":2: process 0 invoked again",
    "bad_type": ":2: type must be one of",
    "cas_not_pair": ":1: cas value must be [expected, new]",
    "missing_time": ":2: time must be a finite number",
    "time_nan": ":1: time must be a finite number of nanoseconds >= 0, got NaN",
    "time_infinite": ":2: time must be a finite number of nanoseconds >= 0, got Infinity",
    "garbage_only": ": no complete record; its only line is torn or not JSON",
    "not_an_object": ":2: expected a JSON object",
    "completion_f_mismatch": ":2: ok f 'read' does not match",
}


@pytest.mark.parametrize("name", sorted(BAD))
def test_bad_input_is_one_line_naming_the_line(name: str) -> None:
    path = DATA / "bad" / f"{name}.jsonl"
    with pytest.raises(HistoryError) as e:
        load(path, Register())
    assert BAD[name] in e.value.message
    assert "\n" not in e.value.message
    assert e.value.exit_code == 2


def test_cli_exit_codes_and_output(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    valid = DATA / "register/valid_cas_chain.jsonl"
    invalid = DATA / "register/invalid_stale_read.jsonl"
    assert main(["check", "--model", "register", str(valid)]) == 0
    out = capsys.readouterr().out
    assert "valid (4 ops, 1 keys" in out and "cas" in out and "p50" in out  # verdict and stats
    assert main(["check", "--model", "register", "--html-dir", str(tmp_path), str(invalid)]) == 1
    out = capsys.readouterr().out
    assert "then this op must take effect and cannot" in out
    page = (tmp_path / "invalid_stale_read.timeline.html").read_text()
    assert "class='op blocked'" in page and "read -&gt; 1" in page
    # the drawing is well-formed SVG: three bars in three lanes, inside the picture
    import xml.etree.ElementTree as ET

    start = page.index("<svg class='window'")
    svg = ET.fromstring(page[start : page.index("</svg>", start) + 6])
    ns = "{http://www.w3.org/2000/svg}"
    rects = svg.findall(f".//{ns}rect")
    width = float(svg.get("width", 0))
    assert len(rects) == 3 and len({r.get("y") for r in rects}) == 3
    assert all(
        0 <= float(r.get("x", -1)) <= float(r.get("x", 0)) + float(r.get("width", 0)) <= width
        for r in rects
    )


def test_timeline_zooms_on_the_violation_with_an_axis_and_an_overview(tmp_path: Path) -> None:
    import random

    from distlab.checkers import timeline
    from distlab.workload.simulate import mutate_read, simulate

    rng = random.Random(0)  # a 1000-op history whose violation is early (about op 125)
    recs = simulate(rng, ops=1000, clients=8, timeout_rate=0.02)
    mutate_read(rng, recs)
    from distlab.checkers import from_records

    result = check_linearizable(from_records(recs, model=Register()), Register())
    cx = result.invalid[0].counterexample
    assert cx is not None and cx.blocked is not None
    page = timeline.render(result, "h")
    assert "<svg class='overview'" in page and "<svg class='window'" in page
    window = page[page.index("<svg class='window'") :]
    bars = window.count("<g class='op")
    # zoomed: the blocked op and its neighbourhood, not the whole prefix
    assert 1 < bars < len(cx.ops) / 4, (bars, len(cx.ops))
    assert "class='op blocked'" in window and ">cut<" in window
    assert window.count("text-anchor='middle' fill='#555'") >= 3  # axis ticks
    w0, w1 = cx.window()
    assert w1 == cx.cut and cx.blocked.call >= w0
    # an op still open at the cut is labelled as such, not as an info op
    running = [op for op in cx.ops if op.type == "running"]
    assert running and "(running at the cut)" in cx.describe(running[0])


def test_cli_several_files_one_line_each_worst_exit(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(
        ["check", "--model", "register", "--html-dir", str(tmp_path), str(DATA / "register")]
    )
    out = capsys.readouterr().out.splitlines()
    verdict_lines = [line for line in out if line.startswith(str(DATA))]
    assert len(verdict_lines) == len(list((DATA / "register").glob("*.jsonl")))
    assert all(" s" in line.rsplit(" in ", 1)[-1] for line in verdict_lines)  # check time
    assert code == 1
    # bad input outranks invalid, and the other files are still checked
    code = main(
        [
            "check",
            "--model",
            "register",
            str(DATA / "bad/empty.jsonl"),
            str(DATA / "register/valid_cas_chain.jsonl"),
        ]
    )
    captured = capsys.readouterr()
    assert code == 2
    assert "empty history" in captured.err and "valid_cas_chain.jsonl: valid" in captured.out


def test_cli_unknown_when_out_of_budget(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "hard.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in hard_history()))
    assert main(["check", "--model", "register", "--budget", "0.2", str(path)]) == 4
    assert "unknown (time budget)" in capsys.readouterr().out


def test_cli_usage_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check", "--model", "nope", str(tmp_path)]) == 2
    assert "--model: unknown model 'nope'" in capsys.readouterr().err
    assert main(["check", "--model", "register", str(tmp_path / "missing.jsonl")]) == 2
    assert "no such file" in capsys.readouterr().err
    with pytest.raises(SystemExit) as e:
        main(["check", "--model", "register", "--budget", "soon", str(tmp_path)])
    assert e.value.code == 2


def test_cli_loads_a_user_model(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "counter_model.py").write_text(
        "from distlab.checkers import Model\n"
        "class Counter(Model):\n"
        "    name = 'counter'\n"
        "    functions = frozenset({'incr', 'read'})\n"
        "    read_only = frozenset({'read'})\n"
        "    def init(self):\n"
        "        return 0\n"
        "    def step(self, state, f, value, output):\n"
        "        if f == 'incr':\n"
        "            return True, state + value\n"
        "        return output == state, state\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    recs = [
        {"process": 0, "type": "invoke", "f": "incr", "value": 2, "time": 0},
        {"process": 1, "type": "invoke", "f": "read", "time": 1},
        {"process": 0, "type": "ok", "f": "incr", "value": 2, "time": 5},
        {"process": 1, "type": "ok", "f": "read", "value": 2, "time": 6},
        {"process": 1, "type": "invoke", "f": "read", "time": 7},
        {"process": 1, "type": "ok", "f": "read", "value": 0, "time": 8},
    ]
    path = tmp_path / "counter.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in recs))
    assert (
        main(["check", "--model", "counter_model:Counter", "--html-dir", str(tmp_path), str(path)])
        == 1
    )
    assert "model counter" in capsys.readouterr().out


def test_a_torn_last_line_is_skipped_only_in_files(tmp_path: Path) -> None:
    text = (DATA / "register/invalid_stale_read.jsonl").read_text()
    path = tmp_path / "torn.jsonl"
    path.write_text(text + '{"process": 7, "type": "inv')  # killed mid-write
    history = load(path, Register())
    assert history.torn_tail and len(history.ops) == 3
    assert check_linearizable(history, Register()).verdict is Verdict.INVALID
    from distlab.checkers import parse_lines

    with pytest.raises(HistoryError, match=":7: malformed JSON"):
        parse_lines([*text.splitlines(), '{"process": 7, "type": "inv'])


def test_the_real_command_exits_with_the_verdict(tmp_path: Path) -> None:
    import subprocess
    import sys

    def check(*paths: Path) -> subprocess.CompletedProcess[str]:
        argv = [sys.executable, "-m", "distlab.cli.main", "check", "--model", "register"]
        argv += ["--html-dir", str(tmp_path), *map(str, paths)]
        return subprocess.run(argv, capture_output=True, text=True, check=False, timeout=60)

    ok = check(DATA / "register/valid_cas_chain.jsonl")
    assert ok.returncode == 0 and ": valid (" in ok.stdout
    bad = check(DATA / "bad/time_backwards.jsonl")
    assert bad.returncode == 2 and "Traceback" not in bad.stderr
    assert bad.stderr.strip().count("\n") == 0 and ":3: time goes backwards" in bad.stderr
    unknown = tmp_path / "hard.jsonl"
    unknown.write_text("".join(json.dumps(r) + "\n" for r in hard_history()))
    both = check(DATA / "register/invalid_stale_read.jsonl", unknown, "--budget", "0.2")
    assert both.returncode == 1  # invalid outranks unknown
