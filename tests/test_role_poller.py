"""Roles during suites runs (issue 14 item 4): while a test with a cluster runs,
the cluster fixture asks the system's view probe (or the nemesis's role probe) who
leads, in which term, and emits node.role."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

from distlab import events
from distlab.events import NodeRole, read_events
from distlab.fixtures.cluster import RolePoller
from tests.cluster_helpers import ECHO_COMMAND


def test_roles_are_emitted_when_they_change_and_not_again_until_then(tmp_path: Path) -> None:
    out = tmp_path / "events.jsonl"
    previous = events.redirect(f"file:{out}")
    try:
        answers = {"n1": "leader", "n2": "follower", "n3": None}
        poller = RolePoller(["n1", "n2", "n3"], answers.get)
        poller.poll_once()
        poller.poll_once()  # nothing changed: nothing new
        answers.update(n1="follower", n2="leader")  # a new election
        poller.poll_once()

        def broken(node: str) -> str | None:
            raise ConnectionRefusedError(node)

        poller.probe = broken  # every node down: no role, no leader
        poller.poll_once()
    finally:
        events.redirect(previous)
    roles = [(e.node, e.role, e.leader) for e in read_events(out) if isinstance(e, NodeRole)]
    assert roles == [
        ("n1", "leader", "n1"),
        ("n2", "follower", "n1"),
        ("n3", "", "n1"),
        ("n1", "follower", "n2"),
        ("n2", "leader", "n2"),
        ("n3", "", "n2"),
        ("n1", "", None),
        ("n2", "", None),
        ("n3", "", None),
    ]


def test_a_view_probe_gives_the_term_too(tmp_path: Path) -> None:
    out = tmp_path / "events.jsonl"
    previous = events.redirect(f"file:{out}")
    try:
        views = {
            "n1": {"role": "leader", "term": 3, "leader": "n1"},
            "n2": {"role": "follower", "term": 3},
        }
        poller = RolePoller(["n1", "n2"], views.get)
        poller.poll_once()
        views["n2"] = {"role": "follower", "term": 4}  # a new term is news, the role is not
        poller.poll_once()
    finally:
        events.redirect(previous)
    seen = [(e.node, e.role, e.term) for e in read_events(out) if isinstance(e, NodeRole)]
    assert seen == [("n1", "leader", 3), ("n2", "follower", 3), ("n2", "follower", 4)]


def test_a_suites_test_with_a_cluster_reports_roles(tmp_path: Path) -> None:
    """A real pytest run of a test with the `cluster` fixture and a role probe."""
    suite = tmp_path / "check_roles.py"
    suite.write_text(
        textwrap.dedent(
            f"""
            import time
            import pytest

            @pytest.fixture
            def nemesis_role_probe(cluster):
                return lambda node: "leader" if node == "n2" else "follower"

            @pytest.mark.cluster(nodes=3, command={ECHO_COMMAND!r})
            def test_runs_a_while(cluster):
                time.sleep(0.5)
            """
        )
    )
    out = tmp_path / "events.jsonl"
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(suite)],
        cwd=tmp_path,
        env={**os.environ, "DISTLAB_EVENTS": f"file:{out}"},
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    roles = {e.node: (e.role, e.leader) for e in read_events(out) if isinstance(e, NodeRole)}
    assert roles == {"n1": ("follower", "n2"), "n2": ("leader", "n2"), "n3": ("follower", "n2")}
