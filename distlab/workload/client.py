"""The client interface users implement for their own system.

A client is one Jepsen "process": single-threaded, one op at a time. The
workload opens one per logical client and a fresh one (with a fresh process
id) whenever an op's outcome is unknown, because that connection's state is
now unknown too.

    class KVClient(Client):
        def __init__(self, process, address):
            self.sock = socket.create_connection(address, timeout=2)

        def invoke(self, op, timeout_s):
            self.sock.settimeout(timeout_s)
            reply = rpc(self.sock, op.f, op.key, op.value)   # raises on timeout
            if reply.get("error") == "not-found":
                return Completion.fail("not found")            # definitely did not happen
            return Completion.ok(reply.get("value"))

        def close(self):
            self.sock.close()

Return ``Completion.ok(value)`` when the op happened (a read's value is what
it read), ``Completion.fail(...)`` only when it certainly did not happen, and
``Completion.unknown(...)`` when you cannot tell. Any exception ``invoke``
raises -- a timeout, a reset connection -- is recorded as unknown (``info``):
the request may have been applied before the connection broke.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any

from distlab.workload.ops import Operation

OUTCOMES = ("ok", "fail", "info")


@dataclass(frozen=True)
class Completion:
    """How an op ended: ``ok`` (happened), ``fail`` (did not), ``info`` (unknown)."""

    type: str
    value: Any = None
    error: str = ""

    def __post_init__(self) -> None:
        if self.type not in OUTCOMES:
            raise ValueError(
                f"completion type must be one of {', '.join(OUTCOMES)}, got {self.type!r}"
            )

    @classmethod
    def ok(cls, value: Any = None) -> Completion:
        return cls("ok", value)

    @classmethod
    def fail(cls, error: str = "") -> Completion:
        return cls("fail", None, error)

    @classmethod
    def unknown(cls, error: str = "") -> Completion:
        return cls("info", None, error)


class Client(ABC):
    """One logical client of the system under test."""

    @abstractmethod
    def invoke(self, op: Operation, timeout_s: float) -> Completion:
        """Perform ``op``, giving up after about ``timeout_s`` seconds."""

    def close(self) -> None:  # noqa: B027 - optional hook, most clients have something to close
        """Release the connection. May be called from another thread to abort a hung
        ``invoke`` (shut the socket down), so make it safe to call at any time,
        and more than once."""
