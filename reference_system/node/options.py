"""Command-line options of ``python -m reference_system.node``.

Every mistake is one line naming the flag and what it allows (the node then
exits 2), because the lab shows this line as the reason a node did not start.
"""

from __future__ import annotations

import argparse
import re
from dataclasses import dataclass, field
from pathlib import Path

from reference_system import bugs

NODE_ID = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")


class OptionsError(Exception):
    """A bad command line or environment; the message is one line."""


@dataclass(frozen=True)
class NodeOptions:
    """Everything a node needs to start."""

    id: str
    port: int
    peer_port: int
    peers: dict[str, tuple[str, int]]
    data_dir: Path
    host: str = "127.0.0.1"
    tick_ms: float = 15.0
    election_ticks: int = 10  # 10-20 ticks of 15 ms: election timeouts of 150-300 ms
    heartbeat_ticks: int = 3
    request_timeout_s: float = 3.0
    snapshot_entries: int = 20_000
    bugs: frozenset[str] = field(default_factory=frozenset)


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        raise OptionsError(message)


def _port(flag: str, text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = -1
    if not 1 <= value <= 65535:
        raise OptionsError(f"{flag} must be a port number from 1 to 65535, got {text!r}")
    return value


def parse_peers(text: str, self_id: str) -> dict[str, tuple[str, int]]:
    """``n2=127.0.0.1:7002,n3=...`` -> {id: (host, port)}; this node's own entry is dropped."""
    peers: dict[str, tuple[str, int]] = {}
    for item in (part.strip() for part in text.split(",")):
        if not item:
            continue
        pid, sep, addr = item.partition("=")
        host, colon, port = addr.rpartition(":")
        if not sep or not colon or not host or not NODE_ID.match(pid):
            raise OptionsError(
                f"--peers: bad entry {item!r}; expected id=host:port, comma-separated"
            )
        if pid in peers:
            raise OptionsError(f"--peers: {pid!r} appears twice")
        if pid != self_id:
            peers[pid] = (host, _port(f"--peers ({pid})", port))
    return peers


def parse(argv: list[str], env_bugs: str | None = None) -> NodeOptions:
    """Parse the command line (and ``REFSYS_BUGS``); ``OptionsError`` on any mistake."""
    p = _Parser(prog="python -m reference_system.node", add_help=True)
    p.add_argument("--id", required=True, help="this node's id, e.g. n1")
    p.add_argument("--port", required=True, help="client port")
    p.add_argument("--peer-port", required=True, help="port peers connect to")
    p.add_argument("--peers", default="", help="id=host:port,... for every other node")
    p.add_argument("--data-dir", required=True, help="where the log and snapshots live")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on")
    p.add_argument("--tick-ms", default="15", help="length of one Raft tick")
    p.add_argument(
        "--election-ticks", default="10", help="election timeout is 1-2x this many ticks"
    )
    p.add_argument(
        "--snapshot-entries", default="20000", help="snapshot the state after this many log entries"
    )
    p.add_argument(
        "--request-timeout",
        default="3",
        help="seconds a request may wait for its commit, read round or forwarded answer",
    )
    args = p.parse_args(argv)
    if not NODE_ID.match(args.id):
        raise OptionsError(f"--id must be 1-64 letters, digits, '_', '.' or '-', got {args.id!r}")
    try:
        tick_ms = float(args.tick_ms)
        election = int(args.election_ticks)
        snapshot_entries = int(args.snapshot_entries)
        request_timeout = float(args.request_timeout)
    except ValueError:
        raise OptionsError(
            "--tick-ms and --request-timeout must be numbers; "
            "--election-ticks and --snapshot-entries whole numbers"
        ) from None
    if not 0.05 <= request_timeout <= 600:
        raise OptionsError(
            f"--request-timeout must be from 0.05 to 600 seconds, got {args.request_timeout!r}"
        )
    if not 10 <= snapshot_entries <= 10_000_000:
        raise OptionsError(
            f"--snapshot-entries must be from 10 to 10000000, got {args.snapshot_entries!r}"
        )
    if not 1 <= tick_ms <= 1000:
        raise OptionsError(f"--tick-ms must be from 1 to 1000, got {args.tick_ms!r}")
    if not 4 <= election <= 1000:
        raise OptionsError(f"--election-ticks must be from 4 to 1000, got {args.election_ticks!r}")
    try:
        active = bugs.active(env_bugs)
    except ValueError as exc:
        raise OptionsError(str(exc)) from None
    port = _port("--port", args.port)
    peer_port = _port("--peer-port", args.peer_port)
    if port == peer_port:
        raise OptionsError(f"--port and --peer-port must differ, both are {port}")
    return NodeOptions(
        id=args.id,
        port=port,
        peer_port=peer_port,
        peers=parse_peers(args.peers, args.id),
        data_dir=Path(args.data_dir),
        host=args.host,
        tick_ms=tick_ms,
        election_ticks=election,
        heartbeat_ticks=max(1, election // 3),
        snapshot_entries=snapshot_entries,
        request_timeout_s=request_timeout,
        bugs=active,
    )
