"""The kernel's words for a table of flow faults: nftables rules and tc commands.

Pure functions, no I/O. A flow ``src -> dst`` is enforced inside one
namespace: the receiver's ``input`` hook when the receiver is a node (match
the sender's address), otherwise the sender's ``output`` hook (match the
receiver's). Rules match TCP and UDP alike. Each namespace gets one table,
``inet distlab``, replaced whole in one ``nft -f`` transaction, so a change
never leaves half a partition in force.
"""

from __future__ import annotations

from dataclasses import dataclass

from distlab.net.faults import Flow, FlowFaults

TABLE = "distlab"
L4 = "meta l4proto { tcp, udp }"
LOSS_SCALE = 10_000  # numgen draws 0..9999: loss is kept to 1/10000


@dataclass(frozen=True)
class Placement:
    """Where a flow's rule lives: the namespace's owner, the hook and the address matched."""

    ns: str
    hook: str  # "input" or "output"
    match: str  # "ip saddr A" or "ip daddr A"


def place(flow: Flow, address: dict[str, str], nodes: set[str]) -> Placement:
    """Where ``flow`` is enforced (see the module docstring)."""
    src, dst = flow
    if dst in nodes:
        return Placement(dst, "input", f"ip saddr {address[src]}")
    return Placement(src, "output", f"ip daddr {address[dst]}")


def flow_rules(faults: FlowFaults, match: str) -> list[str]:
    """The rule lines for one flow's faults (latency and bandwidth live in tc)."""
    lines: list[str] = []
    if faults.block == "reject":
        # The peer's own reset must pass, or a cut both ways would turn a reset into a hang.
        lines.append(f"{match} tcp flags & rst == rst accept")
        lines.append(f"{match} meta l4proto tcp reject with tcp reset")
        lines.append(f"{match} meta l4proto udp reject")
    elif faults.block == "drop" or faults.stall:
        # A stall holds bytes; in the kernel that is a drop TCP retransmits after heal.
        lines.append(f"{match} {L4} drop")
    elif faults.loss > 0:
        cut = round(faults.loss * LOSS_SCALE)
        lines.append(f"{match} {L4} numgen random mod {LOSS_SCALE} < {cut} drop")
    return lines


def ruleset(chains: dict[str, list[str]]) -> str:
    """One ``nft -f`` script that replaces the table with ``chains`` (hook -> rules)."""
    body = []
    for hook in ("input", "output"):
        rules = "".join(f"\t\t{r}\n" for r in chains.get(hook, []))
        body.append(
            f"\tchain {hook} {{\n\t\ttype filter hook {hook} priority 0; policy accept;\n{rules}\t}}\n"
        )
    # Declaring the table first makes the delete valid on the first load too.
    return (
        f"table inet {TABLE}\ndelete table inet {TABLE}\ntable inet {TABLE} {{\n{''.join(body)}}}\n"
    )


def tables(
    table: dict[Flow, FlowFaults], blocked: set[Flow], address: dict[str, str], nodes: set[str]
) -> dict[str, str]:
    """Each namespace's ``nft -f`` script for the fault ``table`` plus the
    ``blocked`` flows (links a topology leaves out, which heal never opens)."""
    chains: dict[str, dict[str, list[str]]] = {}
    for flow in sorted(blocked):
        p = place(flow, address, nodes)
        chains.setdefault(p.ns, {}).setdefault(p.hook, []).append(f"{p.match} {L4} drop")
    for flow, faults in sorted(table.items()):
        p = place(flow, address, nodes)
        chains.setdefault(p.ns, {}).setdefault(p.hook, []).extend(flow_rules(faults, p.match))
    return {ns: ruleset(c) for ns, c in chains.items()}


@dataclass(frozen=True)
class Shaping:
    """One flow's share of an egress device: rate (kbit/s, 0 = unlimited) and delay."""

    match: str  # "dst A" or "src A" (u32 ip match)
    kbit_s: float
    latency_ms: float
    jitter_ms: float


def egress(
    flow: Flow, address: dict[str, str], nodes: set[str], bridge: str
) -> tuple[str, str, str]:
    """(namespace owner, device, u32 match) where ``flow``'s bytes leave: the
    sender's ``eth0`` when it is a node, else the bridge's port toward the receiver."""
    src, dst = flow
    if src in nodes:
        return (src, "eth0", f"dst {address[dst]}")
    return (bridge, port_name(dst), f"src {address[src]}")


def port_name(node: str) -> str:
    """The bridge-side veth of ``node`` (interface names are at most 15 bytes)."""
    return f"dl-{node}"[:15]


def tc_script(shapes: list[Shaping]) -> list[list[str]]:
    """``tc`` argvs (after ``tc``, device filled in by the caller as ``DEV``) that put an
    HTB tree with one class per shaped flow (netem leaf where there is delay)."""
    if not shapes:
        return []
    out = [
        ["qdisc", "add", "dev", "DEV", "root", "handle", "1:", "htb", "default", "9999"],
        [
            "class",
            "add",
            "dev",
            "DEV",
            "parent",
            "1:",
            "classid",
            "1:9999",
            "htb",
            "rate",
            "10gbit",
        ],
    ]
    for n, s in enumerate(shapes, start=10):
        rate = f"{s.kbit_s:g}kbit" if s.kbit_s > 0 else "10gbit"
        out.append(
            ["class", "add", "dev", "DEV", "parent", "1:", "classid", f"1:{n}", "htb", "rate", rate]
            + (["burst", "4k"] if s.kbit_s > 0 else [])
        )
        if s.latency_ms > 0 or s.jitter_ms > 0:
            delay = ["delay", f"{s.latency_ms:g}ms"] + (
                [f"{s.jitter_ms:g}ms"] if s.jitter_ms else []
            )
            out.append(
                [
                    "qdisc",
                    "add",
                    "dev",
                    "DEV",
                    "parent",
                    f"1:{n}",
                    "handle",
                    f"{n}:",
                    "netem",
                    *delay,
                ]
            )
        kind, addr = s.match.split()
        out.append(
            [
                *("filter", "add", "dev", "DEV", "parent", "1:", "protocol", "ip", "prio", "1"),
                *("u32", "match", "ip", kind, f"{addr}/32", "flowid", f"1:{n}"),
            ]
        )
    return out
