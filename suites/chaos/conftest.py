"""Chaos suites: the nemesis learns who leads from the reference node's status."""

from __future__ import annotations

from typing import Any

import pytest
from support.refsys_client import role_probe


@pytest.fixture
def nemesis_role_probe(cluster: Any) -> Any:
    """The reference system's role probe, for leader / followers targets."""
    return role_probe(cluster)
