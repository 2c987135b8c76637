"""What the suites share: waiting on Sentinel, the final read, the set verdict."""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable
from typing import Any

from client import SetClient, primary_of, role_of

from distlab.checkers.queue import RecordsResult, check_set
from distlab.workload import ClientSlot, OpMix


def adds_and_reads(add: float, read: float, counter: itertools.count[int]) -> OpMix:
    """An op mix of ``add`` (each value unique across every client) and ``read``."""
    return OpMix({"add": add, "read": read}, {"add": lambda rng, n: next(counter)})


def set_client(cluster: Any) -> Callable[[int, ClientSlot], SetClient]:
    """The client factory: a SetClient bound to the slot's member, if it has one."""
    return lambda process, slot: SetClient(cluster, slot)


def wait_until(what: str, condition: Callable[[], bool], timeout_s: float) -> None:
    """Poll ``condition`` until true; AssertionError naming ``what`` after ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not after {timeout_s:g} s")
        time.sleep(0.1)


def safe_role(cluster: Any, node_id: str) -> str | None:
    try:
        return role_of(cluster, node_id)
    except Exception:  # a member that does not answer has no role yet
        return None


def settled(cluster: Any, primary: str) -> bool:
    """Every sentinel that answers names ``primary`` and every other Redis member replicates."""
    if primary_of(cluster) != primary:
        return False
    return all(safe_role(cluster, n) == "follower" for n in cluster.group("redis") if n != primary)


def final_read(workload: Any, cluster: Any, attempts: int = 10) -> None:
    """A successful read on the primary, recorded into the test's history as its last op.

    Tried up to ``attempts`` times (a sentinel may be between answers); the
    failed tries stay in the history, where a failed read constrains nothing.
    """
    for _ in range(attempts):
        w = workload(
            set_client(cluster),
            mix=OpMix({"read": 1}),
            clients=1,
            max_ops=1,
            timeout_s=2.0,
            name="final-read",
        )
        w.run()
        reads = [op for op in w.recorder.history().ops if op.f == "read"]
        if reads and reads[-1].type == "ok":
            return
        time.sleep(0.5)
    raise AssertionError(f"no successful final read in {attempts} tries")


def judged(history: Any) -> RecordsResult:
    """Jepsen's set checker over the test's history; printed so it lands in the JUnit."""
    result = check_set(history.history())
    print(f"set checker: {result.summary()}")
    print(f"lost acknowledged adds ({len(result.lost)}): {ranges(result.lost)}")
    return result


def ranges(ids: Any) -> str:
    """Whole numbers as runs, "3-7, 9, 12-15": thousands of lost ids stay readable."""
    runs: list[list[int]] = []
    for n in sorted(ids):
        if runs and n == runs[-1][1] + 1:
            runs[-1][1] = n
        else:
            runs.append([n, n])
    return ", ".join(str(a) if a == b else f"{a}-{b}" for a, b in runs) or "none"
