"""The nemesis: plays a schedule against a lab in a thread of its own.

Every fault is announced as ``fault.start`` (with the nodes it hit) and
``fault.end`` events, and as markers in the history when a recorder is given,
so the stats and the TUI see the same fault windows. Whatever is still in
force when the nemesis stops -- at the end, on ``stop()``, or because the
test failed -- is ended, in reverse order, before ``stop`` returns.
"""

from __future__ import annotations

import heapq
import json
import os
import threading
import time
from dataclasses import dataclass
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
        self._t0 = 0.0
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

    def stop(self) -> None:
        """Stop now: end every fault still in force (reverse order), then return."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        self._end_all()

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
        try:
            while plan and not self._stop.is_set():
                at, _, what, i = heapq.heappop(plan)
                if self._stop.wait(max(0.0, self._t0 + at - time.monotonic())):
                    break
                fid = f"{self.schedule.name}/f{i + 1}"  # unique across nemeses in one run
                if what == "start":
                    fault = self.schedule.faults[i]
                    if self._begin(fid, i, fault) and KINDS[fault.kind].lasting:
                        heapq.heappush(plan, (fault.end_s, 0, "end", i))
                else:
                    self._end(fid)
        finally:
            self._end_all()

    def _begin(self, fid: str, index: int, fault: Fault) -> bool:
        # Keyed on the fault itself, not its position: a shrunk schedule that drops
        # other faults still sends this one to the same nodes.
        rng = seeded_rng(self.seed, f"nemesis.fault:{json.dumps(fault.to_dict(), sort_keys=True)}")
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
            events.emit(events.LOG, level="error", source="nemesis", message=message)
            self.applied.append(Applied(fid, fault, [], self.elapsed_s(), error=str(e)))
            return False
        applied = Applied(fid, fault, nodes, self.elapsed_s())
        self.applied.append(applied)
        params = dict(fault.params, **details)
        events.emit(events.FAULT_START, id=fid, fault=fault.kind, target=nodes, params=params)
        if self.recorder is not None:
            self.recorder.fault_start(fid, fault.kind, nodes)
        if KINDS[fault.kind].lasting:
            with self._lock:
                self._active[fid] = (applied, undo)
        else:
            self._mark_end(applied)
        return True

    def _end(self, fid: str) -> None:
        with self._lock:
            entry = self._active.pop(fid, None)
        if entry is None:
            return
        applied, undo = entry
        try:
            undo()
        except Exception as e:
            message = f"fault {fid} ({applied.fault.describe()}) could not end: {e}"
            self.errors.append(message)
            applied.error = str(e)
            events.emit(events.LOG, level="error", source="nemesis", message=message)
        self._mark_end(applied)

    def _mark_end(self, applied: Applied) -> None:
        applied.ended_s = self.elapsed_s()
        events.emit(events.FAULT_END, id=applied.id, fault=applied.fault.kind)
        if self.recorder is not None:
            self.recorder.fault_end(applied.id, applied.fault.kind)

    def _end_all(self) -> None:
        with self._lock:
            ids = list(self._active)
        for fid in reversed(ids):
            self._end(fid)

    def raise_errors(self) -> None:
        """A LabError naming the first fault that could not start or end, if any."""
        if self.errors:
            more = f" (and {len(self.errors) - 1} more)" if len(self.errors) > 1 else ""
            raise LabError(self.errors[0] + more)


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
        if f.target not in ("one", "minority", "majority", "leader", "followers", "all", "db") and (
            f.target not in nodes
        ):
            raise UsageError(
                f"{where}: unknown node {f.target!r}; this cluster has {', '.join(nodes) or 'none'}"
            )
        if f.target in ("leader", "followers") and lab.role_probe is None:
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
