"""Append benchmark figures to bench/RESULTS.md (a table: benchmark, figure,
unit, date, machine). Every benchmark calls ``record`` for each figure."""

from __future__ import annotations

import os
import platform
import time
from pathlib import Path

RESULTS = Path(__file__).with_name("RESULTS.md")
HEADER = (
    "# Benchmark results\n\n"
    "Written by `make bench` (each `bench/*.py` appends its rows). Figures, not assertions:\n"
    "this machine is shared and noisy, so compare rows measured in the same run.\n\n"
    "| benchmark | figure | unit | date | machine |\n|---|---|---|---|---|\n"
)


def machine() -> str:
    return f"{platform.machine()} {os.cpu_count()} cores, Python {platform.python_version()}"


def record(benchmark: str, figure: float, unit: str) -> None:
    """Append one row and print it."""
    if not RESULTS.exists():
        RESULTS.write_text(HEADER, encoding="utf-8")
    shown = f"{figure:,.3f}" if isinstance(figure, float) and figure < 100 else f"{figure:,.0f}"
    row = f"| {benchmark} | {shown} | {unit} | {time.strftime('%Y-%m-%d %H:%M')} | {machine()} |\n"
    with RESULTS.open("a", encoding="utf-8") as f:
        f.write(row)
    print(f"{benchmark}: {shown} {unit}")
