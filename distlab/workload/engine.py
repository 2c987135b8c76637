"""Run N logical clients against a system and record what they saw.

Threads, not asyncio: a client is user code talking to a real system, most
often through blocking sockets or a database driver, and a thread per
logical client lets users write plain synchronous clients. Each thread is
one Jepsen process: one op at a time. The GIL is no bottleneck here because
clients spend their time waiting on the network.

A blocking call cannot be cancelled from outside, so hard timeouts are
enforced by a watchdog: an op still running ``timeout_s + grace`` after its
invoke is recorded as ``info``, the client is closed (which should abort
the call) and abandoned, and a fresh thread with a fresh process id takes
the slot. Whatever the abandoned call returns later is dropped.

Closed loop (default): each client issues its next op when the last one
completes. Open loop (``rate``): ops are due at ``rate`` per second from
the start, handed to whichever client is free; when every client is busy an
op starts late (the sample's ``lag_ms`` says by how much).

Slots and groups: each logical client is a *slot* that lives for the whole
run; its process id changes after every ``info``. A factory that takes two
arguments is called ``factory(process, slot)`` with a ``ClientSlot`` saying
which slot, group and member it is. ``bind="member"`` keeps every slot on
one member for the whole run (slot i of a group on ``members[i % n]``), the
new process after an ``info`` included. ``groups=[ClientGroup(...)]`` runs
several groups, each with its own size, mix, binding and factory, into one
history: process ids are handed out by this one workload, so they never clash.
"""

from __future__ import annotations

import inspect
import math
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from distlab import events
from distlab.seeds import rng as seeded_rng
from distlab.workload.client import Client, Completion
from distlab.workload.ops import Keys, Operation, OpMix
from distlab.workload.recorder import HistoryRecorder, InFlight

ClientFactory = Callable[..., Client]  # (process) or (process, ClientSlot) -> Client
Binding = Literal["any", "member"]
BINDINGS: tuple[str, ...] = ("any", "member")


@dataclass(frozen=True)
class ClientSlot:
    """Who a client is: its slot (fixed for the run), its current process id,
    its group, and the member it is bound to (None unless ``bind="member"``)."""

    index: int
    process: int
    group: str = ""
    member: str | None = None


@dataclass(frozen=True)
class ClientGroup:
    """Some of a workload's clients: how many, their mix and binding, their factory.

    ``mix`` / ``factory`` None take the workload's. ``bind="member"`` needs
    ``members``, the node ids to spread the group's slots over.
    """

    name: str
    clients: int
    mix: OpMix | None = None
    bind: Binding = "any"
    members: Sequence[str] = ()
    factory: ClientFactory | None = None

    def __post_init__(self) -> None:
        if isinstance(self.clients, bool) or not isinstance(self.clients, int) or self.clients < 1:
            raise ValueError(
                f"client group {self.name!r}: clients must be a whole number >= 1, got {self.clients!r}"
            )
        if self.bind not in BINDINGS:
            raise ValueError(
                f"client group {self.name!r}: bind must be one of {', '.join(BINDINGS)}, got {self.bind!r}"
            )
        if self.bind == "member" and not self.members:
            raise ValueError(
                f'client group {self.name!r}: bind="member" needs members, the node ids to bind to'
            )


