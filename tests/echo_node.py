"""A trivial node for testing the lab itself, independent of the reference system.

    python echo_node.py --id n1 --port P --peer-port Q --peers "n1=127.0.0.1:Q,n2=127.0.0.1:X"
        [--data-dir D] [--spawn-child] [--ignore-term] [--exit-code N]
        [--hello-url URL] [--dial-at-start] [--tag TEXT] [--term-file PATH]

``--hello-url URL``: a dialler introduces itself as ``X-Peer-URL: URL`` (its
advertised address, as many real peer protocols do) instead of ``HELLO <id>``.
``--dial-at-start``: the client port opens only once every peer answered.
``--tag TEXT``: the client command ``TAG`` answers TEXT (placeholders' values).
``--term-file PATH``: on SIGTERM, write "clean" there and exit 0.

Peer port: a dialler sends ``HELLO <its id>`` (ingress proxies identify it
by that line) and gets ``ECHO <this id> <its id>``; further lines are echoed
back, so one connection can be probed again and again.

Client port, one command per line:
    ID                   -> this node's id
    ECHO text            -> text
    PROBE peer [ms]      -> OK peer | FAIL peer reason     (a fresh connection)
    PROBEALL [ms]        -> {"n2": true, ...} as JSON      (every peer, concurrently)
    PING peer [ms]       -> OK peer | FAIL peer reason     (over one kept-open connection)
    NOTEALL              -> SENT, after sending ``NOTE <this id>`` to every peer (one way, no reply)
    HEARD                -> JSON list of peers whose NOTE arrived since the last HEARD
    UGOSSIP              -> SENT, after a UDP datagram ``GOSSIP <this id>`` to every peer's peer port
    UHEARD               -> JSON list of peers whose UDP gossip arrived since the last UHEARD
    STARTS               -> how many times a node started with this data dir
    CHILD                -> pid of the child started by --spawn-child
    EXIT n               -> the node exits with code n at once

Standard library only, so it starts in tens of milliseconds.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import subprocess
import sys


class EchoNode:
    def __init__(self, args: argparse.Namespace) -> None:
        self.id = args.id
        self.peers: dict[str, tuple[str, int]] = {}
        for entry in filter(None, args.peers.split(args.separator)):
            peer_id, _, address = entry.partition("=")
            host, _, port = address.rpartition(":")
            if peer_id != self.id:
                self.peers[peer_id] = (host, int(port))
        self.kept: dict[str, tuple[asyncio.StreamReader, asyncio.StreamWriter]] = {}
        self.heard: set[str] = set()
        self.gossip_heard: set[str] = set()
        self.udp: asyncio.DatagramTransport | None = None
        self.starts = 0
        self.child: subprocess.Popen[bytes] | None = None
        self.hello = f"X-Peer-URL: {args.hello_url}" if args.hello_url else f"HELLO {self.id}"
        self.tag = args.tag
        if args.data_dir:
            os.makedirs(args.data_dir, exist_ok=True)
            path = os.path.join(args.data_dir, "starts")
            with open(path, "a") as f:
                f.write("start\n")
            with open(path) as f:
                self.starts = len(f.readlines())
        if args.spawn_child:
            # Same process group, no death signal: only a group kill reaches it.
            self.child = subprocess.Popen(["sleep", "600"])

    async def on_peer(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            hello = (await reader.readline()).decode().split()
            if len(hello) == 2 and hello[0] == "NOTE":
                # One-way traffic: shows which *direction* of a link carries bytes.
                self.heard.add(hello[1])
                return
            caller = hello[1] if len(hello) == 2 and hello[0] in ("HELLO", "X-Peer-URL:") else "?"
            writer.write(f"ECHO {self.id} {caller}\n".encode())
            await writer.drain()
            while line := await reader.readline():
                writer.write(line)
                await writer.drain()
        except (ConnectionError, OSError):
            pass
        finally:
            writer.close()

    async def dial(self, peer: str, timeout: float) -> str:
        if peer not in self.peers:
            return f"FAIL {peer} unknown"
        try:
            reader, writer = await asyncio.wait_for(
                asyncio.open_connection(*self.peers[peer]), timeout
            )
        except (OSError, TimeoutError) as e:
            return f"FAIL {peer} connect {type(e).__name__}"
        try:
            writer.write(f"{self.hello}\n".encode())
            await writer.drain()
            reply = await asyncio.wait_for(reader.readline(), timeout)
            return (
                f"OK {peer}"
                if reply.startswith(f"ECHO {peer}".encode())
                else f"FAIL {peer} reply {reply!r}"
            )
        except (OSError, TimeoutError) as e:
            return f"FAIL {peer} {type(e).__name__}"
        finally:
            writer.close()

    async def note(self, peer: str) -> None:
        try:
            _, writer = await asyncio.wait_for(asyncio.open_connection(*self.peers[peer]), 0.5)
        except (OSError, TimeoutError):
            return
        writer.write(f"NOTE {self.id}\n".encode())
        try:
            await asyncio.wait_for(writer.drain(), 0.5)
        except (OSError, TimeoutError):
            pass
        finally:
            writer.close()

    async def ping(self, peer: str, timeout: float) -> str:
        """Round trip over one connection kept open between calls."""
        try:
            if peer not in self.kept:
                reader, writer = await asyncio.wait_for(
                    asyncio.open_connection(*self.peers[peer]), timeout
                )
                writer.write(f"{self.hello}\n".encode())
                await writer.drain()
                await asyncio.wait_for(reader.readline(), timeout)
                self.kept[peer] = (reader, writer)
            reader, writer = self.kept[peer]
            writer.write(b"ping\n")
            await writer.drain()
            reply = await asyncio.wait_for(reader.readline(), timeout)
            if reply == b"ping\n":
                return f"OK {peer}"
            self.kept.pop(peer, None)
            return f"FAIL {peer} closed"
        except (OSError, TimeoutError, KeyError) as e:
            # A timed-out connection stays open: the next PING reuses it, which is the point.
            if not isinstance(e, TimeoutError):
                self.kept.pop(peer, None)
            return f"FAIL {peer} {type(e).__name__}"

    async def on_client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while line := await reader.readline():
                words = line.decode().split()
                reply = await self.command(words, line.decode())
                writer.write((reply + "\n").encode())
                await writer.drain()
        except (ConnectionError, OSError):
            pass
        finally:
            writer.close()

    async def command(self, words: list[str], line: str) -> str:
        if not words:
            return "ERR empty"
        verb = words[0]
        timeout = float(words[2]) / 1000 if len(words) > 2 else 0.5
        if verb == "ID":
            return self.id
        if verb == "ECHO":
            return line[5:].rstrip("\n")
        if verb == "PROBE" and len(words) > 1:
            return await self.dial(words[1], timeout)
        if verb == "PING" and len(words) > 1:
            return await self.ping(words[1], timeout)
        if verb == "PROBEALL":
            timeout = float(words[1]) / 1000 if len(words) > 1 else 0.5
            peers = sorted(self.peers)
            replies = await asyncio.gather(*(self.dial(p, timeout) for p in peers))
            return json.dumps({p: r.startswith("OK") for p, r in zip(peers, replies, strict=True)})
        if verb == "NOTEALL":
            await asyncio.gather(*(self.note(p) for p in self.peers))
            return "SENT"
        if verb == "HEARD":
            heard, self.heard = sorted(self.heard), set()
            return json.dumps(heard)
        if verb == "UGOSSIP" and self.udp is not None:
            for peer in self.peers.values():
                self.udp.sendto(f"GOSSIP {self.id}".encode(), peer)
            return "SENT"
        if verb == "UHEARD":
            gossip, self.gossip_heard = sorted(self.gossip_heard), set()
            return json.dumps(gossip)
        if verb == "EXIT" and len(words) > 1:
            os._exit(int(words[1]))
        if verb == "STARTS":
            return str(self.starts)
        if verb == "TAG":
            return self.tag
        if verb == "CHILD":
            return str(self.child.pid if self.child else 0)
        return f"ERR unknown command {verb}"


async def serve(args: argparse.Namespace) -> None:
    node = EchoNode(args)
    peer_server = await asyncio.start_server(node.on_peer, args.host, args.peer_port)
    # UDP gossip on the peer port's number: traffic a TCP proxy cannot see.
    node.udp, _ = await asyncio.get_running_loop().create_datagram_endpoint(
        lambda: Gossip(node), local_addr=(args.host, args.peer_port)
    )
    if args.term_file:
        asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, clean_exit, args.term_file)
    while args.dial_at_start:  # like a member that joins only once its peers answer
        replies = await asyncio.gather(*(node.dial(p, 0.5) for p in sorted(node.peers)))
        if all(r.startswith("OK") for r in replies):
            break
        await asyncio.sleep(0.05)
    # The client port opens last: a TCP health probe that connects means the node is ready.
    client_server = await asyncio.start_server(node.on_client, args.host, args.port)
    print(f"echo node {args.id} listening on {args.port} (peers on {args.peer_port})", flush=True)
    async with peer_server, client_server:
        await asyncio.Event().wait()


class Gossip(asyncio.DatagramProtocol):
    def __init__(self, node: EchoNode) -> None:
        self.node = node

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        words = data.decode(errors="replace").split()
        if len(words) == 2 and words[0] == "GOSSIP":
            self.node.gossip_heard.add(words[1])


def clean_exit(path: str) -> None:
    with open(path, "w") as f:
        f.write("clean\n")
    os._exit(0)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--id", required=True)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--peer-port", type=int, required=True)
    parser.add_argument("--peers", default="")
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on")
    parser.add_argument("--separator", default=",")
    parser.add_argument("--data-dir", default="")
    parser.add_argument("--spawn-child", action="store_true")
    parser.add_argument("--ignore-term", action="store_true")
    parser.add_argument("--exit-code", type=int, default=None, help="print a line and exit at once")
    parser.add_argument("--hello-url", default="")
    parser.add_argument("--dial-at-start", action="store_true")
    parser.add_argument("--tag", default="")
    parser.add_argument("--term-file", default="")
    args = parser.parse_args()
    if args.exit_code is not None:
        print(f"echo node {args.id}: told to exit with {args.exit_code}", flush=True)
        return args.exit_code
    if args.ignore_term:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
    try:
        asyncio.run(serve(args))
    except OSError as e:
        print(f"echo node {args.id}: {e}", flush=True)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
