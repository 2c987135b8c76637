"""A saved lab schedule replayed without a screen, and the history judged: what a
session's ``test_lab_session.py`` runs."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from distlab.checkers.linearizability import LinearizabilityResult
from distlab.checkers.verdict import Verdict
from distlab.errors import UsageError
from distlab.lab.adapter import load_adapter
from distlab.lab.session import LabSession
from distlab.nemesis import Applied, Schedule

# The workload runs on after the last fault ends, so recovery is in the history too.
TAIL_S = 3.0
SHORTEST_RUN_S = 5.0
CHECK_BUDGET_S = 120.0


@dataclass
class ReplayOutcome:
    """The checker's verdict on the replayed history, and what would make it a lie."""

    result: LinearizabilityResult
    ok_ops: int
    fault_errors: list[str]
    played: list[Applied]  # the faults that started, with the nodes they hit
    faults_planned: int
    session_dir: Path

    @property
    def faults_played(self) -> int:
        return len(self.played)

    @property
    def valid(self) -> bool:
        """Linearizable, with completed ops to judge and every planned fault played."""
        return (
            self.result.verdict is Verdict.VALID
            and self.ok_ops > 0
            and not self.fault_errors
            and self.faults_played == self.faults_planned
        )

    def explain(self) -> str:
        """One paragraph: the verdict and anything that kept it from counting."""
        lines = [self.result.summary()]
        if self.ok_ops == 0:
            lines.append("no op completed ok: an empty history proves nothing")
        if self.faults_played != self.faults_planned:
            lines.append(f"{self.faults_played} of {self.faults_planned} faults were played")
        lines.extend(self.fault_errors)
        lines.append(f"session: {self.session_dir}")
        return "\n".join(lines)


def replay_and_check(
    config: Path,
    schedule: Schedule,
    *,
    client: str,
    seed: int,
    session_dir: Path,
    nodes: int | None = None,
    clients: int = 4,
    rate: float = 50.0,
) -> ReplayOutcome:
    """Run ``schedule`` in a fresh lab (cluster, workload, nemesis), then check the history."""
    from distlab.config.loader import load

    config_path = Path(config)
    if not config_path.is_file():
        raise UsageError(f"{config_path}: no such config file")
    loaded = load(str(config_path))
    adapter = load_adapter(client, config_path.parent, "client")
    run_s = max(schedule.end_s + TAIL_S, SHORTEST_RUN_S)
    session = LabSession(
        loaded,
        adapter,
        client=client,
        seed=seed,
        session_dir=session_dir,
        nodes=nodes,
        clients=clients,
        rate=rate,
        minutes=run_s / 60,
        schedule=schedule,
    )
    try:
        session.bring_up()
        session.wait(timeout_s=run_s + 60)
    finally:
        session.close()
    assert session.nemesis is not None and session.recorder is not None
    result = session.recorder.check("register", budget_s=CHECK_BUDGET_S)
    # Nobody presses keys here: everything the nemesis applied came from the schedule.
    played = [a for a in session.nemesis.applied if a.error is None]
    return ReplayOutcome(
        result=result,
        ok_ops=sum(1 for r in session.recorder.records if r.get("type") == "ok"),
        fault_errors=list(session.nemesis.errors),
        played=played,
        faults_planned=len(schedule),
        session_dir=session_dir,
    )
