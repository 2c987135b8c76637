"""Porcupine's public test histories (kv and Jepsen etcd) as distlab JSON lines.

The Porcupine repository is brought by the ``fetch`` tool into
``/work/.mirror/anishathalye+porcupine/repo`` (or ``PORCUPINE_REPO``) for the
benchmark only; nothing of it is committed. Its files have no times: like
Porcupine's own parser, the line number is the time, so ops are ordered
exactly as Porcupine orders them.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path
from typing import Any

REPO = Path(os.environ.get("PORCUPINE_REPO", "/work/.mirror/anishathalye+porcupine/repo"))

_KV = re.compile(
    r'\{:process (\d+), :type :(invoke|ok), :f :(get|put|append), :key "(.*?)", :value (nil|"(.*)")\}'
)
_ETCD = re.compile(
    r"^INFO\s+jepsen\.util\s+-\s+(\d+)\s+:(invoke|ok|fail|info)\s+:(read|write|cas)\s+(.*)$"
)


def available() -> bool:
    """Whether the Porcupine repository is on this machine."""
    return (REPO / "HEAD").exists() or (REPO / ".git").exists()


def _show(path: str) -> str:
    return subprocess.run(
        ["git", "--git-dir", str(REPO), "show", f"HEAD:{path}"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout


def files(folder: str) -> list[str]:
    """Paths of the test files under ``test_data/<folder>``."""
    out = subprocess.run(
        ["git", "--git-dir", str(REPO), "ls-tree", "--name-only", "HEAD", f"test_data/{folder}/"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return sorted(out.split())


def kv_records(name: str) -> list[dict[str, Any]]:
    """``test_data/kv/<name>.txt`` as records (line number = time)."""
    recs = []
    for n, line in enumerate(_show(f"test_data/kv/{name}.txt").splitlines()):
        m = _KV.match(line)
        if m is None:
            continue
        proc, kind, f, key, _, value = m.groups()
        rec = {"process": int(proc), "type": kind, "f": f, "key": key, "time": n}
        rec["value"] = (
            value if (kind == "ok" and f == "get") or (kind == "invoke" and f != "get") else None
        )
        recs.append(rec)
    return recs


def etcd_records(path: str) -> list[dict[str, Any]]:
    """A Jepsen etcd log as register records (line number = time).

    A read that timed out (``:fail :read :timed-out``) is ``info``, as in
    Porcupine's parser (an unknown outcome); other ``fail`` lines did not happen.
    """
    recs = []
    for n, line in enumerate(_show(path).splitlines()):
        m = _ETCD.match(line.strip())
        if m is None:
            continue
        proc, kind, f, arg = m.groups()
        value: Any = None
        if (kind == "invoke" and f == "write") or (kind == "ok" and f == "read" and arg != "nil"):
            value = int(arg)
        elif f == "cas" and arg.startswith("["):
            value = [int(x) for x in arg.strip("[]").split()]
        if kind == "fail" and f == "read":
            kind = "info"
        if kind in ("ok", "fail") and f == "cas":
            value = None
        recs.append(
            {"process": int(proc), "type": kind, "f": f, "key": None, "value": value, "time": n}
        )
    return recs


def write(recs: list[dict[str, Any]], path: Path) -> Path:
    """Write records as JSON lines."""
    path.write_text("".join(json.dumps(r) + "\n" for r in recs), encoding="utf-8")
    return path
