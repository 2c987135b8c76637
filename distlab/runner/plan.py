"""Check what a run was asked to do before anything starts.

Every mistake here is the user's (a layer name, a suite path, a gate on a
layer that does not exist, a report path that cannot be written) and ends
the run with exit 2 and one line, before a single process is started.
"""

from __future__ import annotations

import os
from pathlib import Path

from distlab.config.schema import LAYERS, Config, GateSpec
from distlab.errors import UsageError
from distlab.runner.layer import LayerPlan


def select_layers(config: Config, text: str | None) -> list[str]:
    """The layers to run, in configured order; ``text`` is ``--layers`` (``unit,chaos``)."""
    configured = config.ordered_layers()
    if not configured:
        raise UsageError(f"{config.path}: no [suites.*] tables; add e.g. [suites.unit]")
    if text is None:
        return configured
    wanted = [name.strip() for name in text.split(",") if name.strip()]
    if not wanted:
        raise UsageError(f"--layers: empty; name layers such as {','.join(configured[:2])}")
    for name in wanted:
        if name not in configured:
            known = "not a layer" if name not in LAYERS else f"not configured in {config.path}"
            raise UsageError(
                f"--layers: {name!r} is {known}; configured layers: {', '.join(configured)}"
            )
    return [name for name in configured if name in wanted]


def plan_layers(
    config: Config, layers: list[str], only: dict[str, list[str]] | None = None
) -> list[LayerPlan]:
    """One plan per layer; suite paths must exist (relative to the config file)."""
    base = config_dir(config)
    plans = []
    for name in layers:
        settings = config.suites[name]
        if only is not None and name in only:
            plans.append(LayerPlan(name=name, settings=settings, targets=list(only[name])))
            continue
        if not settings.paths:
            raise UsageError(
                f"{config.path}: [suites.{name}] paths: empty; list the test files or "
                "directories of this layer"
            )
        for path in settings.paths:
            if not (base / path).exists():
                raise UsageError(
                    f"{config.path}: [suites.{name}] paths: {path!r} does not exist "
                    f"(relative to {base})"
                )
        plans.append(LayerPlan(name=name, settings=settings, targets=list(settings.paths)))
    return plans


def gate_layer(metric: str) -> str:
    """The layer a gate's metric belongs to: ``performance`` in ``performance.put_ms{f:put}``."""
    return metric.split("{", 1)[0].split(".", 1)[0]


def check_gates(config: Config) -> list[GateSpec]:
    """The config's gates, each on a configured layer, or a one-line UsageError.

    Gates on layers left out of this run stay in: the gates report them as
    not evaluated rather than silently dropping them.
    """
    configured = set(config.suites)
    for gate in config.gates:
        layer = gate_layer(gate.metric)
        if layer not in configured:
            raise UsageError(
                f"{config.path}:{gate.line}: [gates] {gate.metric!r}: names layer {layer!r}, "
                f"which has no [suites.{layer}]; metrics are <layer>.<name> with layer one of "
                f"{', '.join(config.ordered_layers())}"
            )
    return list(config.gates)


def check_writable(path: Path, what: str) -> None:
    """``path``'s directory can be created and written, or a one-line UsageError."""
    directory = path.parent
    if path.is_dir():
        raise UsageError(f"{what} {path}: is a directory; give a file path")
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise UsageError(f"{what} {path}: cannot create {directory}: {e.strerror}") from None
    if not os.access(directory, os.W_OK | os.X_OK):
        raise UsageError(f"{what} {path}: {directory} is not writable")


def config_dir(config: Config) -> Path:
    """Suite paths and the run directory are relative to the config file."""
    return Path(config.path).resolve().parent
