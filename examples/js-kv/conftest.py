"""Fixtures shared by the js-kv suites.

``JSKV_NAIVE=1`` runs the same suites against the naive (last-writer-wins)
mode by adding ``--naive`` to the node command from config.toml.
"""

from __future__ import annotations

import dataclasses
import os
import sys
from pathlib import Path

import pytest

from distlab.config.schema import ClusterSettings

# client.py sits beside this file; the suites import it as `client`.
sys.path.insert(0, str(Path(__file__).parent))


@pytest.fixture
def cluster_settings(cluster_settings: ClusterSettings) -> ClusterSettings:
    """``[cluster]`` from config.toml, in naive mode when ``JSKV_NAIVE=1``."""
    if os.environ.get("JSKV_NAIVE", "") not in ("", "0"):
        return dataclasses.replace(cluster_settings, command=cluster_settings.command + " --naive")
    return cluster_settings
