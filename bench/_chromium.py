"""Headless Chromium screenshots of the HTML pages distlab writes (benchmarks only)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path


def find_chromium() -> str | None:
    """Debian's chromium, if installed (apt-get install -y chromium)."""
    return shutil.which("chromium") or shutil.which("chromium-browser")


def shoot(chromium: str, page: Path, png: Path, width: int, height: int) -> int:
    """Screenshot ``page`` at ``width`` x ``height`` into ``png``; its size in bytes."""
    subprocess.run(
        [
            chromium,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--hide-scrollbars",
            f"--screenshot={png}",
            f"--window-size={width},{height}",
            page.resolve().as_uri(),
        ],
        capture_output=True,
        check=True,
        timeout=120,
    )
    return png.stat().st_size