def _takes_slot(factory: ClientFactory) -> bool:
    """Whether a factory wants ``(process, slot)`` rather than just the process id."""
    try:
        params = list(inspect.signature(factory).parameters.values())
    except (TypeError, ValueError):
        return False
    positional = [p for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    return len(positional) >= 2 or any(p.kind is p.VAR_POSITIONAL for p in params)


SAMPLE_EVERY_S = 1.0


@dataclass
class WorkloadSummary:
    """Counts at the end of a run."""

    ops: int
    ok: int
    fail: int
    info: int
    duration_s: float

    @property
    def ops_per_s(self) -> float:
        return self.ops / self.duration_s if self.duration_s > 0 else 0.0


class _Schedule:
    """Hands out the right to start one op, bounded by count and time."""

    def __init__(self, max_ops: int | None, duration_s: float | None, rate: float | None) -> None:
        self.max_ops = max_ops
        self.duration_s = duration_s
        self.rate = rate
        self.start_ns = time.monotonic_ns()
        self.start = self.start_ns / 1e9
        self.issued = 0
        self.stopped = threading.Event()
        self.lag_s = 0.0  # open loop: how late the latest op started
        self._lock = threading.Lock()

    def over(self) -> bool:
        """No more ops will be handed out (stopped, count reached or time up)."""
        with self._lock:
            if self.stopped.is_set():
                return True
            if self.max_ops is not None and self.issued >= self.max_ops:
                return True
            return self.duration_s is not None and time.monotonic() >= self.start + self.duration_s

    def take(self) -> float | None:
        """The time the next op is due, or None when the run is over."""
        with self._lock:
            if self.stopped.is_set():
                return None
            if self.max_ops is not None and self.issued >= self.max_ops:
                return None
            now = time.monotonic()
            end = math.inf if self.duration_s is None else self.start + self.duration_s
            due = now if self.rate is None else self.start + self.issued / self.rate
            if due >= end or now >= end:
                return None
            self.issued += 1
            return due


class _Slot:
    """One logical client: its current thread generation, process id and client."""

    def __init__(
        self,
        index: int,
        group: ClientGroup | None = None,
        member: str | None = None,
        mix: OpMix | None = None,
    ) -> None:
        self.index = index
        self.group = group
        self.member = member
        self.mix = mix
        self.generation = 0
        self.process = index
        self.client: Client | None = None
        self.inflight: InFlight | None = None
        self.thread: threading.Thread | None = None
        self.ops = 0  # ops started by this slot (values unique per slot use it)


class Workload:
    """N concurrent logical clients running an op mix; ``run()`` blocks until done,
    ``start()`` / ``stop()`` / ``join()`` run it in the background."""

    def __init__(
        self,
        client_factory: ClientFactory,
        recorder: HistoryRecorder,
        *,
        mix: OpMix,
        keys: Keys | None = None,
        clients: int = 5,
        duration_s: float | None = None,
        max_ops: int | None = None,
        rate: float | None = None,
        timeout_s: float = 1.0,
        seed: int = 0,
        name: str = "workload",
        bind: Binding = "any",
        members: Sequence[str] = (),
        groups: Sequence[ClientGroup] | None = None,
    ) -> None:
        if groups is None:
            groups = [ClientGroup("", clients, None, bind, tuple(members))]
        elif not groups or len({g.name for g in groups}) != len(groups):
            raise ValueError("client groups must be at least one, each with its own name")
        clients = sum(g.clients for g in groups)
        if isinstance(clients, bool) or not isinstance(clients, int) or clients < 1:
            raise ValueError(f"clients must be a whole number >= 1, got {clients!r}")
        if duration_s is None and max_ops is None:
            raise ValueError("a workload needs duration_s or max_ops (or both): loops are bounded")
        if duration_s is not None and not duration_s > 0:
            raise ValueError(f"duration_s must be > 0, got {duration_s!r}")
        if max_ops is not None and (not isinstance(max_ops, int) or max_ops < 1):
            raise ValueError(f"max_ops must be a whole number >= 1, got {max_ops!r}")
        if rate is not None and not rate > 0:
            raise ValueError(f"rate must be ops per second > 0, got {rate!r}")
        if not timeout_s > 0:
            raise ValueError(f"timeout_s must be > 0, got {timeout_s!r}")
        self.factory = client_factory
        self.recorder = recorder
        self.mix = mix
        self.keys = keys or Keys.uniform(1)
        self.n_clients = clients
        self.duration_s = duration_s
        self.max_ops = max_ops
        self.rate = rate
        self.timeout_s = timeout_s
        self.grace_s = max(0.5, timeout_s)
        self.seed = seed
        self.name = name
        self.groups = list(groups)
        self._slots: list[_Slot] = []
        for group in self.groups:
            for i in range(group.clients):
                member = group.members[i % len(group.members)] if group.bind == "member" else None
                self._slots.append(_Slot(len(self._slots), group, member, group.mix or mix))
        self._next_process = clients
        self._lock = threading.Lock()
        self._schedule: _Schedule | None = None
        self._done = threading.Event()
        self._service: list[threading.Thread] = []
        self._started_at = 0.0
        self._ended_at = 0.0
        self._sampled = 0  # completions already reported in a sample
        self._first = 0  # completions in the recorder before this workload started

    # -- lifecycle -----------------------------------------------------------------------

    def run(self) -> WorkloadSummary:
        """Run to the end (count or time) and return the counts."""
        self.start()
        return self.join()

    def start(self) -> None:
        """Start the clients, the watchdog and the once-a-second sampler."""
        if self._schedule is not None:
            raise RuntimeError("a workload runs once; make a new one")
        self._schedule = _Schedule(self.max_ops, self.duration_s, self.rate)
        # A history may already hold other workloads' ops: count and sample only ours.
        self._first = self._sampled = len(self.recorder.completions)
        self._started_at = time.monotonic()
        for slot in self._slots:
            self._start_slot(slot)
        for target, label in ((self._watchdog, "watchdog"), (self._sampler, "sampler")):
            t = threading.Thread(target=target, name=f"{self.name}-{label}", daemon=True)
            t.start()
            self._service.append(t)

    @property
    def started(self) -> bool:
        return self._schedule is not None

    @property
    def started_at_ns(self) -> int:
        """When the schedule started, on the history's clock (``time.monotonic_ns``)."""
        return 0 if self._schedule is None else self._schedule.start_ns

    def stop(self) -> None:
        """Issue no more ops; running ones finish (or time out)."""
        if self._schedule is not None:
            self._schedule.stopped.set()

    def join(self, timeout_s: float | None = None) -> WorkloadSummary:
        """Wait for the clients to finish; ``timeout_s`` then stop and wait for the rest."""
        if self._schedule is None:
            raise RuntimeError("workload not started")
        limit = None if timeout_s is None else time.monotonic() + timeout_s
        while True:
            threads = [
                s.thread for s in self._slots if s.thread is not None and s.thread.is_alive()
            ]
            if not threads:
                break
            if limit is not None and time.monotonic() > limit:
                self.stop()
                limit = None
            threads[0].join(0.05)
        self._ended_at = time.monotonic()
        self._done.set()
        for t in self._service:
            t.join(2.0)
        for slot in self._slots:
            self._close(slot.client)
        return self.summary()

    def __enter__(self) -> Workload:
        self.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.stop()
        self.join()

    def summary(self) -> WorkloadSummary:
        """Counts so far."""
        with self._lock:
            done = list(self.recorder.completions[self._first :])
        counts = {"ok": 0, "fail": 0, "info": 0}
        for _, kind, _ in done:
            counts[kind] += 1
        end = self._ended_at or time.monotonic()
        return WorkloadSummary(
            len(done), counts["ok"], counts["fail"], counts["info"], end - self._started_at
        )

    # -- clients -------------------------------------------------------------------------

    def _new_process(self) -> int:
        with self._lock:
            p = self._next_process
            self._next_process += 1
            return p

    def _start_slot(self, slot: _Slot) -> None:
        gen = slot.generation
        slot.thread = threading.Thread(
            target=self._client_loop,
            args=(slot, gen),
            name=f"{self.name}-client{slot.index}-g{gen}",
            daemon=True,  # an abandoned thread stuck in a hung call must not block exit
        )
        slot.thread.start()

    def _client_loop(self, slot: _Slot, gen: int) -> None:
        rng = seeded_rng(self.seed, f"{self.name}/client{slot.index}/g{gen}")
        schedule = self._schedule
        assert schedule is not None
        client: Client | None = None
        while slot.generation == gen:
            if client is None:
                client = self._open(slot, gen)
                if client is None:
                    return
            due = schedule.take()
            if due is None:
                return
            while (wait := due - time.monotonic()) > 0:  # open loop: never early
                if schedule.stopped.wait(wait):
                    return
            schedule.lag_s = max(0.0, time.monotonic() - due)
            slot.ops += 1
            f, value = (slot.mix or self.mix).pick(rng, slot.ops)
            op = Operation(slot.process, f, self.keys.pick(rng), value)
            inflight = self.recorder.invoke(op)
            slot.inflight = inflight
            try:
                done = client.invoke(op, self.timeout_s)
                if not isinstance(done, Completion):
                    done = Completion.unknown(
                        f"client returned {type(done).__name__}, not a Completion"
                    )
            except Exception as e:  # any failure of the call leaves its outcome unknown
                done = Completion.unknown(f"{type(e).__name__}: {e}")
            if not self.recorder.complete(inflight, done):
                return  # the watchdog timed this op out and gave the slot to a new thread
            slot.inflight = None
            if done.type == "info":
                # Jepsen: the process that saw an unknown outcome is retired.
                self._close(client)
                client = slot.client = None
                slot.process = self._new_process()

    def _open(self, slot: _Slot, gen: int) -> Client | None:
        schedule = self._schedule
        assert schedule is not None
        delay = 0.05
        while slot.generation == gen and not schedule.stopped.is_set():
            try:
                factory = (slot.group.factory if slot.group else None) or self.factory
                if _takes_slot(factory):
                    group = slot.group.name if slot.group else ""
                    client = factory(
                        slot.process, ClientSlot(slot.index, slot.process, group, slot.member)
                    )
                else:
                    client = factory(slot.process)
            except Exception as e:
                events.emit(
                    events.Log(
                        level="warning",
                        source="workload",
                        message=f"{self.name}: client {slot.process} could not open: {e}",
                    )
                )
                if schedule.stopped.wait(delay):
                    return None
                delay = min(delay * 2, 1.0)
                if schedule.over():
                    return None
                continue
            slot.client = client
            return client
        return None

    @staticmethod
    def _close(client: Client | None) -> None:
        if client is None:
            return
        try:
            client.close()
        except Exception:
            pass  # closing a broken connection may fail; nothing to do about it

    def _watchdog(self) -> None:
        while not self._done.wait(0.05):
            now = time.monotonic_ns()
            limit = int((self.timeout_s + self.grace_s) * 1e9)
            for slot in self._slots:
                inflight = slot.inflight
                if inflight is None or now - inflight.started_ns < limit:
                    continue
                hung = Completion.unknown(f"no answer after {self.timeout_s + self.grace_s:.1f} s")
                if not self.recorder.complete(inflight, hung):
                    continue
                slot.inflight = None
                old = slot.client
                slot.generation += 1
                slot.client = None
                slot.process = self._new_process()
                # The replacement starts before the old client is closed, so that
                # join() never sees the slot with no live thread in between.
                self._start_slot(slot)
                self._close(old)

    # -- live samples --------------------------------------------------------------------

    def _sampler(self) -> None:
        last = time.monotonic()
        while not self._done.wait(SAMPLE_EVERY_S):
            now = time.monotonic()
            self._sample(now - last)
            last = now
        # the last, partial second, so that a short run still reports
        self._sample(max(time.monotonic() - last, 1e-3))

    def _sample(self, interval_s: float) -> None:
        seen = self._sampled
        done = self.recorder.completions[seen:]
        self._sampled = seen + len(done)
        counts = {"ok": 0, "fail": 0, "info": 0}
        latencies = []
        for _, kind, latency in done:
            counts[kind] += 1
            if kind != "info":
                latencies.append(latency / 1e6)
        latencies.sort()
        schedule = self._schedule
        events.emit(
            events.WorkloadSample(
                ops_per_s=len(done) / interval_s,
                ok=counts["ok"],
                fail=counts["fail"],
                info=counts["info"],
                p50_ms=_pct(latencies, 50),
                p95_ms=_pct(latencies, 95),
                p99_ms=_pct(latencies, 99),
                lag_ms=None if schedule is None or self.rate is None else schedule.lag_s * 1000,
                workload=self.name,
            )
        )


def _pct(values: list[float], q: float) -> float | None:
    from distlab.checkers.stats import percentile

    return percentile(values, q)
