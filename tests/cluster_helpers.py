"""Helpers for the cluster tests: echo-node settings and a line client."""

from __future__ import annotations

import dataclasses
import json
import socket
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from distlab.config.schema import ClusterSettings

ECHO_NODE = Path(__file__).with_name("echo_node.py")
ECHO_COMMAND = (
    f"{{python}} -S {ECHO_NODE} --id {{id}} --port {{port}} --peer-port {{peer_port}} "
    "--peers {peers} --data-dir {data_dir}"
)
# Ingress proxies learn who dials from the echo node's first line.
ECHO_IDENTIFY = r"^(?:HELLO|NOTE) (n\d+)\n"


def echo_settings(extra_args: str = "", **overrides: Any) -> ClusterSettings:
    """Cluster settings that run the echo node; ``overrides`` replace fields."""
    base = ClusterSettings(
        nodes=3,
        command=ECHO_COMMAND + (" " + extra_args if extra_args else ""),
        ingress_identify=ECHO_IDENTIFY,
        start_timeout_s=10.0,
        stop_grace_s=2.0,
    )
    return dataclasses.replace(base, **overrides)


def ask(address: tuple[str, int], line: str, timeout: float = 5.0) -> str:
    """Send one command line to an echo node's client port and return its reply line."""
    with socket.create_connection(address, timeout=timeout) as s:
        s.sendall(line.encode() + b"\n")
        reply = b""
        while not reply.endswith(b"\n"):
            chunk = s.recv(65536)
            if not chunk:
                break
            reply += chunk
    return reply.decode().strip()


def reachable(cluster: Any, timeout_ms: int = 300) -> set[tuple[str, str]]:
    """The measured connectivity: every (src, dst) where src reached dst just now."""
    pairs = set()
    for src in cluster.ids:
        answer = json.loads(ask(cluster.client_address(src), f"PROBEALL {timeout_ms}"))
        pairs |= {(src, dst) for dst, ok in answer.items() if ok}
    return pairs


def directed_reach(
    cluster: Any,
    until: set[tuple[str, str]] | None = None,
    quiet_s: float = 0.3,
    deadline_s: float = 5.0,
    send: str = "NOTEALL",
    heard_verb: str = "HEARD",
) -> set[tuple[str, str]]:
    """The measured one-way connectivity: every (src, dst) where bytes from src arrived at dst.

    Each node sends a one-way NOTE to every peer. Notes are collected until
    every pair in ``until`` has arrived (on a loaded machine that may take a
    while) and then none has come for ``quiet_s`` -- absence can only be seen
    as a quiet window -- or until ``deadline_s`` passes. ``until`` only says
    how long to wait; the caller compares the result. ``send="UGOSSIP",
    heard_verb="UHEARD"`` measures UDP datagrams instead of TCP notes.
    """
    for src in cluster.ids:
        ask(cluster.client_address(src), send)
    want = until or set()
    heard: set[tuple[str, str]] = set()
    last_new = time.monotonic()
    end = last_new + deadline_s
    while time.monotonic() < end:
        before = len(heard)
        for dst in cluster.ids:
            senders = json.loads(ask(cluster.client_address(dst), heard_verb))
            heard |= {(src, dst) for src in senders}
        if len(heard) > before:
            last_new = time.monotonic()
        elif want <= heard and time.monotonic() - last_new >= quiet_s:
            break
        time.sleep(0.02)
    return heard


def wait_for(condition: Callable[[], bool], deadline_s: float = 5.0) -> bool:
    """Poll ``condition`` until it holds or ``deadline_s`` passes; its last value."""
    end = time.monotonic() + deadline_s
    while time.monotonic() < end:
        if condition():
            return True
        time.sleep(0.01)
    return condition()
