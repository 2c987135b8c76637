"""The js-kv example in both modes, under the same partition schedule and seed.

`make test` runs this file. It drives `distlab --ci` the way a user would
(from the example's own config.toml) and reads what distlab reported:

- correct mode: every layer passes (the register history is linearizable);
- naive mode: the distributed layer fails, and the failure names the keys that
  are not linearizable and shows a counterexample (the op that cannot take effect).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

HERE = Path(__file__).resolve().parent
DISTLAB = Path(sys.executable).with_name("distlab")
SEED = "7"


def run_distlab(
    tmp_path: Path, *extra: str, naive: bool
) -> tuple[subprocess.CompletedProcess[str], str]:
    """Run `distlab --ci` here; return the process and the text of every JUnit failure."""
    if shutil.which("node") is None:
        raise AssertionError("node (Node.js 20) is not installed: apt-get install -y nodejs")
    junit = tmp_path / "junit.xml"
    env = {**os.environ, "JSKV_NAIVE": "1" if naive else "0"}
    done = subprocess.run(
        [str(DISTLAB), "--ci", "--seed", SEED, "--junit-xml", str(junit), *extra],
        cwd=HERE,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    failures = "\n".join(
        (f.get("message") or "") + "\n" + (f.text or "") for f in ET.parse(junit).iter("failure")
    )
    return done, failures


def test_correct_mode_passes_every_layer(tmp_path: Path) -> None:
    done, failures = run_distlab(tmp_path, naive=False)
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
    assert "[distributed] PASSED" in done.stdout and "[chaos] PASSED" in done.stdout, done.stdout
    assert failures == ""


def test_naive_mode_is_caught_not_linearizable_with_a_counterexample(tmp_path: Path) -> None:
    done, failures = run_distlab(tmp_path, "--layers", "distributed", naive=True)
    assert done.returncode == 1, done.stdout[-4000:] + done.stderr[-2000:]
    assert "not linearizable" in failures, failures[:4000]
    # The counterexample: a linearizable prefix, then the op that cannot take effect.
    assert "longest linearizable prefix" in failures, failures[:4000]
    assert "must take effect and cannot" in failures, failures[:4000]
