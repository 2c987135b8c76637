"""The lab on top of the nemesis: keys become faults, the session saves a real schedule
and a regression test, and both replay on a fresh real cluster.

The adapter is the shipped one (config.toml's ``[lab] client``), on a real
3-node reference cluster; nothing may be left running.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

from distlab import proc
from distlab.config.loader import load
from distlab.errors import UsageError
from distlab.lab.adapter import load_adapter, role_of
from distlab.lab.record import REGRESSION_FILE, SCHEDULE_FILE
from distlab.lab.replay import replay_and_check
from distlab.lab.session import LabSession
from distlab.nemesis import Schedule

ROOT = Path(__file__).resolve().parents[1]
DISTLAB = [sys.executable, "-m", "distlab.cli.main"]


def wait_for(what, why: str, timeout_s: float = 20) -> None:
    deadline = time.monotonic() + timeout_s
    while not what():
        assert time.monotonic() < deadline, f"timed out waiting for {why}"
        time.sleep(0.05)


def test_keys_fault_through_the_nemesis_and_the_saved_session_replays(tmp_path: Path) -> None:
    before = proc.spawned_groups()
    config = load(str(ROOT / "config.toml"))
    client = config.lab.client
    adapter = load_adapter(client, ROOT, "[lab] client")
    live = tmp_path / "live"
    live.mkdir()
    session = LabSession(
        config, adapter, client=client, seed=11, session_dir=live, rate=30, minutes=1
    )
    keys = session.keys
    assert keys.kill("n1").startswith("the lab is still starting")
    try:
        session.bring_up()
        assert session.cluster is not None and session.nemesis is not None
        cluster, nemesis = session.cluster, session.nemesis
        # The menu offers only shapes this 3-node cluster can take; others are refused as they are.
        assert "majorities_ring" not in keys.shapes() and "isolate" in keys.shapes()
        assert keys.partition("majorities_ring") == (
            "partition majorities_ring: partition shape 'majorities_ring' needs at least 4 nodes, got 3"
        )
        isolated = keys.partition("isolate")
        assert isolated is not None and isolated.startswith("partition isolate on n"), isolated
        time.sleep(0.6)
        assert keys.heal() == "healed 1 fault(s): network whole, paused nodes resumed"
        assert keys.kill("n2") == "killed n2 (r restarts it)"
        wait_for(lambda: str(cluster["n2"].state) != "up", "n2 down")
        assert keys.kill("n2") == "n2 is down already (r restarts it)"
        time.sleep(0.6)
        assert keys.restart("n2") == "restarted n2"
        assert str(cluster["n2"].state) == "up"
        assert keys.pause_or_resume("n3") == "paused n3 (p again resumes it)"
        assert str(cluster["n3"].state) == "paused"
        time.sleep(0.3)
        assert keys.pause_or_resume("n3") == "resumed n3"
        assert str(cluster["n3"].state) == "up"
        assert keys.latency(40) == "40 ms latency on every peer link (h heals)"
        time.sleep(0.4)
        # Left in force on purpose: closing the session ends it in the record.
        assert [a.fault.kind for a in nemesis.in_force()] == ["latency"]
        live_applied = [(a.fault.kind, a.nodes) for a in nemesis.applied]
    finally:
        session.close()
    assert not proc.leaked(proc.spawned_groups() - before)

    # The saved schedule is a real Schedule: it loads, in the order the keys were pressed.
    assert sorted(p.name for p in session.saved) == sorted([SCHEDULE_FILE, REGRESSION_FILE])
    saved = Schedule.from_json((live / SCHEDULE_FILE).read_text())
    assert saved.seed == 11 and saved.name == "lab"
    assert [(f.kind, f.target) for f in saved.faults] == [
        ("partition", "one"),
        ("kill", "n2"),
        ("pause", "n3"),
        ("latency", "all"),
    ], saved.describe()
    starts = [f.at_s for f in saved.faults]
    assert starts == sorted(starts) and all(f.duration_s >= 0.2 for f in saved.faults)
    # Each fault window is in the history too, under the nemesis's ids.
    history = (live / "history.jsonl").read_text()
    for n in range(1, 5):
        assert f'"lab/now{n}"' in history

    # Replayed on a fresh cluster: every fault played, on the same nodes, and linearizable.
    outcome = replay_and_check(
        ROOT / "config.toml",
        saved,
        client=client,
        seed=11,
        session_dir=tmp_path / "replay",
        rate=30,
    )
    assert outcome.valid, outcome.explain()
    assert outcome.faults_played == 4 and outcome.ok_ops > 0
    replayed = {(a.fault.kind, tuple(a.nodes)) for a in outcome.played}
    assert replayed == {(kind, tuple(nodes)) for kind, nodes in live_applied}
    assert not proc.leaked(proc.spawned_groups() - before)

    # The regression file runs as it is, in a pytest of its own, and passes.
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            str(live / REGRESSION_FILE),
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-2000:]
    assert "1 passed" in run.stdout


def test_a_replay_that_cannot_play_its_faults_is_not_valid(tmp_path: Path) -> None:
    # n9 does not exist in a 3-node cluster: the nemesis refuses before anything runs.
    config = ROOT / "config.toml"
    schedule = Schedule.from_json(
        '{"faults": [{"kind": "kill", "target": "n9", "at_s": 0.5, "duration_s": 1}], "seed": 1}'
    )
    before = proc.spawned_groups()
    with pytest.raises(UsageError, match="unknown node 'n9'"):
        replay_and_check(
            config,
            schedule,
            client="suites.support.refsys_client:adapter",
            seed=1,
            session_dir=tmp_path,
        )
    assert not proc.leaked(proc.spawned_groups() - before)


# -- the adapter named in config -------------------------------------------------------


def test_the_adapter_is_imported_relative_to_the_config_directory(tmp_path: Path) -> None:
    (tmp_path / "lab_adapter_ok.py").write_text(
        "class A:\n"
        "    def make_client(self, process, addresses, seed): return None\n"
        "    def status(self, addresses): return {}\n"
        "adapter = A()\n"
    )
    adapter = load_adapter("lab_adapter_ok:adapter", tmp_path, "--client")
    assert adapter.status({}) == {}


@pytest.mark.parametrize(
    ("source", "spec", "message"),
    [
        ("", "lab_adapter_plain", "write module:attr, e.g. suites.support.refsys_client:adapter"),
        ("", "lab_adapter_nosuch:adapter", "cannot import lab_adapter_nosuch from"),
        ("raise RuntimeError('boom')\n", "lab_adapter_boom:adapter", "RuntimeError: boom"),
        ("x = 1\n", "lab_adapter_noattr:adapter", "module lab_adapter_noattr has no adapter"),
        (
            "class A:\n    def status(self, addresses): return {}\nadapter = A()\n",
            "lab_adapter_half:adapter",
            "missing make_client",
        ),
    ],
)
def test_a_bad_adapter_is_a_one_line_usage_error(
    tmp_path: Path, source: str, spec: str, message: str
) -> None:
    if source:
        (tmp_path / f"{spec.split(':')[0]}.py").write_text(source)
    with pytest.raises(UsageError) as e:
        load_adapter(spec, tmp_path, "config.toml: [lab] client")
    assert message in e.value.message and "\n" not in e.value.message
    assert e.value.message.startswith(f"config.toml: [lab] client {spec!r}: ")


def test_a_leader_without_quorum_is_not_the_leader() -> None:
    assert role_of({"role": "leader", "quorum": True}) == "leader"
    assert role_of({"role": "leader", "quorum": False}) == "leader-without-quorum"
    assert role_of({"role": "follower"}) == "follower"
    assert role_of(None) is None and role_of({}) is None


def test_the_shipped_config_names_the_reference_adapter() -> None:
    config = load(str(ROOT / "config.toml"))
    assert config.lab.client == "suites.support.refsys_client:adapter"
    adapter = load_adapter(config.lab.client, ROOT, "[lab] client")
    assert type(adapter).__name__ == "RefsysAdapter"


def test_an_unknown_lab_key_is_a_config_error(tmp_path: Path) -> None:
    bad = tmp_path / "config.toml"
    bad.write_text('[lab]\nclients = "x:y"\n')
    run = subprocess.run(
        [*DISTLAB, "--config", str(bad), "doctor"], capture_output=True, text=True, timeout=60
    )
    assert run.returncode == 2, run.stdout + run.stderr
    assert "[lab] clients: unknown key; allowed: client" in run.stderr


# -- distlab lab on bad input: one line, exit 2, nothing created ------------------------


@pytest.mark.parametrize(
    ("make", "args", "message"),
    [
        (None, ["--replay", "missing.json"], "--replay missing.json: cannot read it"),
        (
            # The format the lab used to save: refused by Schedule.from_dict then and now.
            '{"seed": 1, "faults": [{"fault": "kill", "params": {}, "end_s": 2}]}',
            ["--replay", "old.json"],
            "--replay old.json: a fault needs kind",
        ),
        ("{", ["--replay", "old.json"], "--replay old.json: schedule is not JSON"),
        (None, ["--client", "nosuch_module_x:adapter"], "--client 'nosuch_module_x:adapter'"),
    ],
)
def test_distlab_lab_refuses_bad_input_in_one_line(
    tmp_path: Path, make: str | None, args: list[str], message: str
) -> None:
    if make is not None:
        (tmp_path / "old.json").write_text(make)
    config = tmp_path / "config.toml"
    runs = tmp_path / "runs"
    text = (
        (ROOT / "config.toml")
        .read_text()
        .replace('run_dir = ".distlab/runs"', f'run_dir = "{runs}"')
    )
    config.write_text(text)
    run = subprocess.run(
        [*DISTLAB, "--config", str(config), "lab", *args],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert run.returncode == 2, run.stdout + run.stderr
    lines = run.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0], run.stderr
    assert "Traceback" not in run.stderr and not runs.exists()


def test_distlab_lab_without_an_adapter_says_where_to_name_one(tmp_path: Path) -> None:
    runs = tmp_path / "runs"
    config = tmp_path / "config.toml"
    config.write_text(f'[project]\nrun_dir = "{runs}"\n[cluster]\ncommand = "true {{port}}"\n')
    run = subprocess.run(
        [*DISTLAB, "--config", str(config), "lab"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert run.returncode == 2, run.stdout + run.stderr
    assert run.stderr.strip() == (
        f'distlab: error: {config}: [lab] client is not set; name your system\'s adapter ("module:attr") '
        "there or pass --client"
    )
    assert not runs.exists()
