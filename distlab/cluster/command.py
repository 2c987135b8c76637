"""Render a node's command line from the ``[cluster] command`` template.

Every value is shell-quoted before it is put into the template and the
result is split like a shell would (without running one), so run dirs with
spaces and peer lists with odd separators survive, and the argv is exactly
what the user wrote.
"""

from __future__ import annotations

import shlex
import sys
from dataclasses import dataclass
from pathlib import Path

from distlab.errors import UsageError


@dataclass(frozen=True)
class PeerEntry:
    """One entry of ``{peers}``: the peer's id, index, the port to dial it on and its
    address (``{host}``: 127.0.0.1, or its own address in netns mode)."""

    id: str
    index: int
    port: int
    host: str = "127.0.0.1"


def render_peers(entries: list[PeerEntry], entry_format: str, separator: str) -> str:
    """``{peers}``: each entry rendered from ``peer_format``, joined by ``peer_separator``."""
    return separator.join(
        entry_format.format(id=e.id, index=e.index, port=e.port, host=e.host) for e in entries
    )


def render_command(template: str, values: dict[str, object]) -> list[str]:
    """The argv for one node (or a health command) from ``template`` and ``values``."""
    quoted: dict[str, object] = {
        k: {i: shlex.quote(str(x)) for i, x in v.items()}
        if isinstance(v, dict)
        else shlex.quote(str(v))
        for k, v in values.items()
    }
    quoted.setdefault("python", shlex.quote(sys.executable))
    try:
        text = template.format(**quoted)
    except (KeyError, IndexError, AttributeError) as e:
        raise UsageError(
            f"[cluster] command: unknown placeholder {{{e.args[0]}}}; "
            f"allowed: {' '.join('{' + k + '}' for k in sorted(quoted))}"
        ) from None
    try:
        argv = shlex.split(text)
    except ValueError as e:
        raise UsageError(f"[cluster] command: cannot split {text!r}: {e}") from None
    if not argv:
        raise UsageError("[cluster] command is empty; set it to the command that starts one node")
    return argv


def node_values(
    *,
    node_id: str,
    index: int,
    port: int,
    peer_port: int,
    advertise_port: int,
    peers: str,
    data_dir: Path,
    run_dir: Path,
    group: str = "",
    cluster_token: str = "",
    ports: dict[str, int] | None = None,
    advertise_ports: dict[str, int] | None = None,
    host: str = "127.0.0.1",
) -> dict[str, object]:
    """The placeholder values of one node (``COMMAND_PLACEHOLDERS`` in the loader).

    ``ports`` / ``advertise_ports`` map every node id to its client port and the
    port its peers dial, for commands that name another member
    (``replicaof 127.0.0.1 {advertise_ports[redis1]}``).
    """
    return {
        "id": node_id,
        "host": host,
        "group": group,
        "cluster_token": cluster_token,
        "ports": dict(ports or {}),
        "advertise_ports": dict(advertise_ports or {}),
        "index": index,
        "port": port,
        "peer_port": peer_port,
        "advertise_port": advertise_port,
        "peers": peers,
        "data_dir": data_dir,
        "python": sys.executable,
        "run_dir": run_dir,
    }
