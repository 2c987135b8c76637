"""The nemesis: plays a schedule against a lab in a thread of its own.

Every fault is announced as ``fault.start`` (with the nodes it hit) and
``fault.end`` events, and as markers in the history when a recorder is given,
so the stats and the TUI see the same fault windows. Whatever is still in
force when the nemesis stops -- at the end, on ``stop()``, or because the
test failed -- is ended, in reverse order, before ``stop`` returns.

``apply_now(fault)`` starts a fault outside the schedule (the lab's keys);
it stays in force until ``end_now(id)`` or ``stop()``.
"""

from __future__ import annotations

import heapq
import json
import os
import random
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass, replace
from pathlib import Path

import psutil

from distlab import events
from distlab.errors import LabError, UsageError
from distlab.nemesis import actions
from distlab.nemesis.actions import Lab, Undo
from distlab.nemesis.control import FaultRecorder
from distlab.nemesis.faults import KINDS, Fault
from distlab.nemesis.schedule import Schedule
from distlab.nemesis.targets import resolve
from distlab.seeds import rng as seeded_rng


@dataclass
class Applied:
    """One fault that was started: what it hit and when (seconds from the nemesis start)."""

    id: str
    fault: Fault
    nodes: list[str]
    started_s: float
    ended_s: float | None = None
    error: str | None = None


