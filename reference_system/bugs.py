"""Planted bugs, switched on by ``REFSYS_BUGS=name,name`` (off by default).

Each is a realistic mistake that the suites must catch; see
docs/planted-bugs.md for which test catches which. Code asks ``enabled(name)``
at the point where the mistake would be made.
"""

from __future__ import annotations

import os

BUGS_ENV = "REFSYS_BUGS"

KNOWN: dict[str, str] = {
    # Raft KV nodes
    "stale-read": "followers answer reads from local state",
    "lost-ack": "the leader acknowledges a write before a majority has it",
    "split-brain": "no step-down without quorum, and elections that do not need a majority",
    "no-fsync": "the log is not persisted; a restarted node forgets acknowledged entries",
    "lost-context": "trace context is dropped on node-to-node calls",
    "registry-no-sync": "registrations made during a partition never reach the other side after heal",
    "forward-timeout-fails": "a follower reports a forwarded write that got no answer in time as failed, not unknown",
    # Raft core (the rules of the Raft paper's sections 5.2-5.4, persistence and ReadIndex)
    "old-term-commit": "a new leader appends no entry of its own and commits earlier terms' entries by counting replicas",
    "vote-longer-log": "votes go to the longer log: last indexes compared, last terms ignored",
    "read-no-quorum": "the leader serves a read at its commit index without a heartbeat round confirming it still leads",
    "keep-conflicting-suffix": "a follower keeps its own conflicting entries and takes only what lies past its end",
    "unsynced-vote": "a new term and vote are not synced before the vote is answered, only with the next entries",
    # PostgreSQL work queue and infrastructure
    "double-claim": "claims select, then update, with no row lock",
    "lost-on-crash": "a crashed processor's claims are never reclaimed",
    "retry-forever": "failed records are retried with no limit",
    "bucket-leak": "the rate limiter refills too fast under concurrency",
}


def active(env: str | None = None) -> frozenset[str]:
    """The bugs switched on (from ``env`` or ``$REFSYS_BUGS``); unknown names are an error."""
    text = os.environ.get(BUGS_ENV, "") if env is None else env
    names = frozenset(n.strip() for n in text.split(",") if n.strip())
    unknown = sorted(names - KNOWN.keys())
    if unknown:
        raise ValueError(
            f"{BUGS_ENV}: unknown bug {unknown[0]!r}; known: {', '.join(sorted(KNOWN))}"
        )
    return names


def enabled(name: str) -> bool:
    """Whether the planted bug ``name`` is switched on in this process."""
    if name not in KNOWN:
        raise KeyError(f"not a planted bug: {name!r}")
    return name in active()
