"""Real node processes: start N nodes from a command template, probe their
health, kill / stop / pause / resume / restart them, sample psutil figures,
and make sure nothing outlives the run. See docs/cluster.md."""

from distlab.cluster.cluster import Cluster
from distlab.cluster.node import Node, NodeSpec, NodeState

__all__ = ["Cluster", "Node", "NodeSpec", "NodeState"]