class Nemesis:
    """Plays ``schedule`` on ``lab``; ``start()`` ... ``stop()``, or ``with nemesis:``, or ``run()``."""

    def __init__(
        self,
        lab: Lab,
        schedule: Schedule,
        *,
        seed: int = 0,
        recorder: FaultRecorder | None = None,
    ) -> None:
        self.lab = lab
        self.schedule = schedule
        self.seed = seed
        self.recorder = recorder
        self.applied: list[Applied] = []
        self.errors: list[str] = []
        self._active: dict[str, tuple[Applied, Undo]] = {}
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        # Set again by start(); from here already so apply_now works on a nemesis never started.
        self._t0 = time.monotonic()
        self._undo = True
        self._now_count = 0
        self.schedule_path: Path | None = None

    # -- lifecycle ------------------------------------------------------------

    def start(self) -> Nemesis:
        """Write the schedule to the run dir and start playing it."""
        if self._thread is not None:
            raise LabError("this nemesis was already started")
        preflight(self.lab, self.schedule)
        if self.lab.run_dir is not None:
            self.schedule_path = self.schedule.write(self.lab.run_dir)
        self._t0 = time.monotonic()
        self._thread = threading.Thread(target=self._play, name="distlab-nemesis", daemon=True)
        self._thread.start()
        return self

    def run(self) -> Nemesis:
        """Play the whole schedule and return when its last fault ended."""
        self.start()
        self.join()
        return self

    def join(self, timeout: float | None = None) -> None:
        """Wait for the schedule to finish (every fault ended)."""
        if self._thread is not None:
            self._thread.join(timeout)

    def stop(self, *, undo: bool = True) -> None:
        """Stop now: end every fault still in force (reverse order), then return.

        ``undo=False`` only marks their ends (events, history): for a lab that is
        torn down next anyway, where restarting killed nodes first would only make
        quitting slow.
        """
        self._undo = undo
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        self._end_all()

    def apply_now(self, fault: Fault) -> Applied:
        """Start ``fault`` now, outside the schedule (a lab's keys).

        Its ``at_s`` becomes the time since the nemesis started (so the fault can
        be written back into a schedule and replayed); a lasting fault stays in
        force until ``end_now(id)`` or ``stop()``, whatever its ``duration_s``.
        Returns what was applied; ``error`` says why it could not start.
        """
        with self._lock:
            self._now_count += 1
            fid = f"{self.schedule.name}/now{self._now_count}"
        return self._begin(fid, replace(fault, at_s=round(self.elapsed_s(), 3)))

    def end_now(self, fault_id: str) -> bool:
        """End the fault ``fault_id`` if it is in force; False if it was not."""
        with self._lock:
            known = fault_id in self._active
        if known:
            self._end(fault_id)
        return known

    def in_force(self) -> list[Applied]:
        """The lasting faults started and not ended yet, oldest first."""
        with self._lock:
            return [applied for applied, _undo in self._active.values()]

    def __enter__(self) -> Nemesis:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def done(self) -> bool:
        return self._thread is not None and not self._thread.is_alive()

    def elapsed_s(self) -> float:
        return time.monotonic() - self._t0

    # -- playing --------------------------------------------------------------

    def _play(self) -> None:
        # A heap of (time, order, what, id): ends sort before starts at the same instant.
        plan: list[tuple[float, int, str, int]] = []
        for i, f in enumerate(self.schedule.faults):
            heapq.heappush(plan, (f.at_s, 1, "start", i))
        started: list[str] = []
        try:
            while plan and not self._stop.is_set():
                at, _, what, i = heapq.heappop(plan)
                if self._stop.wait(max(0.0, self._t0 + at - time.monotonic())):
                    break
                fid = f"{self.schedule.name}/f{i + 1}"  # unique across nemeses in one run
                if what == "start":
                    fault = self.schedule.faults[i]
                    started.append(fid)
                    if self._begin(fid, fault).error is None and KINDS[fault.kind].lasting:
                        heapq.heappush(plan, (fault.end_s, 0, "end", i))
                else:
                    self._end(fid)
        finally:
            # Only what the schedule started: faults from apply_now outlive the timeline.
            self._end_all(started)

    def _begin(self, fid: str, fault: Fault) -> Applied:
        rng = fault_rng(self.seed, fault)
        try:
            if fault.kind.startswith("db_"):
                nodes = ["db"]
            elif fault.kind == "heal":
                nodes = list(self.lab.nodes)
            else:
                nodes = resolve(fault.target, self.lab.nodes, rng, self.lab.role_probe)
            undo, details = actions.apply(self.lab, fault, nodes, rng)
        except Exception as e:  # the lab broke; say which fault and keep the run honest
            message = f"fault {fid} ({fault.describe()}) could not start: {e}"
            self.errors.append(message)
            events.emit(events.Log(level="error", source="nemesis", message=message))
            failed = Applied(fid, fault, [], self.elapsed_s(), error=str(e))
            self.applied.append(failed)
            return failed
        applied = Applied(fid, fault, nodes, self.elapsed_s())
        self.applied.append(applied)
        params = dict(fault.params, **details)
        events.emit(events.FaultStart(id=fid, fault=fault.kind, target=tuple(nodes), params=params))
        if self.recorder is not None:
            self.recorder.fault_start(fid, fault.kind, nodes)
        if KINDS[fault.kind].lasting:
            with self._lock:
                self._active[fid] = (applied, undo)
        else:
            self._mark_end(applied)
        return applied

    def _end(self, fid: str) -> None:
        with self._lock:
            entry = self._active.pop(fid, None)
        if entry is None:
            return
        applied, undo = entry
        try:
            if self._undo:
                undo()
        except Exception as e:
            message = f"fault {fid} ({applied.fault.describe()}) could not end: {e}"
            self.errors.append(message)
            applied.error = str(e)
            events.emit(events.Log(level="error", source="nemesis", message=message))
        self._mark_end(applied)

    def _mark_end(self, applied: Applied) -> None:
        applied.ended_s = self.elapsed_s()
        events.emit(events.FaultEnd(id=applied.id, fault=applied.fault.kind))
        if self.recorder is not None:
            self.recorder.fault_end(applied.id, applied.fault.kind)

    def _end_all(self, only: Iterable[str] | None = None) -> None:
        with self._lock:
            ids = list(self._active)
        if only is not None:
            chosen = set(only)
            ids = [fid for fid in ids if fid in chosen]
        for fid in reversed(ids):
            self._end(fid)

    def raise_errors(self) -> None:
        """A LabError naming the first fault that could not start or end, if any."""
        if self.errors:
            more = f" (and {len(self.errors) - 1} more)" if len(self.errors) > 1 else ""
            raise LabError(self.errors[0] + more)


