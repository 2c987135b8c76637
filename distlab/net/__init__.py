"""distlab.net: the fault-injecting network (per-link and ingress proxies on 127.0.0.1).

    from distlab.net import Network
    net = Network.start(run_dir)                  # proxy server in a process of its own
    port = net.add_link("n1", "n2", ("127.0.0.1", n2_peer_port))
    net.partition([["n1"], ["n2", "n3"]])         # or net.partition_shape("majorities_ring")
    net.heal()
    net.close()

See docs/net.md.
"""

from distlab.net.backend import Backend, ProxyBackend
from distlab.net.faults import CLIENT, DATABASE, FlowFaults
from distlab.net.network import Network
from distlab.net.shapes import SHAPES, Partition
from distlab.net.topology import TOPOLOGIES, links_for, peers_of

__all__ = [
    "CLIENT",
    "DATABASE",
    "SHAPES",
    "TOPOLOGIES",
    "Backend",
    "FlowFaults",
    "Network",
    "Partition",
    "ProxyBackend",
    "links_for",
    "peers_of",
]
