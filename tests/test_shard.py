"""Sharded CI runs: the split is deterministic and balanced, each shard writes its
own reports, and `distlab merge` of the shards gives the verdict, counts and gates
of the same run unsharded; a missing shard is never a pass."""

from __future__ import annotations

import fnmatch
import json
import shlex
from pathlib import Path

import pytest
import yaml
from test_ci import distlab, write_config

from distlab.cli.main import build_parser
from distlab.errors import UsageError
from distlab.runner.shard import Shard, parse_shard, plan_shard, split

DOCS = Path(__file__).resolve().parents[1] / "docs"
LAYERS = {
    "unit": {"suite": "suites_pass"},
    "concurrency": {"suite": "suites_fail", "required": False},
    "distributed": {"suite": "suites_collect_error", "required": False},
}
GATES = """[gates]
"unit.pass_rate" = "== 1"
"unit.tests" = ">= 5"
"concurrency.pass_rate" = ">= 0.3"
"concurrency.failed" = "<= 1"
"""


def test_a_split_is_deterministic_covers_every_test_once_and_balances() -> None:
    tests = [f"t.py::test_{i:02}" for i in range(10)]
    shares = split(tests, {}, 3)
    assert shares == split(list(tests), {}, 3)
    assert sorted(t for s in shares for t in s) == tests
    assert [len(s) for s in shares] == [4, 3, 3]  # no durations: by count
    # With durations the heavy tests spread out first (longest first, least loaded shard).
    durations = {"a": 10.0, "b": 9.0, "c": 1.0, "d": 1.0, "e": 1.0, "f": 8.0}
    by_time = split(list(durations), durations, 2)
    assert by_time == [["a", "c", "d", "e"], ["b", "f"]]
    loads = [sum(durations[t] for t in s) for s in by_time]
    assert loads == [13.0, 17.0]
    # A test the history does not know weighs the median of those it does (4.5 s here).
    assert split(["x", *durations], durations, 2) == [["x", "a", "c", "d", "e"], ["b", "f"]]


def test_a_layer_that_cannot_collect_goes_whole_to_shard_one() -> None:
    collected = {"unit": ["u1", "u2"], "chaos": None}
    one = plan_shard(Shard(1, 3), collected, {})
    three = plan_shard(Shard(3, 3), collected, {})
    assert one.tests == {"unit": ["u1"]} and one.whole == ["chaos"]
    assert three.tests == {} and three.whole == []  # fewer tests than shards
    assert one.to_dict()["collected"] == {"unit": 2}


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("3", "--shard must be K/N, e.g. 2/3 (shard 2 of 3), got '3'"),
        ("0/3", "--shard 0/3: the shard must be 1 to 3"),
        ("4/3", "--shard 4/3: the shard must be 1 to 3"),
        ("1/0", "--shard 1/0: the number of shards must be 1 to 256"),
    ],
)
def test_a_bad_shard_is_a_one_line_usage_error(text: str, message: str) -> None:
    with pytest.raises(UsageError) as e:
        parse_shard(text)
    assert e.value.message == message
    assert parse_shard(" 2 / 3 ") == Shard(2, 3)


def _summary(path: Path) -> dict:
    return json.loads((path / "summary.json").read_text())


def _shape(summary: dict) -> dict:
    """What must not depend on sharding: verdicts, counts, tests, gate verdicts."""
    return {
        "verdict": (summary["verdict"], summary["exit_code"]),
        "layers": {
            layer["layer"]: (
                layer["outcome"],
                layer["counts"],
                sorted((t["nodeid"], t["outcome"]) for t in layer["tests"]),
            )
            for layer in summary["layers"]
        },
        "gates": [(g["name"], g["status"], g["observed"]) for g in summary["gates"]],
    }


def test_three_shards_merged_equal_the_unsharded_run(tmp_path: Path) -> None:
    config = write_config(tmp_path, LAYERS, GATES)
    whole = distlab(tmp_path, "--ci", "--config", str(config))
    assert whole.returncode == 1, whole.stdout + whole.stderr
    expected = _shape(_summary(tmp_path / "reports"))
    # concurrency (optional) and distributed (a collection error) failed; no gate did.
    assert expected["verdict"] == ("fail", 1)
    shard_dirs = []
    for k in (1, 2, 3):
        done = distlab(tmp_path, "--ci", "--config", str(config), "--shard", f"{k}/3")
        out = tmp_path / "reports" / f"shard-{k}-of-3"
        assert (out / "summary.json").exists(), done.stdout + done.stderr
        assert f"distlab: shard {k}/3 runs " in done.stdout
        shard = _summary(out)
        assert shard["gates"] == [] and shard["shard"]["index"] == k
        shard_dirs.append(str(out))
    assigned = [_summary(Path(d))["shard"]["assigned"] for d in shard_dirs]
    unit = [a.get("unit", 0) for a in assigned]
    collected = _summary(Path(shard_dirs[0]))["shard"]["collected"]["unit"]
    assert sum(unit) == collected and max(unit) - min(unit) <= 1  # dealt out by count
    merged = distlab(tmp_path, "merge", "--config", str(config), "--out", "merged", *shard_dirs)
    assert merged.returncode == expected["verdict"][1], merged.stdout + merged.stderr
    assert merged.stdout.startswith("distlab: merged shards 1, 2, 3 of 3\n")
    assert _shape(_summary(tmp_path / "merged")) == expected
    assert (tmp_path / "merged" / "junit.xml").exists()