def fault_rng(seed: int, fault: Fault) -> random.Random:
    """The generator a fault's random choices (targets, shuffles, link shares) come from."""
    # Keyed on the fault itself, not its position: a shrunk schedule that drops
    # other faults still sends this one to the same nodes. Not on its duration:
    # a lab fault's end is unknown when it starts, and a replayed or shortened
    # one must still hit the same nodes.
    key = {k: v for k, v in fault.to_dict().items() if k != "duration_s"}
    return seeded_rng(seed, f"nemesis.fault:{json.dumps(key, sort_keys=True)}")


def preflight(lab: Lab, schedule: Schedule) -> None:
    """Every fault of ``schedule`` can be done on ``lab``, or a one-line UsageError before anything starts.

    Checks what can be known up front: node ids exist, a partition shape fits
    the cluster's size, the network / database / role probe a fault needs is
    there, and limits can be set on a running process on this platform.
    """
    from distlab.nemesis.faults import param
    from distlab.nemesis.resources import can_prlimit
    from distlab.net import shapes

    nodes = lab.nodes
    for f in schedule.faults:
        where = f"schedule {schedule.name!r}: {f.describe()}"
        spec = KINDS[f.kind]
        selector, in_group, group = f.target.rpartition("group:")
        if in_group:  # group:NAME / one:group:NAME: the group must have members
            if not any(n.rstrip("0123456789") == group for n in nodes):
                groups = sorted({n.rstrip("0123456789") for n in nodes})
                raise UsageError(
                    f"{where}: no node of group {group!r}; groups: {', '.join(groups)}"
                )
        elif f.target not in (
            "one",
            "minority",
            "majority",
            "leader",
            "followers",
            "all",
            "db",
        ) and (f.target not in nodes):
            raise UsageError(
                f"{where}: unknown node {f.target!r}; this cluster has {', '.join(nodes) or 'none'}"
            )
        if (selector.rstrip(":") if in_group else f.target) in (
            "leader",
            "followers",
        ) and lab.role_probe is None:
            raise UsageError(
                f"{where}: target {f.target} needs a role probe (who leads?); pass role_probe="
            )
        if spec.acts_on in ("nodes", "links", "net") and lab.cluster is None:
            raise UsageError(f"{where}: needs a cluster")
        if spec.acts_on in ("links", "net") and lab.net is None:
            raise UsageError(
                f"{where}: needs the fault-injecting network; this cluster runs without proxies"
            )
        if f.kind == "partition" and param(f, "shape") != "isolate":
            try:
                shapes.shape(param(f, "shape"), nodes)
            except UsageError as e:
                raise UsageError(f"{where}: {e}") from None
        if f.kind in ("db_kill", "db_drop") and lab.pg is None:
            raise UsageError(f"{where}: needs a database; pass pg=")
        if f.kind in ("fds", "memory_limit"):
            why = can_prlimit()
            if why:
                raise UsageError(f"{where}: a resource limit this platform cannot apply: {why}")
        if f.kind == "memory":
            limit_mb = float(param(f, "limit_mb"))
            rss_mb = (
                limit_mb * float(param(f, "fraction")) if limit_mb else float(param(f, "rss_mb"))
            )
            available_mb = psutil.virtual_memory().available / 2**20
            if rss_mb > available_mb * 0.8:
                raise UsageError(
                    f"{where}: cannot apply: {rss_mb:g} MiB per node, this machine has "
                    f"{available_mb:.0f} MiB available"
                )
        if f.kind == "disk_full" and lab.cluster is not None:
            targets = (
                nodes
                if f.target in ("all", "one", "minority", "majority", "leader", "followers")
                else [f.target]
            )
            for node_id in targets:
                data_dir = lab.cluster[node_id].data_dir
                st = os.statvfs(data_dir)
                free_mb = st.f_bavail * st.f_frsize / 2**20
                if free_mb > float(param(f, "max_fill_mb")):
                    raise UsageError(
                        f"{where}: cannot apply: {data_dir} has {free_mb:.0f} MiB free, more than "
                        f"max_fill_mb={param(f, 'max_fill_mb'):g}; put the data dir on a small "
                        "filesystem (distlab.nemesis.small_filesystem) or raise max_fill_mb"
                    )
