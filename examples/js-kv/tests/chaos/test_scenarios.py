"""js-kv in a named chaos scenario from config.toml, judged by its success criteria."""

from __future__ import annotations

import pytest
from client import client_factory

pytestmark = pytest.mark.chaos


def test_leader_crash_then_partition(cluster, scenario):
    result = scenario("leader_crash_then_partition", cluster, client_factory(cluster))
    print(result.report())
    assert result.passed, result.report()
