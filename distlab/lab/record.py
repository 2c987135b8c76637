"""What a lab session leaves behind: the faults as a ``Schedule`` and a regression test.

``schedule.json`` is ``Schedule.to_json()`` of the faults as they were played
(start as offset from the workload's start, duration until a key or the
session ended them), so ``Schedule.from_json`` reads it and ``distlab lab
--replay`` plays it. ``test_lab_session.py`` is a pytest file that replays
the same schedule against a fresh cluster and checks the history.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace
from pathlib import Path

from distlab.nemesis import KINDS, Applied, Fault, Schedule

SCHEDULE_FILE = "schedule.json"
REGRESSION_FILE = "test_lab_session.py"
SHORTEST_S = 0.001  # a lasting fault ended at once still lasted, for make_fault


@dataclass(frozen=True)
class LabSettings:
    """What a replay needs besides the schedule to run the session again."""

    config: Path
    client: str
    seed: int
    nodes: int
    clients: int
    rate: float


def as_played(applied: Applied, now_s: float) -> Fault:
    """The fault as it happened: a lasting one until it ended (or ``now_s`` if it had not)."""
    fault = applied.fault
    if not KINDS[fault.kind].lasting:
        return replace(fault, duration_s=0.0)
    end = applied.ended_s if applied.ended_s is not None else now_s
    return replace(fault, duration_s=round(max(end - fault.at_s, SHORTEST_S), 3))


def played_schedule(applied: Iterable[Applied], now_s: float, *, name: str, seed: int) -> Schedule:
    """Every fault that started (those that could not are left out: they did not happen)."""
    faults = [as_played(a, now_s) for a in applied if a.error is None]
    return Schedule(tuple(faults), name=name, seed=seed)


def regression_source(schedule: Schedule, settings: LabSettings, session: Path) -> str:
    """A pytest file that replays ``schedule`` on a fresh cluster and checks linearizability."""
    return f'''"""Lab session {session.name} as a regression test: its {len(schedule)} fault(s) replayed
on a fresh cluster under the same workload, and the history checked (register model).

Run it with: pytest {session / REGRESSION_FILE}
"""

from pathlib import Path

from distlab.lab.replay import replay_and_check
from distlab.nemesis import Schedule

CONFIG = Path({str(settings.config)!r})
CLIENT = {settings.client!r}
SEED = {settings.seed!r}
NODES = {settings.nodes!r}
CLIENTS = {settings.clients!r}
RATE = {settings.rate!r}
SCHEDULE = Schedule.from_json({_literal(schedule.to_json())})


def test_lab_session_replays_linearizable(tmp_path: Path) -> None:
    outcome = replay_and_check(
        CONFIG,
        SCHEDULE,
        client=CLIENT,
        seed=SEED,
        nodes=NODES,
        clients=CLIENTS,
        rate=RATE,
        session_dir=tmp_path,
    )
    assert outcome.valid, outcome.explain()
'''


def _literal(text: str) -> str:
    """``text`` as Python source: a readable triple-quoted block when it can be one."""
    if "'''" in text or "\\" in text:
        return repr(text)
    return f"'''{text}'''"


def save(session: Path, schedule: Schedule, settings: LabSettings) -> list[Path]:
    """Write ``schedule.json`` and the regression test into ``session``; returns their paths."""
    written = []
    for name, text in (
        (SCHEDULE_FILE, schedule.to_json()),
        (REGRESSION_FILE, regression_source(schedule, settings, session)),
    ):
        path = session / name
        path.write_text(text, encoding="utf-8")
        written.append(path)
    return written
