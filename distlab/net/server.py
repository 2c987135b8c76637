"""The proxy server: a process of its own (``python -m distlab.net.server``), as
Toxiproxy runs a server, so test code and workload clients never compete with
the proxies for one GIL. Also runnable on a background thread (in-process mode,
for unit tests).

Control protocol: JSON lines over a Unix socket, one request
``{"op": ..., ...}`` and one reply ``{"ok": bool, "result"|"error": ...}``
at a time. The server prints ``ready`` on stdout once it listens and exits
when its controller hangs up, on ``close``, or on SIGTERM.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import signal
import sys
import threading
from collections.abc import Coroutine
from typing import Any

from distlab.net.switchboard import Switchboard


def new_loop() -> asyncio.AbstractEventLoop:
    """A uvloop loop where available (about 40% less per-hop overhead), else asyncio's."""
    try:
        import uvloop
    except ImportError:
        return asyncio.new_event_loop()
    return uvloop.new_event_loop()


async def serve(control_path: str, seed: int) -> None:
    """Serve one controller on ``control_path`` until it goes away."""
    loop = asyncio.get_running_loop()
    board = Switchboard(loop, seed)
    done = asyncio.Event()

    async def controller(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while line := await reader.readline():
                request = json.loads(line)
                reply = await board.handle(request)
                writer.write(json.dumps(reply).encode() + b"\n")
                await writer.drain()
                if board.closed:
                    break
        except (ConnectionError, json.JSONDecodeError):
            pass
        finally:
            done.set()  # our owner hung up: nothing is left to serve
            writer.close()

    control = await asyncio.start_unix_server(controller, path=control_path)
    loop.add_signal_handler(signal.SIGTERM, done.set)
    print("ready", flush=True)
    await done.wait()
    control.close()
    await board.close()


class ThreadedServer:
    """The switchboard on a daemon thread of this process (in-process mode)."""

    def __init__(self, seed: int) -> None:
        self.loop = new_loop()
        self.board = Switchboard(self.loop, seed)
        self.thread = threading.Thread(
            target=self.loop.run_forever, name="distlab-net", daemon=True
        )
        self.thread.start()

    def run(self, coro: Coroutine[Any, Any, Any], timeout: float = 10.0) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def request(self, request: object) -> dict[str, Any]:
        return self.run(self.board.handle(request))

    def close(self) -> None:
        if not self.thread.is_alive():
            return
        with contextlib.suppress(Exception):
            self.run(self.board.close())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(timeout=5)
        if not self.thread.is_alive():
            self.loop.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m distlab.net.server")
    parser.add_argument("--control", required=True, help="Unix socket path to listen on")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    loop = new_loop()
    try:
        loop.run_until_complete(serve(args.control, args.seed))
    finally:
        loop.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
