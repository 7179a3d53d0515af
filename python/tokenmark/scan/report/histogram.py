"""The p-values of the finished scan, read back from its score files one column batch at a time
into a fixed log-spaced histogram per watermark: memory does not grow with the corpus, and the
histogram is the same for both engines and for resumed scans."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

# log10 p histogram: 0.05-wide bins from 1e-20 to 1, one bin below. A test that is not rejected
# has p >= the smallest rejection threshold, q / m >= 1e-20 for any real scan.
_EDGES = np.linspace(-20.0, 0.0, 401)


@dataclass
class PValueHistogram:
    """Counts of log10 p-values per watermark in fixed bins; ``counts[w][j]`` is the number of
    values in ``(_EDGES[j-1], _EDGES[j]]`` (``j = 0``: at most ``_EDGES[0]``)."""

    counts: dict[str, np.ndarray] = field(default_factory=dict)
    empty: dict[str, int] = field(default_factory=dict)  # tests with no scored token (p = 1)

    def add(self, watermark: str, log10_p: np.ndarray, sign: int = 1) -> None:
        idx = np.searchsorted(_EDGES, np.minimum(np.asarray(log10_p, np.float64), 0.0))
        c = self.counts.setdefault(watermark, np.zeros(len(_EDGES), dtype=np.int64))
        c += sign * np.bincount(idx, minlength=len(_EDGES))

    def total(self) -> np.ndarray:
        return sum(self.counts.values(), np.zeros(len(_EDGES), dtype=np.int64))


def _score_files(out: Path) -> list[Path]:
    """The score files of the scan's last run: those of the shards its summary lists (an earlier
    run into the same folder may have scanned others), or every one for a summary without that
    list (older scans)."""
    files = sorted(out.glob("scores-*.parquet")) + sorted(out.glob("scores-*.jsonl"))
    try:
        shards = json.loads((out / "summary.json").read_text(encoding="utf-8")).get("shards")
    except (OSError, ValueError, AttributeError):
        shards = None
    if isinstance(shards, list):
        run = set(shards)
        files = [f for f in files if f.name[len("scores-") : -len(f.suffix)] in run]
    return files + sorted((out / "ray").glob("*.parquet")) if (out / "ray").is_dir() else files


def _column_batches(path: Path) -> Iterator[tuple[dict[str, np.ndarray], np.ndarray, np.ndarray]]:
    """({watermark: row mask}, n_scored, log10_p) per batch of a score file."""
    if path.suffix == ".parquet":
        import pyarrow.compute as pc
        import pyarrow.parquet as pq

        f = pq.ParquetFile(path)
        for b in f.iter_batches(columns=["watermark", "n_scored", "log10_p"], batch_size=1 << 16):
            names = b.column(0)
            masks = {
                str(w): pc.equal(names, w).to_numpy(zero_copy_only=False)
                for w in pc.unique(names).to_pylist()
            }
            yield (
                masks,
                b.column(1).to_numpy(zero_copy_only=False),
                b.column(2).to_numpy(zero_copy_only=False),
            )
        return
    with open(path, encoding="utf-8") as f:
        rows = [json.loads(line) for line in f]
    if rows:
        names = np.array([r["watermark"] for r in rows], dtype=object)
        yield (
            {str(w): names == w for w in dict.fromkeys(names)},
            np.array([r["n_scored"] for r in rows], dtype=np.int64),
            np.array([r["log10_p"] for r in rows], dtype=np.float64),
        )


def null_histogram(out: str | os.PathLike, hits: list[dict[str, Any]]) -> PValueHistogram:
    """The histogram of the log10 p-values of every test of the scan in ``out`` that has at
    least one scored token and is not among ``hits`` (the rejections)."""
    hist = PValueHistogram()
    for path in _score_files(Path(out)):
        for masks, n_scored, lp in _column_batches(path):
            for w, sel in masks.items():
                scored = sel & (n_scored > 0)
                hist.add(w, lp[scored])
                hist.empty[w] = hist.empty.get(w, 0) + int((sel & ~scored).sum())
    for h in hits:
        hist.add(h["watermark"], np.array([h["log10_p"]]), sign=-1)
    return hist
