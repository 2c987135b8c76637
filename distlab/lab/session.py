"""A lab session: the configured cluster, a bounded register workload, and a nemesis.

Faults come from keys (``LabKeys`` -> ``Nemesis.apply_now``) and, on a
replay, from a saved schedule the nemesis plays; either way the nemesis
announces them (events, history markers). Everything reaches whoever
watches as events through ``distlab.events``. On close the session dir
holds:

- ``events.jsonl``  -- ``distlab replay <session>`` shows it again (when the
  caller routed events there, as the dashboard does);
- ``history.jsonl`` -- ``distlab check --model register`` re-checks it;
- ``schedule.json`` -- the faults as played, a ``Schedule``;
- ``test_lab_session.py`` -- pytest replays the schedule and checks the result.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path

from distlab import events
from distlab.cluster import Cluster
from distlab.config.schema import Config
from distlab.errors import DistlabError, LabError
from distlab.lab.adapter import LabAdapter, role_probe_from
from distlab.lab.keys import LabKeys
from distlab.lab.record import LabSettings, played_schedule, save
from distlab.nemesis import Lab, Nemesis, Schedule
from distlab.nemesis.nemesis import preflight
from distlab.seeds import derive
from distlab.workload import HistoryRecorder, Keys, OpMix, Workload, register_mix

ROLE_POLL_S = 1.0
CHECK_EVERY_S = 10.0
CHECK_BUDGET_S = 2.0
LAB_SCHEDULE = "lab"


class LabSession:
    """One session. ``start()`` brings it up on a thread (the dashboard); ``bring_up()``
    does the same in the caller's thread and raises (a replay); ``close()`` saves and
    tears down."""

    def __init__(
        self,
        config: Config,
        adapter: LabAdapter,
        *,
        client: str,
        seed: int,
        session_dir: Path,
        nodes: int | None = None,
        clients: int = 4,
        rate: float = 50.0,
        minutes: float = 30.0,
        schedule: Schedule | None = None,
    ) -> None:
        self.config = config
        self.adapter = adapter
        self.seed = seed
        self.dir = session_dir
        self.settings = LabSettings(
            config=Path(config.path).resolve(),
            client=client,
            seed=seed,
            nodes=nodes if nodes is not None else config.cluster.nodes,
            clients=clients,
            rate=rate,
        )
        self.duration_s = minutes * 60
        self.schedule = schedule or Schedule(name=LAB_SCHEDULE, seed=seed)
        what = "replay" if schedule is not None else "lab"
        self.name = f"{what} {config.project.name} seed {seed}".strip()
        self.cluster: Cluster | None = None
        self.workload: Workload | None = None
        self.recorder: HistoryRecorder | None = None
        self.nemesis: Nemesis | None = None
        self.saved: list[Path] = []
        self.ready = threading.Event()
        self.closing = threading.Event()
        self._threads: list[threading.Thread] = []
        self.keys = LabKeys(
            lambda: self.nemesis if self.ready.is_set() else None,
            lambda: self.cluster,
            lambda: self.cluster is not None and self.cluster.net is not None,
        )

    # -- bringing the lab up ------------------------------------------------------------

    def start(self) -> None:
        """Bring the lab up on a thread; failures are ``log`` events (the dashboard shows them)."""
        self._spawn(self._start_watched, "distlab-lab-up")

    def _start_watched(self) -> None:
        try:
            self.bring_up()
        except DistlabError as e:
            events.emit(events.Log(level="error", source="lab", message=e.message))
            return
        except Exception as e:  # a lab that cannot start must say why on screen
            events.emit(
                events.Log(level="error", source="lab", message=f"lab failed to start: {e}")
            )
            return
        if self.ready.is_set():
            self._spawn(self._poll_roles, "distlab-lab-roles")
            self._spawn(self._check_periodically, "distlab-lab-check")

    def bring_up(self) -> None:
        """Start the cluster, the workload and the nemesis (playing the schedule, if any)."""
        events.emit(events.Log(level="info", source="lab", message="starting the cluster"))
        cluster = Cluster(
            self.config.cluster,
            self.dir,
            nodes=self.settings.nodes,
            seed=self.seed,
            network=self.config.network,
            name="lab",
            # Node commands run where the runner runs them: beside the config file.
            cwd=self.settings.config.parent,
        )
        self.cluster = cluster
        cluster.start()
        if self.closing.is_set():
            return
        self.recorder = HistoryRecorder(self.dir / "history.jsonl")
        addresses = {node: cluster.client_address(node) for node in cluster.ids}
        client_seed = derive(self.seed, "lab-client")
        make_client = self.adapter.make_client
        self.workload = Workload(
            lambda process: make_client(process, addresses, client_seed),
            self.recorder,
            # [lab] mix, else no cas: a cas that finds another value is a "fail" that
            # did nothing wrong, and would read as an error rate while nothing is broken.
            mix=OpMix(dict(self.config.lab.mix)) if self.config.lab.mix else register_mix(cas=0),
            keys=Keys.uniform(5),
            clients=self.settings.clients,
            duration_s=self.duration_s,
            rate=self.settings.rate,
            timeout_s=1.0,
            seed=derive(self.seed, "lab-workload"),
            name="lab",
        )
        lab = Lab(
            cluster=cluster,
            role_probe=role_probe_from(self.adapter.status, cluster),
            run_dir=self.dir,
        )
        preflight(lab, self.schedule)  # a schedule this lab cannot play fails before any load
        self.workload.start()
        # Fault offsets count from here (the nemesis's birth), live and on replay alike.
        self.nemesis = Nemesis(lab, self.schedule, seed=self.seed, recorder=self.recorder)
        if self.schedule.faults:
            self.nemesis.start()
        self.ready.set()
        events.emit(events.Log(level="info", source="lab", message="cluster and workload up"))

    def _spawn(self, target: Callable[[], None], name: str) -> None:
        t = threading.Thread(target=target, name=name, daemon=True)
        self._threads.append(t)
        t.start()

    def _poll_roles(self) -> None:
        cluster = self.cluster
        assert cluster is not None
        seen: dict[str, tuple[object, ...]] = {}
        # Each node's own port, not its client proxy: a node cut off still tells its view.
        addresses = {n: ("127.0.0.1", cluster[n].direct_port) for n in cluster.ids}
        while not self.closing.wait(ROLE_POLL_S):
            try:
                views = self.adapter.status(addresses)
            except Exception:  # a probe that fails this round shows no change
                continue
            for node in cluster.ids:
                view = views.get(node, {})
                role, term, leader = (
                    str(view.get("role") or ""),
                    view.get("term"),
                    view.get("leader"),
                )
                if seen.get(node) != (role, term, leader):
                    seen[node] = (role, term, leader)
                    events.emit(events.NodeRole(node=node, role=role, term=term, leader=leader))

    def _check_periodically(self) -> None:
        # The live verdict: the history so far, time-boxed so a hard history cannot stall us.
        while not self.closing.wait(CHECK_EVERY_S):
            try:
                if self.recorder is not None:
                    self.recorder.check("register", budget_s=CHECK_BUDGET_S)
            except Exception as e:
                events.emit(events.Log(level="warning", source="lab", message=f"check failed: {e}"))

    # -- running and ending ------------------------------------------------------------

    def stop_workload(self) -> str:
        """Stop the workload; the cluster stays up."""
        if self.workload is not None and self.workload.started:
            self.workload.stop()
            return "workload stopped (the cluster stays up; q quits)"
        return "no workload running"

    def wait(self, timeout_s: float | None = None) -> None:
        """Until the schedule has played and the workload has run its time."""
        if self.nemesis is None or self.workload is None:
            raise LabError("the lab is not up")
        self.nemesis.join(timeout_s)
        self.workload.join(timeout_s=timeout_s)

    def close(self) -> None:
        """Stop the workload and the nemesis, save the session, tear the cluster down."""
        self.closing.set()
        try:
            if self.workload is not None and self.workload.started:
                self.workload.stop()
                self.workload.join(timeout_s=5)
            for t in self._threads:
                t.join(timeout=5)
            if self.nemesis is not None:
                # Mark the ends only: the cluster goes next, so restarting killed nodes
                # or healing links first would only make quitting slow.
                self.nemesis.stop(undo=False)
                self._save()
        finally:
            if self.recorder is not None:
                self.recorder.close()
            if self.cluster is not None:
                self.cluster.close()

    def played(self) -> Schedule:
        """The faults so far, as a schedule."""
        if self.nemesis is None:
            return Schedule(name=self.schedule.name, seed=self.seed)
        return played_schedule(
            list(self.nemesis.applied),
            self.nemesis.elapsed_s(),
            name=self.schedule.name,
            seed=self.seed,
        )

    def _save(self) -> None:
        try:
            self.saved = save(self.dir, self.played(), self.settings)
        except OSError as e:  # the session dir went away; say so, there is nothing to save into
            events.emit(
                events.Log(level="warning", source="lab", message=f"session not saved: {e}")
            )
