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


def record(
    title: str, table: str, notes: str = "", path: Path | None = None, dry_run: bool = False
) -> None:
    """Print the table and append it, with machine, versions, sha and date, to RESULTS.md (only
    print it with ``dry_run``, a bench's ``--no-record``)."""
    stamp = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    # On a shared machine with a CPU quota, parallel regions can stall for a scheduler period:
    # the thread count goes with every table (OMP_NUM_THREADS sets torch's and tokenmark's).
    threads = f"OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS', 'unset')}"
    head = f"{stamp}; {machine()}; {versions()}; git {git_sha()}; {threads}"
    block = f"\n### {title}\n\n{head}\n\n{table}\n" + (f"\n{notes}\n" if notes else "")
    print(block)
    if dry_run:
        return
    with open(path or RESULTS, "a", encoding="utf-8") as f:
        f.write(block)


def bias_cases(vocabs: list[int], batches: list[int]):
    """``(dtype, vocab, batch)`` of the bias benches: float32 at every size, bfloat16 at the Llama 3
    vocabulary (128256) only."""
    import torch

    for dtype in (torch.float32, torch.bfloat16):
        for vocab in vocabs:
            if dtype == torch.bfloat16 and vocab != 128256:
                continue
            for batch in batches:
                yield dtype, vocab, batch


DETECT_DOC_LEN = 1000  # tokens per document in the detection-throughput tables


def detection_table(make_detector: Callable[[bool], object], tokens: int, rng) -> str:
    """Detection throughput of ``make_detector(dedup).detect`` end to end on random documents of
    DETECT_DOC_LEN tokens (``tokens`` in all, rounded down), with and without dedup, against a
    floor that only reads the tokens; a markdown table."""
    import numpy as np
    import tokenmark as tm

    n_docs = tokens // DETECT_DOC_LEN
    n = n_docs * DETECT_DOC_LEN
    docs = tm.Ragged(
        rng.integers(0, 50000, n).astype(np.int32),
        np.arange(n_docs + 1, dtype=np.int64) * DETECT_DOC_LEN,
    )
    t_read = median_time(lambda: np.bitwise_or.reduce(docs.tokens), min_time=0.5)
    rows = []
    for dedup in (False, True):
        det = make_detector(dedup)
        t = median_time(lambda det=det: det.detect(docs), min_time=1.0, max_reps=10)
        rows.append(
            [
                "yes" if dedup else "no",
                f"{n:,}",
                f"{t * 1e3:.1f}",
                f"{n / t / 1e6:.1f}M",
                f"{n / t_read / 1e6:.0f}M",
            ]
        )
        print(rows[-1], flush=True)
    return markdown_table(["dedup", "tokens", "ms", "tokenmark tok/s", "read floor tok/s"], rows)