def test_a_missing_shard_leaves_its_gates_not_evaluated_and_the_run_incomplete(
    tmp_path: Path,
) -> None:
    config = write_config(tmp_path, {"unit": LAYERS["unit"]}, GATES.split('"concurrency')[0])
    for k in (1, 3):
        distlab(tmp_path, "--ci", "--config", str(config), "--shard", f"{k}/3")
    dirs = [str(tmp_path / "reports" / f"shard-{k}-of-3") for k in (1, 3)]
    merged = distlab(tmp_path, "merge", "--config", str(config), "--out", "merged", *dirs)
    assert merged.returncode == 4, merged.stdout + merged.stderr
    assert "MISSING 2" in merged.stdout.splitlines()[0]
    summary = _summary(tmp_path / "merged")
    assert summary["verdict"] == "incomplete"
    assert {g["status"] for g in summary["gates"]} == {"not-evaluated"}
    assert summary["gates"][0]["explanation"] == (
        "not evaluated: shard 2/3 is missing (it had tests of layer 'unit')"
    )


def test_merge_refuses_what_is_not_a_set_of_shards(tmp_path: Path) -> None:
    config = write_config(tmp_path, {"unit": LAYERS["unit"]})
    plain = distlab(tmp_path, "--ci", "--config", str(config))
    assert plain.returncode == 0
    not_a_shard = distlab(tmp_path, "merge", "--config", str(config), str(tmp_path / "reports"))
    assert not_a_shard.returncode == 2
    assert not_a_shard.stderr.strip().endswith(
        "summary.json: not from a sharded run (distlab --ci --shard K/N)"
    )
    nothing = distlab(tmp_path, "merge", "--config", str(config), str(tmp_path / "nope"))
    assert nothing.returncode == 2 and "no summary.json" in nothing.stderr
    no_ci = distlab(tmp_path, "--shard", "1/2", "--config", str(config))
    assert no_ci.returncode == 2 and "--shard K/N goes with --ci" in no_ci.stderr


def _distlab_lines(script: str, values: dict[str, str]) -> list[list[str]]:
    out = []
    for line in script.splitlines():
        for name, value in values.items():
            line = line.replace(name, value)
        words = shlex.split(line)
        if words and words[0] == "distlab":
            out.append(words)
    return out


def test_the_sharded_ci_recipes_run_every_shard_and_merge_them_all() -> None:
    github = yaml.safe_load((DOCS / "ci" / "github-actions-sharded.yml").read_text())
    gitlab = yaml.safe_load((DOCS / "ci" / "gitlab-ci-sharded.yml").read_text())
    n = len(github["jobs"]["shard"]["strategy"]["matrix"]["shard"])
    assert n == gitlab["distlab"]["parallel"] == 3
    runs = {
        "github": [
            step["run"] for job in github["jobs"].values() for step in job["steps"] if "run" in step
        ],
        "gitlab": gitlab["distlab"]["script"] + gitlab["distlab-merge"]["script"],
    }
    for name, scripts in runs.items():
        lines = []
        for k in range(1, n + 1):
            values = {
                "${{ matrix.shard }}": str(k),
                "${{ github.run_number }}": "7",
                "$CI_NODE_INDEX": str(k),
                "$CI_NODE_TOTAL": str(n),
                "$CI_PIPELINE_IID": "7",
            }
            lines += [w for s in scripts for w in _distlab_lines(s, values)]
        shards = {tuple(w) for w in lines if "--shard" in w}
        assert len(shards) == n, name  # one command per shard, each a different K
        parsed = [build_parser().parse_args(w[1:]) for w in shards]
        assert sorted(parse_shard(a.shard).index for a in parsed) == list(range(1, n + 1))
        assert all(a.ci and a.seed == 7 for a in parsed), "every shard gets the same seed"
        (merge,) = {tuple(w) for w in lines if w[1] == "merge"}
        args = build_parser().parse_args(merge[1:])
        assert args.expected == n, name
        # Every shard's reports reach the merge: named one by one, or by a shell glob
        # that matches where each shard's artifact lands.
        landed = [
            f"shards/distlab-shard-{k}/reports/shard-{k}-of-{n}"
            if name == "github"
            else f"reports/shard-{k}-of-{n}"
            for k in range(1, n + 1)
        ]
        for where in landed:
            assert any(fnmatch.fnmatch(where, given) for given in args.shards), (name, where)
    # GitLab keeps every shard's reports under its own directory, so they do not collide.
    assert "reports/" in gitlab["distlab"]["artifacts"]["paths"]
    assert gitlab["distlab-merge"]["artifacts"]["reports"]["junit"] == "reports/junit.xml"


def test_ci_md_shows_the_sharded_recipes_unchanged() -> None:
    text = (DOCS / "ci.md").read_text()
    for name in ("github-actions-sharded.yml", "gitlab-ci-sharded.yml"):
        assert f"```yaml\n{(DOCS / 'ci' / name).read_text()}```" in text
