"""A test that hits a broken lab (what the cluster fixture raises on a port clash)."""

from distlab.errors import LabError


def test_needs_cluster():
    raise LabError("node n1 cannot start: port 7001 is already in use")
