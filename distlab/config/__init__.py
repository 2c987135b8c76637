"""Typed settings from ``config.toml`` (see ``schema``) and their loader."""

from distlab.config.loader import load, loads
from distlab.config.schema import LAYERS, Config, GateSpec, SuiteSettings

__all__ = ["LAYERS", "Config", "GateSpec", "SuiteSettings", "load", "loads"]
