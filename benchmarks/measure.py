"""Helpers shared by the benchmark scripts: timing a child process with its peak RSS, and tables."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


@dataclass
class Measured:
    """Wall time and the peak resident memory of a process tree (sum over all its processes)."""

    seconds: float
    peak_rss_mb: float
    returncode: int
    output: str


def _tree_rss_kb(pid: int) -> int:
    total, todo = 0, [pid]
    while todo:
        current = todo.pop()
        try:
            with open(f"/proc/{current}/status") as status:
                for line in status:
                    if line.startswith("VmRSS:"):
                        total += int(line.split()[1])
            with open(f"/proc/{current}/task/{current}/children") as children:
                todo.extend(int(c) for c in children.read().split())
        except (FileNotFoundError, ProcessLookupError, PermissionError):
            continue
    return total


def run_measured(args: list[str], poll: float = 0.05) -> Measured:
    """Run ``args`` (a Python module invocation or any command), sampling tree RSS every ``poll`` s."""
    start = time.perf_counter()
    process = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                               env=dict(os.environ, PYTHONUNBUFFERED="1"))
    peak = 0
    while process.poll() is None:
        peak = max(peak, _tree_rss_kb(process.pid))
        time.sleep(poll)
    output = process.stdout.read() if process.stdout else ""
    return Measured(time.perf_counter() - start, peak / 1024.0, process.returncode, output)


def python_command(*args: str) -> list[str]:
    """``[python, *args]`` with the interpreter running this script."""
    return [sys.executable, *args]


def print_table(headers: list[str], rows: list[list[object]]) -> None:
    """Print a plain aligned text table, then an empty line (which ends it for ``run_all.py``)."""
    cells = [[str(c) for c in row] for row in [headers, *rows]]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    for index, row in enumerate(cells):
        print("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)))
        if index == 0:
            print("  ".join("-" * w for w in widths))
    print()
