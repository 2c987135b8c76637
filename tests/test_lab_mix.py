"""``[lab] mix``: the lab's workload runs the op mix the config names (issue 15 item 5)."""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path

import pytest

from distlab import proc
from distlab.config.loader import load, loads
from distlab.errors import ConfigError
from distlab.lab.adapter import load_adapter
from distlab.lab.session import LabSession

ROOT = Path(__file__).resolve().parents[1]


def test_the_lab_runs_the_mix_from_config(tmp_path: Path) -> None:
    before = proc.spawned_groups()
    config = load(str(ROOT / "config.toml"))
    config.lab = dataclasses.replace(config.lab, mix={"read": 1.0, "write": 0.0})
    adapter = load_adapter(config.lab.client, ROOT, "[lab] client")
    session = LabSession(
        config, adapter, client=config.lab.client, seed=3, session_dir=tmp_path, rate=40
    )
    try:
        session.bring_up()
        assert session.recorder is not None
        deadline = time.monotonic() + 20
        while len(session.recorder.history().ops) < 20 and time.monotonic() < deadline:
            time.sleep(0.1)
        ops = session.recorder.history().ops
    finally:
        session.close()
    assert len(ops) >= 20
    assert {op.f for op in ops} == {"read"}  # write has weight 0, cas is not in the mix
    assert not proc.leaked(proc.spawned_groups() - before)


@pytest.mark.parametrize(
    ("mix", "wanted"),
    [
        ('{ read = "lots" }', "[lab] mix: must be a table of weights >= 0"),
        ("{ read = -1 }", "[lab] mix: must be a table of weights >= 0"),
        ("{ read = 0 }", "[lab] mix: needs at least one weight > 0"),
    ],
)
def test_a_bad_lab_mix_is_a_one_line_config_error(mix: str, wanted: str) -> None:
    with pytest.raises(ConfigError) as caught:
        loads(f"[lab]\nmix = {mix}\n")
    assert wanted in str(caught.value) and "\n" not in str(caught.value)
