"""Ports on 127.0.0.1 for nodes: picked by the kernel, or counted up from a base."""

from __future__ import annotations

import random
import socket

from distlab.errors import LabError

HOST = "127.0.0.1"


def port_is_free(port: int) -> bool:
    """Whether a listener could bind ``port`` on 127.0.0.1 right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        # SO_REUSEADDR as the nodes will most likely use it: a port in TIME_WAIT is free.
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((HOST, port))
        except OSError:
            return False
        return True


# Below Linux's ephemeral range (32768-60999): ports the kernel hands to other
# programs' bind(0) and to outgoing connections never land here, so a port we
# checked free stays free until the node binds it.
NODE_PORTS = (20000, 32767)


class PortAllocator:
    """Hands out distinct ports; each is checked free when handed out.

    Without a base, ports are drawn at random from ``NODE_PORTS``. The draw
    is deliberately *not* from the root seed: two runs with the same seed on
    one machine must not pick the same ports. With a base (``cluster up
    --base-port``) ports are counted up from it so addresses are
    predictable, and a taken one is an error naming it, not a silent skip.
    """

    def __init__(self, base: int | None = None) -> None:
        if base is not None and not 1024 <= base <= 65000:
            raise LabError(f"base port must be from 1024 to 65000, got {base}")
        self._next = base
        self._given: set[int] = set()
        self._draw = random.Random()  # seeded from the OS, see the class docstring

    def take(self, purpose: str) -> int:
        """One free port for ``purpose`` (named in the error if it is taken)."""
        if self._next is not None:
            port = self._next
            self._next += 1
            if not port_is_free(port):
                raise LabError(
                    f"port {port} on {HOST} is already taken ({purpose}); "
                    "stop what holds it or choose another base port"
                )
        else:
            port = self._random_port()
        self._given.add(port)
        return port

    def _random_port(self) -> int:
        for _ in range(200):
            port = self._draw.randint(*NODE_PORTS)
            if port not in self._given and port_is_free(port):
                return port
        raise LabError(
            f"no free port on 127.0.0.1 from {NODE_PORTS[0]} to {NODE_PORTS[1]} after 200 tries"
        )  # pragma: no cover


class ClosedPort:
    """A port that is bound but never listens: dialling it is refused at once.

    Peer-list entries for links the topology leaves out point here, so a node
    still knows every member but cannot reach the ones it has no link to.
    Holding the bound socket keeps anyone else from taking the port.
    """

    def __init__(self) -> None:
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._sock.bind((HOST, 0))
        self.port = int(self._sock.getsockname()[1])

    def close(self) -> None:
        self._sock.close()
