"""Lab mode's back end: the configured cluster, a bounded workload, faults from keys.

Everything the session does reaches the dashboard the same way a run does:
as events. The cluster, network and workload emit through ``distlab.events``
into ``<session>/events.jsonl``; a tail of that file feeds the app. Faults
injected from the keyboard become ``fault.start`` / ``fault.end`` events and
nemesis records in the history, so the session directory holds a complete
record:

- ``events.jsonl``  -- ``distlab replay <session>`` shows the session again;
- ``history.jsonl`` -- ``distlab check --model register`` re-checks it;
- ``schedule.json`` -- the faults with their offsets, to replay as a test.
"""

from __future__ import annotations

import importlib
import json
import threading
import time
from pathlib import Path
from types import ModuleType
from typing import Any

from distlab import events
from distlab.errors import DistlabError, UsageError
from distlab.tui.feed import EventFeed, FileReader

ROLE_POLL_S = 1.0
CHECK_EVERY_S = 10.0
CHECK_BUDGET_S = 2.0


class LabBackend:
    """A lab session. ``start`` brings the cluster and workload up on a thread;
    every fault method returns a one-line answer for the user."""

    lab = True

    def __init__(
        self,
        config: Any,
        *,
        seed: int,
        session_dir: Path,
        nodes: int | None = None,
        clients: int = 4,
        rate: float = 50.0,
        minutes: float = 30.0,
        client_module: str = "distlab.tui.lab_client",
    ) -> None:
        self.config = config
        self.seed = seed
        self.dir = session_dir
        self.nodes = nodes
        self.clients = clients
        self.rate = rate
        self.duration_s = minutes * 60
        self.name = f"lab {getattr(config.project, 'name', '')} seed {seed}".strip()
        self.client_module: ModuleType = load_client_module(client_module)
        self.cluster: Any = None
        self.workload: Any = None
        self.recorder: Any = None
        self.ready = threading.Event()
        self._closing = threading.Event()
        self._lock = threading.Lock()
        self._faults: dict[str, dict[str, Any]] = {}  # open faults by id
        self._schedule: list[dict[str, Any]] = []
        self._next_fault = 0
        self._started = time.time()
        self._reader: FileReader | None = None
        self._threads: list[threading.Thread] = []
        self._redirected = False
        self._previous_target: str | None = None

    # -- Backend protocol ---------------------------------------------------------------

    def start(self, feed: EventFeed) -> None:
        """Route events into the session file, tail it, and bring the lab up on a thread."""
        events_path = self.dir / "events.jsonl"
        self._previous_target = _redirect_events(f"file:{events_path}")
        self._redirected = True
        self._reader = FileReader(events_path, feed, follow=True)
        self._reader.start()
        self._spawn(self._bring_up, "distlab-lab-up")

    def run(self, only: Any = None, layers: Any = None) -> str | None:
        return "lab mode runs no suites; use `distlab` for that"

    def stop(self) -> str | None:
        if self.workload is not None and self.workload.started:
            self.workload.stop()
            return "workload stopped (the cluster stays up; q quits)"
        return "no workload running"

    def busy(self) -> bool:
        return not self._closing.is_set()

    def close(self) -> None:
        """Stop the workload, save the session, tear the cluster down (waits for it)."""
        self._closing.set()
        try:
            if self.workload is not None:
                self.workload.stop()
                self.workload.join(timeout_s=5)
            for t in self._threads:
                t.join(timeout=5)
            self._end_open_faults()
            self._save_schedule()
        finally:
            if self.recorder is not None:
                self.recorder.close()
            if self.cluster is not None:
                self.cluster.close()
            if self._reader is not None:
                self._reader.stop()
            if self._redirected:
                _redirect_events(self._previous_target)

    # -- bringing the lab up ------------------------------------------------------------

    def _spawn(self, target: Any, name: str) -> None:
        t = threading.Thread(target=target, name=name, daemon=True)
        self._threads.append(t)
        t.start()

    def _bring_up(self) -> None:
        from distlab.cluster import Cluster
        from distlab.seeds import derive
        from distlab.workload.engine import Workload
        from distlab.workload.ops import Keys, register_mix
        from distlab.workload.recorder import HistoryRecorder

        try:
            events.emit(events.LOG, level="info", source="lab", message="starting the cluster")
            cluster = Cluster(
                self.config.cluster,
                self.dir,
                nodes=self.nodes,
                seed=self.seed,
                network=self.config.network,
                name="lab",
            )
            self.cluster = cluster
            cluster.start()
            if self._closing.is_set():
                return
            self.recorder = HistoryRecorder(self.dir / "history.jsonl")
            addresses = {node: cluster.client_address(node) for node in cluster.ids}
            factory = self.client_module.make_client
            self.workload = Workload(
                lambda process: factory(process, addresses),
                self.recorder,
                # No cas: a cas that finds another value is a "fail" that did nothing
                # wrong, and would read as an error rate while nothing is broken.
                mix=register_mix(cas=0),
                keys=Keys.uniform(5),
                clients=self.clients,
                duration_s=self.duration_s,
                rate=self.rate,
                timeout_s=1.0,
                seed=derive(self.seed, "lab-workload"),
                name="lab",
            )
            self.workload.start()
            self.ready.set()
            events.emit(events.LOG, level="info", source="lab", message="cluster and workload up")
        except DistlabError as e:
            events.emit(events.LOG, level="error", source="lab", message=e.message)
            return
        except Exception as e:  # a lab that cannot start must say why on screen
            events.emit(
                events.LOG, level="error", source="lab", message=f"lab failed to start: {e}"
            )
            return
        self._spawn(self._poll_roles, "distlab-lab-roles")
        self._spawn(self._check_periodically, "distlab-lab-check")

    def _poll_roles(self) -> None:
        status = getattr(self.client_module, "status", None)
        if status is None:
            return
        seen: dict[str, tuple[Any, ...]] = {}
        # Each node's own port, not its client proxy: a node cut off still tells its view.
        addresses = {n: ("127.0.0.1", self.cluster[n].direct_port) for n in self.cluster.ids}
        while not self._closing.wait(ROLE_POLL_S):
            try:
                views = status(addresses)
            except Exception:
                continue
            for node in self.cluster.ids:
                view = views.get(node, {"role": "", "term": None, "leader": None})
                key = (view.get("role"), view.get("term"), view.get("leader"))
                if seen.get(node) != key:
                    seen[node] = key
                    events.emit(events.NODE_ROLE, node=node, **view)

    def _check_periodically(self) -> None:
        # The live verdict: the history so far, time-boxed so a hard history cannot stall us.
        while not self._closing.wait(CHECK_EVERY_S):
            try:
                self.recorder.check("register", budget_s=CHECK_BUDGET_S)
            except Exception as e:
                events.emit(events.LOG, level="warning", source="lab", message=f"check failed: {e}")

    # -- faults -------------------------------------------------------------------------

    def _ready(self) -> str | None:
        if not self.ready.is_set():
            return "the lab is still starting (or failed: see the log)"
        return None

    def _fault_start(self, fault: str, target: Any, **params: Any) -> str:
        with self._lock:
            self._next_fault += 1
            fid = f"{fault}-{self._next_fault}"
            entry = {
                "id": fid,
                "fault": fault,
                "target": target,
                "params": params,
                "at_s": round(time.time() - self._started, 3),
                "end_s": None,
            }
            self._faults[fid] = entry
            self._schedule.append(entry)
        events.emit(events.FAULT_START, id=fid, fault=fault, target=target, params=params)
        self.recorder.fault_start(fid, fault, target, **params)
        return fid

    def _fault_end(self, match: Any) -> None:
        with self._lock:
            ended = [f for f in self._faults.values() if match(f)]
            for f in ended:
                del self._faults[f["id"]]
                f["end_s"] = round(time.time() - self._started, 3)
        for f in ended:
            events.emit(events.FAULT_END, id=f["id"], fault=f["fault"])
            if self.recorder is not None:
                self.recorder.fault_end(f["id"], f["fault"])

    def _end_open_faults(self) -> None:
        self._fault_end(lambda f: True)

    def _guard(self, what: str, action: Any) -> str | None:
        if (busy := self._ready()) is not None:
            return busy
        try:
            return action()
        except DistlabError as e:
            return f"{what}: {e.message}"

    def kill(self, node: str) -> str | None:
        """SIGKILL ``node``; the fault lasts until it is restarted."""

        def act() -> str:
            self.cluster[node].kill()
            self._fault_start("kill", node)
            return f"killed {node} (r restarts it)"

        return self._guard("kill", act)

    def pause_or_resume(self, node: str) -> str | None:
        """SIGSTOP a running node, SIGCONT a paused one."""

        def act() -> str:
            n = self.cluster[node]
            if str(n.state) == "paused":
                n.resume()
                self._fault_end(lambda f: f["fault"] == "pause" and f["target"] == node)
                return f"resumed {node}"
            n.pause()
            self._fault_start("pause", node)
            return f"paused {node} (p again resumes it)"

        return self._guard("pause", act)

    def restart(self, node: str) -> str | None:
        """Restart ``node`` (same id, ports, data) and wait until it is healthy."""

        def act() -> str:
            self.cluster[node].restart()
            self._fault_end(lambda f: f["fault"] in ("kill", "pause") and f["target"] == node)
            return f"restarted {node}"

        return self._guard("restart", act)

    def shapes(self) -> list[str]:
        """The partition shapes the menu offers (those that need no extra arguments)."""
        from distlab.net.shapes import SHAPES

        return [s for s in SHAPES if s != "groups"]

    def partition(self, shape: str) -> str | None:
        """Replace any partition by the named shape over all nodes."""

        def act() -> str:
            net = self._net()
            p = net.partition_shape(shape)
            self._fault_end(lambda f: f["fault"] == "partition")
            self._fault_start("partition", shape, groups=[list(g) for g in p.groups])
            return f"partition {shape}: " + " | ".join(" ".join(g) for g in p.groups)

        return self._guard("partition", act)

    def latency(self, ms: float) -> str | None:
        """Delay every link by ``ms``."""

        def act() -> str:
            self._net().latency(None, ms)
            self._fault_start("latency", "all", ms=ms)
            return f"{ms:g} ms latency on every link (h heals)"

        return self._guard("latency", act)

    def heal(self) -> str | None:
        """Network whole again and paused nodes resumed; killed nodes stay down (r restarts)."""

        def act() -> str:
            self._net().heal()
            for node in self.cluster.ids:
                if str(self.cluster[node].state) == "paused":
                    self.cluster[node].resume()
            self._fault_end(lambda f: f["fault"] in ("partition", "latency", "pause"))
            return "healed: network whole, paused nodes resumed"

        return self._guard("heal", act)

    def _net(self) -> Any:
        if self.cluster.net is None:
            raise UsageError("this cluster runs without proxies, so its network cannot be faulted")
        return self.cluster.net

    # -- saving -------------------------------------------------------------------------

    def _save_schedule(self) -> None:
        path = self.dir / "schedule.json"
        with self._lock:
            body = {"seed": self.seed, "faults": list(self._schedule)}
        try:
            path.write_text(json.dumps(body, indent=2, default=str) + "\n", encoding="utf-8")
        except OSError:
            pass  # the session dir went away; nothing to save into


def load_client_module(name: str) -> ModuleType:
    """The ``--client`` module, checked for ``make_client``; a UsageError otherwise."""
    try:
        module = importlib.import_module(name)
    except ImportError as e:
        raise UsageError(
            f"--client {name}: cannot import it ({e}); give a module on the path"
        ) from None
    if not callable(getattr(module, "make_client", None)):
        raise UsageError(f"--client {name}: has no make_client(process, addresses) function")
    return module


def _redirect_events(target: str | None) -> str | None:
    """Send this process's events to ``target`` (None: nowhere); returns the previous one."""
    return events.redirect(target)
