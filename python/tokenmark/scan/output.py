"""Output of a scan: one file per shard, written under a temporary name and renamed when complete;
the columns; reading a finished shard's p-values back."""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Any

import numpy as np

OUTPUT_FORMATS = ("parquet", "jsonl")
COLUMNS = (
    "source",
    "row",
    "id",
    "watermark",
    "n_tokens",
    "n_scored",
    "score",
    "log10_p",
    "window_start",
    "window_n_green",
    "window_log10_p",
    "window_score",
)


class ShardWriter:
    """Writes one shard's rows to a temporary file; ``commit()`` renames it into place."""

    def __init__(self, path: Path, fmt: str):
        self.path = path
        self.tmp = path.with_name(f".{path.name}.tmp")
        self.fmt = fmt
        self._writer = None
        self._f = None
        if fmt == "jsonl":
            self._f = open(self.tmp, "w", encoding="utf-8")  # noqa: SIM115 -- closed in commit

    def write(self, cols: dict[str, Any]) -> None:
        if self.fmt == "jsonl":
            n = len(cols["row"])
            names = list(cols)
            for i in range(n):
                rec = {k: _json_value(cols[k][i]) for k in names}
                self._f.write(json.dumps(rec) + "\n")
            return
        import pyarrow as pa
        import pyarrow.parquet as pq

        table = pa.table({k: cols[k] for k in cols}, schema=_arrow_schema())
        if self._writer is None:
            self._writer = pq.ParquetWriter(self.tmp, table.schema)
        self._writer.write_table(table)

    def commit(self) -> None:
        if self.fmt == "jsonl":
            self._f.close()
        else:
            if self._writer is None:  # an empty shard still gets its (empty) file
                import pyarrow.parquet as pq

                pq.write_table(_arrow_schema().empty_table(), self.tmp)
            else:
                self._writer.close()
        os.replace(self.tmp, self.path)

    def abort(self) -> None:
        try:
            if self._f is not None:
                self._f.close()
            if self._writer is not None:
                self._writer.close()
        finally:
            self.tmp.unlink(missing_ok=True)


def _arrow_schema():
    import pyarrow as pa

    return pa.schema(
        [
            ("source", pa.string()),
            ("row", pa.int64()),
            ("id", pa.string()),
            ("watermark", pa.string()),
            ("n_tokens", pa.int64()),
            ("n_scored", pa.int64()),
            ("score", pa.float64()),
            ("log10_p", pa.float64()),
            ("window_start", pa.int64()),
            ("window_n_green", pa.int64()),
            ("window_log10_p", pa.float64()),
            ("window_score", pa.float64()),
        ]
    )


def _json_value(v):
    if isinstance(v, np.integer):
        return int(v)
    if isinstance(v, np.floating):
        v = float(v)
    if isinstance(v, float) and not math.isfinite(v):
        return None if math.isnan(v) else ("-inf" if v < 0 else "inf")
    return v


def atomic_json(path: Path, obj) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(obj, indent=1) + "\n", encoding="utf-8")
    os.replace(tmp, path)


def reread_candidates(path: Path, fmt: str, names: list[str], log10_q: float, n_rows: int):
    """Records of a finished shard's tests with log10 p <= ``log10_q``, read from its output
    (when its done file kept them for a smaller q than this run's). ``n_rows``: the rows the
    scan wrote there (its done record's m). A file that is not what the scan wrote (cut,
    edited) is a ScanConfigError that names it."""
    from .watermarks import ScanConfigError

    fields = ("source", "row", "id", "watermark", "log10_p")
    try:
        if fmt == "parquet":
            import pyarrow.compute as pc
            import pyarrow.parquet as pq

            t = pq.read_table(path, columns=list(fields))
            n = t.num_rows
            t = t.filter(pc.less_equal(t["log10_p"], log10_q))
            rows = t.to_pylist()
        else:
            rows, n = [], 0
            with open(path, encoding="utf-8") as f:
                for line in f:
                    r = json.loads(line)
                    n += 1
                    if r["log10_p"] <= log10_q:
                        rows.append({k: r[k] for k in fields})
        ok = n == n_rows
    except (OSError, ValueError, KeyError, TypeError, RecursionError) as e:
        ok, why = False, type(e).__name__
    else:
        why = f"{n} rows, its done record says {n_rows}"
    if not ok:
        raise ScanConfigError(
            f"{path}: not the scores this scan wrote ({why}); delete it (or its .done.json) to "
            "rescore that shard"
        )
    return [r for r in rows if r["watermark"] in names]
