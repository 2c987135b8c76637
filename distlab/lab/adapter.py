"""How a lab reaches the system under test: a ``LabAdapter``, named in config as ``module:attr``.

distlab cannot know how to talk to someone's system, and must not import the
shipped reference system either. The adapter lives beside the system (the
reference one in ``suites/support/refsys_client.py``) and is named in
``config.toml``::

    [lab]
    client = "suites.support.refsys_client:adapter"

The module is imported with the config file's directory first on the path,
so a project's own adapter needs no installing. ``distlab lab --client``
names another one the same way.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Protocol, TypedDict, cast

from distlab.errors import UsageError
from distlab.nemesis.targets import RoleProbe
from distlab.workload.client import Client

Address = tuple[str, int]


class NodeView(TypedDict, total=False):
    """A node's own view of itself; a system reports what it knows of these."""

    role: str  # "leader", "follower", "candidate", ...
    term: int | None
    leader: str | None
    quorum: bool  # False: a leader that cannot reach a majority


StatusFn = Callable[[Mapping[str, Address]], dict[str, NodeView]]
EXAMPLE = "suites.support.refsys_client:adapter"


class LabAdapter(Protocol):
    """A workload client factory and a status probe for one system."""

    def make_client(self, process: int, addresses: Mapping[str, Address], seed: int) -> Client:
        """A register-model client (read / write / cas) for logical process ``process``."""
        ...

    def status(self, addresses: Mapping[str, Address]) -> dict[str, NodeView]:
        """Each reachable node's own view; nodes that do not answer are left out."""
        ...


class _Member(Protocol):
    @property
    def state(self) -> object: ...
    @property
    def direct_port(self) -> int: ...


class Members(Protocol):
    """What a role probe needs of a cluster: node ids and each node's own port."""

    @property
    def ids(self) -> Sequence[str]: ...
    def __getitem__(self, node_id: str) -> _Member: ...


def load_adapter(spec: str, base_dir: Path, origin: str) -> LabAdapter:
    """The adapter ``spec`` (``module:attr``) names, imported relative to ``base_dir``.

    ``origin`` says where the spec came from (``config.toml: [lab] client``,
    ``--client``) for the one-line UsageError every mistake becomes.
    """
    module_name, sep, attr = spec.partition(":")
    if not sep or not module_name.strip() or not attr.isidentifier():
        raise UsageError(f"{origin} {spec!r}: write module:attr, e.g. {EXAMPLE}")
    base = str(base_dir.resolve())
    # The config's own directory first: a project's adapter sits beside its config.toml.
    if base not in sys.path:
        sys.path.insert(0, base)
    try:
        module = importlib.import_module(module_name)
    except Exception as e:  # ImportError, or whatever the module raised while importing
        raise UsageError(
            f"{origin} {spec!r}: cannot import {module_name} from {base} ({type(e).__name__}: {e})"
        ) from None
    adapter = getattr(module, attr, None)
    if adapter is None:
        raise UsageError(f"{origin} {spec!r}: module {module_name} has no {attr}")
    missing = [m for m in ("make_client", "status") if not callable(getattr(adapter, m, None))]
    if missing:
        raise UsageError(
            f"{origin} {spec!r}: needs make_client(process, addresses, seed) and "
            f"status(addresses); missing {', '.join(missing)}"
        )
    return cast(LabAdapter, adapter)


def role_of(view: NodeView | None) -> str | None:
    """The role a view claims; a leader that says it has no quorum leads in name only."""
    if not view:
        return None
    role = view.get("role")
    if role == "leader" and view.get("quorum") is False:
        return "leader-without-quorum"  # the nemesis must not aim "leader" faults at it
    return str(role) if role else None


def view_probe_from(status: StatusFn, cluster: Members) -> Callable[[str], NodeView | None]:
    """``probe(node) -> NodeView`` (role, term, leader) from ``status`` on the node's own
    port: what the node table shows of each node during a suites run."""

    def probe(node: str) -> NodeView | None:
        member = cluster[node]
        if str(member.state) != "up":
            return None
        return status({node: ("127.0.0.1", member.direct_port)}).get(node)

    return probe


def role_probe_from(status: StatusFn, cluster: Members) -> RoleProbe:
    """``probe(node) -> role`` for the nemesis: ``status`` asked on the node's own port,
    past any proxy, so a node cut off by a partition still says what it thinks it is."""

    def probe(node: str) -> str | None:
        member = cluster[node]
        if str(member.state) != "up":
            return None
        return role_of(status({node: ("127.0.0.1", member.direct_port)}).get(node))

    return probe
