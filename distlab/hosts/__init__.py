"""Nodes on other machines, driven over OpenSSH like Jepsen's control node (docs/hosts.md)."""
