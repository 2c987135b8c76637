"""The lab's fault keys as ``Fault`` values through the nemesis.

Each key builds a fault with a concrete target (the node under the cursor,
``all`` links) and hands it to ``Nemesis.apply_now``; ending a fault (restart
a killed node, resume, heal) is ``Nemesis.end_now`` on the fault in force,
whose undo does the work. So the fault windows, ids, events and history
markers are the nemesis's own, and what the keys did is a schedule.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from typing import Protocol

from distlab.errors import DistlabError, UsageError
from distlab.nemesis import Applied, Fault, Nemesis, make_fault
from distlab.nemesis.faults import SHAPES
from distlab.net import shapes

# A key's fault lasts until a key ends it; this only satisfies make_fault (lasting > 0).
OPEN_ENDED_S = 1.0
NETWORK_FAULTS = ("partition", "latency")


class _Node(Protocol):
    @property
    def state(self) -> object: ...


class _Members(Protocol):
    def __getitem__(self, node_id: str) -> _Node: ...


class LabKeys:
    """``LabControls`` over a nemesis. ``nemesis()`` is None until the lab is up."""

    def __init__(
        self,
        nemesis: Callable[[], Nemesis | None],
        members: Callable[[], _Members | None],
        has_network: Callable[[], bool],
    ) -> None:
        self._nemesis = nemesis
        self._members = members
        self._has_network = has_network
        # One key at a time: two quick presses must not both see "n2 is up" and kill it twice.
        self._one_at_a_time = threading.Lock()

    # -- LabControls ------------------------------------------------------------------

    def kill(self, node: str) -> str | None:
        def act(nemesis: Nemesis) -> str:
            state = self._state(node)
            if self._in_force(nemesis, "kill", node) or state not in ("up", "paused", "starting"):
                return f"{node} is {state or 'down'} already (r restarts it)"
            self._apply(nemesis, make_fault("kill", node, duration_s=OPEN_ENDED_S))
            return f"killed {node} (r restarts it)"

        return self._guard("kill", act)

    def pause_or_resume(self, node: str) -> str | None:
        def act(nemesis: Nemesis) -> str:
            pauses = self._in_force(nemesis, "pause", node)
            if pauses:
                self._end(nemesis, pauses)
                return f"resumed {node}"
            if self._state(node) == "paused":  # paused by something else: just resume it
                self._apply(nemesis, make_fault("resume", node))
                return f"resumed {node}"
            self._apply(nemesis, make_fault("pause", node, duration_s=OPEN_ENDED_S))
            return f"paused {node} (p again resumes it)"

        return self._guard("pause", act)

    def restart(self, node: str) -> str | None:
        def act(nemesis: Nemesis) -> str:
            kills = self._in_force(nemesis, "kill", node)
            # Ending a kill restarts the node; a pause ends first so it is not left marked.
            self._end(nemesis, self._in_force(nemesis, "pause", node) + kills)
            if not kills or self._state(node) != "up":
                self._apply(nemesis, make_fault("restart", node))
            return f"restarted {node}"

        return self._guard("restart", act)

    def shapes(self) -> list[str]:
        """The shapes this cluster can be cut into (all of them until it is up)."""
        nemesis = self._nemesis()
        if nemesis is None:
            return list(SHAPES)
        return [s for s in SHAPES if _shape_problem(s, nemesis.lab.nodes) is None]

    def partition(self, shape: str) -> str | None:
        def act(nemesis: Nemesis) -> str:
            self._need_network()
            # Refused before the partition in force is healed, so a bad choice changes nothing.
            problem = _shape_problem(shape, nemesis.lab.nodes)
            if problem is not None:
                return f"partition {shape}: {problem}"
            self._end(nemesis, [a for a in nemesis.in_force() if a.fault.kind == "partition"])
            # isolate cuts off one node drawn from the seed; the other shapes span all nodes.
            target = "one" if shape == "isolate" else "all"
            fault = make_fault("partition", target, duration_s=OPEN_ENDED_S, shape=shape)
            applied = self._apply(nemesis, fault)
            return f"partition {shape} on {', '.join(applied.nodes)} (h heals)"

        return self._guard("partition", act)

    def latency(self, ms: float) -> str | None:
        def act(nemesis: Nemesis) -> str:
            self._need_network()
            self._apply(nemesis, make_fault("latency", "all", duration_s=OPEN_ENDED_S, ms=ms))
            return f"{ms:g} ms latency on every peer link (h heals)"

        return self._guard("latency", act)

    def heal(self) -> str | None:
        def act(nemesis: Nemesis) -> str:
            ending = [a for a in nemesis.in_force() if a.fault.kind in (*NETWORK_FAULTS, "pause")]
            self._end(nemesis, ending)
            if not ending:
                return "nothing to heal (killed nodes stay down: r restarts them)"
            return f"healed {len(ending)} fault(s): network whole, paused nodes resumed"

        return self._guard("heal", act)

    # -- helpers ------------------------------------------------------------------------

    def _guard(self, what: str, act: Callable[[Nemesis], str]) -> str:
        nemesis = self._nemesis()
        if nemesis is None:
            return "the lab is still starting (or failed: see the log)"
        with self._one_at_a_time:
            try:
                return act(nemesis)
            except DistlabError as e:
                return f"{what}: {e.message}"

    def _need_network(self) -> None:
        if not self._has_network():
            raise UsageError("this cluster runs without proxies, so its network cannot be faulted")

    def _state(self, node: str) -> str:
        members = self._members()
        return str(members[node].state) if members is not None else ""

    @staticmethod
    def _in_force(nemesis: Nemesis, kind: str, node: str) -> list[Applied]:
        return [a for a in nemesis.in_force() if a.fault.kind == kind and node in a.nodes]

    @staticmethod
    def _apply(nemesis: Nemesis, fault: Fault) -> Applied:
        applied = nemesis.apply_now(fault)
        if applied.error is not None:
            raise DistlabError(applied.error)
        return applied

    @staticmethod
    def _end(nemesis: Nemesis, faults: list[Applied]) -> None:
        for applied in reversed(faults):
            nemesis.end_now(applied.id)


def _shape_problem(shape: str, nodes: Sequence[str]) -> str | None:
    """Why ``shape`` cannot cut ``nodes`` (too few of them, unknown shape), or None."""
    if shape not in SHAPES:
        return f"unknown shape; allowed: {', '.join(SHAPES)}"
    if shape == "isolate":
        return None if len(nodes) >= 2 else "needs at least 2 nodes"
    try:
        shapes.shape(shape, nodes)
    except UsageError as e:
        return e.message
    return None
