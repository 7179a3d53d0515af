"""Shared benchmark helpers: timing by median, machine description, the results file."""

from __future__ import annotations

import datetime
import os
import platform
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

RESULTS = Path(__file__).with_name("RESULTS.md")


def median_time(fn: Callable[[], object], min_time: float = 0.2, max_reps: int = 2000) -> float:
    """Median seconds per call after one warm-up call, over at least ~min_time of calls."""
    fn()
    t0 = time.perf_counter()
    fn()
    once = time.perf_counter() - t0
    reps = int(max(3, min(max_reps, min_time / max(once, 1e-7))))
    times = []
    for _ in range(reps):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    times.sort()
    return times[len(times) // 2]


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{cpu}, {os.cpu_count()} cores"


def git_sha() -> str:
    try:
        return subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            check=True,
            cwd=Path(__file__).parent,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def versions() -> str:
    import numpy
    import tokenmark
    import torch

    parts = [
        f"tokenmark {tokenmark.__version__}",
        f"numpy {numpy.__version__}",
        f"torch {torch.__version__}",
    ]
    try:
        import transformers

        parts.append(f"transformers {transformers.__version__}")
    except ImportError:
        pass
    return ", ".join(parts)


def markdown_table(header: list[str], rows: list[list[object]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(c) for c in r) + " |" for r in rows]
    return "\n".join(lines)


def record(title: str, table: str, notes: str = "", path: Path | None = None) -> None:
    """Print the table and append it, with machine, versions, sha and date, to RESULTS.md."""
    stamp = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    block = f"\n### {title}\n\n{stamp}; {machine()}; {versions()}; git {git_sha()}\n\n{table}\n" + (
        f"\n{notes}\n" if notes else ""
    )
    print(block)
    with open(path or RESULTS, "a", encoding="utf-8") as f:
        f.write(block)
