"""The ``nemesis`` fixture in a real pytest subprocess: a test that fails while faults are
in force still ends every one of them (killed node restarted, companion gone), and the
schedule lands in the run directory as the same bytes the schedule renders."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from distlab.events import FaultEnd, FaultStart, NodeStateChanged, read_events
from distlab.nemesis import Schedule, make_fault

TESTS = Path(__file__).parent

CASE = f"""
import sys, time
sys.path.insert(0, {str(TESTS)!r})
import pytest
from cluster_helpers import echo_settings
from distlab.nemesis import Schedule, make_fault

@pytest.fixture
def cluster_settings():
    return echo_settings(nodes=3)

def test_fails_while_faults_are_in_force(cluster, nemesis):
    schedule = Schedule((make_fault("kill", "n2", 0, 60), make_fault("memory", "n1", 0, 60, rss_mb=16)),
                        name="boom")
    n = nemesis(schedule, cluster=cluster).start()
    while len(n.applied) < 2:
        time.sleep(0.02)
    assert str(cluster["n2"].state) == "down"
    raise AssertionError("the test fails while faults are in force")
"""


def test_a_failing_test_still_ends_its_faults(tmp_path: Path) -> None:
    (tmp_path / "test_case.py").write_text(CASE)
    feed = tmp_path / "events.jsonl"
    env = {
        **os.environ,
        "DISTLAB_EVENTS": f"file:{feed}",
        "DISTLAB_SEED": "77",
        "DISTLAB_RUN_DIR": str(tmp_path / "run"),
    }
    for name in ("DISTLAB_LONG", "DISTLAB_CONFIG", "DISTLAB_LAYER"):
        env.pop(name, None)  # defaults: no config.toml in tmp_path
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            str(tmp_path / "test_case.py"),
        ],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
        timeout=120,
    )
    out = done.stdout + done.stderr
    assert done.returncode == 1, out
    assert "the test fails while faults are in force" in out
    assert "LEAK CHECK FAILED" not in out, out

    events = list(read_events(feed))
    starts = [e for e in events if isinstance(e, FaultStart)]
    ends = [e for e in events if isinstance(e, FaultEnd)]
    assert sorted(e.fault for e in starts) == ["kill", "memory"]
    assert sorted(e.id for e in ends) == sorted(e.id for e in starts)
    n2 = [e.state for e in events if isinstance(e, NodeStateChanged) and e.node == "n2"]
    # Killed, restarted when the nemesis ended the fault, then closed with the cluster.
    assert n2.count("up") == 2 and "down,starting,up,down" in ",".join(n2), n2

    (schedule_file,) = (tmp_path / "run").glob("tests/*/nemesis/boom.schedule.json")
    expected = Schedule(
        (make_fault("kill", "n2", 0, 60), make_fault("memory", "n1", 0, 60, rss_mb=16)), name="boom"
    )
    assert schedule_file.read_text() == expected.to_json()
    (history,) = (tmp_path / "run").glob("tests/*/history.jsonl")
    assert history.read_text().count('"fault.end"') == 2


SEEDED_CASE = """
from distlab.nemesis import chaos_monkey

def test_draws_a_schedule(nemesis):
    schedule = chaos_monkey(nemesis.seed, 60, 5, ["kill", "pause", "partition", "latency"])
    schedule.write(nemesis.run_dir)
"""


def _schedule_bytes(tmp_path: Path, seed: str, name: str) -> bytes:
    case = tmp_path / "test_seeded.py"
    case.write_text(SEEDED_CASE)
    env = {**os.environ, "DISTLAB_SEED": seed, "DISTLAB_RUN_DIR": str(tmp_path / name)}
    for var in ("DISTLAB_EVENTS", "DISTLAB_CONFIG", "DISTLAB_LAYER", "DISTLAB_LONG"):
        env.pop(var, None)
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(case)],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    (path,) = (tmp_path / name).glob("tests/*/nemesis/chaos_monkey.schedule.json")
    return path.read_bytes()


def test_the_root_seed_replays_the_same_schedule_byte_for_byte(tmp_path: Path) -> None:
    first = _schedule_bytes(tmp_path, "4242", "a")
    again = _schedule_bytes(tmp_path, "4242", "b")
    other = _schedule_bytes(tmp_path, "4243", "c")
    assert first == again
    assert first != other
    assert len(Schedule.from_json(first.decode())) >= 10
