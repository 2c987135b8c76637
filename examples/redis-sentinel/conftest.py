"""Fixtures shared by the redis-sentinel suites."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest

# client.py and support.py sit beside this file; the suites import them by name.
sys.path.insert(0, str(Path(__file__).parent))

from client import role_of


@pytest.fixture
def nemesis_role_probe(request: pytest.FixtureRequest) -> Any:
    """Who leads, for targets such as ``leader:group:redis``: asks each Redis member its ROLE."""
    cluster = request.getfixturevalue("cluster")
    return lambda node_id: role_of(cluster, node_id)
