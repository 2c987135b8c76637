"""Small helpers shared by the suites that drive the reference KV cluster.

The ``kv`` fixture wraps the ``cluster`` fixture with an event loop and the
reference client, so tests read top to bottom without ``async`` plumbing:

    def test_x(cluster, kv):
        leader = kv.leader()
        assert kv.run(kv.client().put("x", 1)).ok
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Coroutine, Iterator
from typing import Any, TypeVar

import pytest

from reference_system.client import Client

T = TypeVar("T")


def _loop_factory() -> Callable[[], asyncio.AbstractEventLoop] | None:
    # uvloop when it is there: the test process is also the load generator.
    try:
        import uvloop
    except ImportError:
        return None
    return uvloop.new_event_loop


class KV:
    """A cluster, an event loop and clients for it; everything closed at teardown."""

    def __init__(self, cluster: Any) -> None:
        self.cluster = cluster
        self._runner = asyncio.Runner(loop_factory=_loop_factory())
        self._clients: list[Client] = []
        self._probe: Client | None = None

    def addresses(self) -> dict[str, tuple[str, int]]:
        """Client address of every node."""
        return {i: self.cluster.client_address(i) for i in self.cluster.ids}

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        """Run ``coro`` on this test's event loop."""
        return self._runner.run(coro)

    def client(self, **kw: Any) -> Client:
        """A new client for the whole cluster (closed at teardown)."""
        c = Client(self.addresses(), **kw)
        self._clients.append(c)
        return c

    @property
    def probe(self) -> Client:
        """A client with short timeouts for status polling."""
        if self._probe is None:
            self._probe = self.client(timeout=1.0, attempt_timeout=0.5)
        return self._probe

    def status(self, node: str) -> dict[str, Any] | None:
        """``node``'s status, or None if it does not answer."""
        try:
            return self.run(self.probe.status(node, timeout=0.5))
        except Exception:
            return None

    def statuses(self, nodes: list[str] | None = None) -> dict[str, dict[str, Any] | None]:
        """Status of each of ``nodes`` (default: all)."""
        return {n: self.status(n) for n in nodes or self.cluster.ids}

    def wait(self, what: str, check: Callable[[], T], timeout: float = 10.0) -> T:
        """Poll ``check`` until it returns something truthy; fail naming ``what`` and the last value."""
        deadline = time.monotonic() + timeout
        last: Any = None
        while True:
            last = check()
            if last:
                return last
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"timed out after {timeout:.0f} s waiting for {what}; last: {last!r}"
                )
            time.sleep(0.05)

    def leader(self, nodes: list[str] | None = None, timeout: float = 20.0) -> str:
        """Wait until ``nodes`` (default: all) agree on one of them as leader, with quorum; return it."""
        nodes = nodes or list(self.cluster.ids)
        seen: dict[str, Any] = {}
        links: dict[str, Any] = {}

        def agreed() -> str | None:
            sts = self.statuses(nodes)
            seen.clear()
            seen.update(
                {n: s and (s["role"], s["term"], s["leader"], s["quorum"]) for n, s in sts.items()}
            )
            links.update({n: s.get("links") for n, s in sts.items() if s})
            leaders = {s.get("leader") if s else None for s in sts.values()}
            if len(leaders) != 1 or None in leaders:
                return None
            leader = leaders.pop()
            st = sts.get(leader)
            ok = all(s and s["quorum"] and s["operational"] for s in sts.values())
            return leader if ok and st is not None and st["role"] == "leader" else None

        try:
            return self.wait(f"one leader agreed by {nodes}", agreed, timeout)
        except AssertionError as exc:
            raise AssertionError(
                f"{exc}; (role, term, leader, quorum) by node: {seen}; links: {links}"
            ) from None

    def local_value(self, node: str, key: str) -> Any:
        """``node``'s own applied value of ``key`` (None when absent or unreachable)."""
        try:
            return self.run(self.probe.local_get(node, key)).get("value")
        except Exception:
            return None

    def close(self) -> None:
        for c in self._clients:
            self._runner.run(c.close())
        self._runner.close()


@pytest.fixture
def cluster_view_probe(request: pytest.FixtureRequest) -> Any:
    """The reference node's own status (role, term, leader) for the node table."""
    if "cluster" not in request.fixturenames:
        return None
    from support.refsys_client import view_probe

    return view_probe(request.getfixturevalue("cluster"))


@pytest.fixture
def nemesis_role_probe(request: pytest.FixtureRequest) -> Any:
    """The reference node's own status as the role probe, in every test with a cluster:
    the nemesis's leader/follower targets, and the node table's roles during a run."""
    if "cluster" not in request.fixturenames:
        return None
    from support.refsys_client import role_probe

    return role_probe(request.getfixturevalue("cluster"))


@pytest.fixture
def kv(cluster: Any) -> Iterator[KV]:
    """The ``cluster`` with an event loop and reference clients (see ``KV``)."""
    harness = KV(cluster)
    try:
        yield harness
    finally:
        harness.close()
