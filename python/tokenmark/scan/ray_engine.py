"""``--engine ray``: the same scan on Ray Data, for corpora one machine cannot get through.

The pipeline::

    from_items(shards) -> map_batches(read each shard with our readers)
        -> map_batches(_Scorer: tokenize + score every watermark; an ActorPoolStrategy of
           ``workers`` actors, batch_format="pyarrow") -> write_parquet(OUT/ray/)

then the driver streams the written scores (one column batch at a time) through the same
:class:`FDRAccumulator` as the local engine, so the summary, ``hits.jsonl`` and the q-values are
those of the local engine on the same input, and so are the rows and scores (a test checks both).

Why our readers and not Ray's ``read_json`` / ``read_parquet``: a scan must report each
malformed row with its line / row number and go on, read ``.zst`` and plain text, and number the
rows as the local engine does; Ray's readers fail a whole file on one bad JSON line and give no
row numbers. Reading is one step per shard (the files are the unit of parallelism, as
for the local engine); tokenizing and scoring, the costly part, run in the actor pool.

The tokenizer (as its JSON and the one setting the JSON does not hold: ``tokenizer_state``) and
the watermarks (their keys pickle as the derived key, never the material) are sent to the
actors, which build the ``tokenizers.Tokenizer`` and the scorers themselves: pybind11 objects do
not pickle. Output paths must be reachable from every node (a shared file system) on a real
cluster. This engine does not resume: a rerun needs a new folder.
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np

from .._inputs import Ragged
from .engine import ScanReport, _score_all, _settings
from .fdr import FDRAccumulator
from .inputs import Shard, check_shards
from .output import _arrow_schema, atomic_json
from .readers import Batch, Malformed, ReadOptions, read_shard
from .summary import format_summary
from .tokenizer import encode, tokenizer_from_state, tokenizer_state
from .watermarks import ScanConfigError, Watermark

_MALFORMED_DIR = "ray-malformed"


def _read_shards(table, shards: list[Shard], opt: ReadOptions, malformed_dir: str):
    """Ray Data step: the documents of the shards named in ``table`` as Arrow tables of source, row,
    id and text or tokens; malformed rows to ``malformed_dir/<shard_id>.json``."""
    import pyarrow as pa

    for i in table.column("shard").to_pylist():
        shard = shards[i]
        opt.malformed = []
        n_docs = 0
        for batch in read_shard(shard, opt):
            cols: dict[str, Any] = {
                "source": pa.array([shard.source] * len(batch), pa.string()),
                "row": pa.array(batch.rows, pa.int64()),
                "id": pa.array(batch.ids, pa.string()),
            }
            if batch.texts is not None:
                cols["text"] = pa.array(batch.texts, pa.large_string())
            else:
                offs = pa.array(batch.tokens.offsets, pa.int64())
                cols["tokens"] = pa.LargeListArray.from_arrays(offs, pa.array(batch.tokens.tokens))
            n_docs += len(batch)
            yield pa.table(cols)
        atomic_json(
            Path(malformed_dir) / f"{shard.shard_id}.json",
            {"n_docs": n_docs, "malformed": [m.to_dict() for m in opt.malformed]},
        )


class _Scorer:
    """Ray actor: tokenizes and scores a batch of documents for every watermark."""

    def __init__(self, watermarks, tokenizer_state, backend: str, log10_q: float, threads: int):
        # The tokenizer's thread pool (Rayon, made at its first batch) takes every core of the
        # node unless told otherwise: with several actors per node, each reserving `threads`
        # CPUs, that oversubscribes the node. A value the cluster sets is kept.
        os.environ.setdefault("RAYON_NUM_THREADS", str(threads))
        self.watermarks = watermarks
        self.backend = backend
        self.log10_q = log10_q
        self.tokenizer = None
        if tokenizer_state is not None:
            self.tokenizer = tokenizer_from_state(tokenizer_state)

    def __call__(self, table):
        import pyarrow as pa

        out = []
        sources = table.column("source").to_numpy(zero_copy_only=False)
        for src in dict.fromkeys(sources):  # a batch may hold rows of several shards
            t = table.filter(pa.array(sources == src)) if len(set(sources)) > 1 else table
            rows = t.column("row").to_pylist()
            ids = t.column("id").to_pylist()
            if "text" in t.column_names:
                texts = t.column("text").to_pylist()
                rag = encode(self.tokenizer, texts)
                batch = Batch(rows, ids, texts=texts)
            else:
                col = t.column("tokens").combine_chunks()
                offs = col.offsets.to_numpy() - col.offsets[0].as_py()
                toks = col.values.to_numpy()[col.offsets[0].as_py() : col.offsets[-1].as_py()]
                rag = Ragged(np.ascontiguousarray(toks, dtype=np.int32), offs.astype(np.int64))
                batch = Batch(rows, ids, tokens=rag)
            shard = SimpleNamespace(source=str(src))
            cols, _, _ = _score_all(shard, batch, rag, self.watermarks, self.backend, self.log10_q)
            out.append(pa.table({k: cols[k] for k in cols}, schema=_arrow_schema()))
        return pa.concat_tables(out) if out else _arrow_schema().empty_table()


def scan_ray(
    inputs: list[Shard],
    watermarks: list[Watermark],
    out: str | os.PathLike,
    *,
    read_options: ReadOptions,
    tokenizer=None,
    tokenizer_path: str | os.PathLike | None = None,
    q: float = 0.01,
    out_format: str = "parquet",
    backend: str = "auto",
    workers: int = 1,
    worker_threads: int = 1,
    progress: bool | None = None,
    log: Callable[[str], None] | None = None,
) -> ScanReport:
    """:func:`tokenmark.scan.scan` on Ray Data (the same arguments; Parquet output only).

    Connects to the running Ray cluster (``ray.init()`` first, or ``RAY_ADDRESS``); without one,
    starts a local one. ``workers`` scorer actors of ``worker_threads`` CPUs each, which their
    tokenizer and scorers use (``RAYON_NUM_THREADS`` and Ray's ``OMP_NUM_THREADS``): leave CPUs to
    Ray's read and write tasks (an actor pool that holds every CPU starves them and the job
    hangs).

    Example
    -------
    >>> import ray                                   # doctest: +SKIP
    >>> ray.init(num_cpus=2)                         # doctest: +SKIP
    >>> rep = scan_ray(shards, wms, "out", read_options=opt, workers=1)  # doctest: +SKIP
    """
    ray = _import_ray()
    _check_arguments(out_format, watermarks, read_options, tokenizer, workers, worker_threads)
    check_shards(inputs, read_options.tokens_column)
    acc = FDRAccumulator(q)
    log = log or (lambda s: print(s, file=sys.stderr))
    out = Path(out)
    mal_dir = _start_output(out, watermarks, read_options, tokenizer_path, tokenizer)
    _start_ray(ray, progress)
    t_start = time.perf_counter()
    ds = _pipeline(
        ray, inputs, mal_dir, read_options, watermarks, tokenizer, backend,
        (workers, worker_threads), acc.log10_q,
    )  # fmt: skip
    ds.write_parquet(str(out / "ray"))  # the pipeline runs here
    wall_ray = time.perf_counter() - t_start
    report = _summarise(out, inputs, watermarks, acc, t_start, wall_ray)
    for line in format_summary(report):
        log(line)
    return report


def _import_ray():
    """The ``ray`` module, or a configuration error saying how to install it."""
    try:
        import ray
    except ImportError:
        raise ScanConfigError(
            "engine: the Ray engine needs Ray Data (pip install 'tokenmark[ray]')"
        ) from None
    return ray


def _check_arguments(
    out_format: str,
    watermarks: list[Watermark],
    read_options: ReadOptions,
    tokenizer,
    workers,
    worker_threads,
) -> None:
    """The checks of :func:`scan_ray`'s arguments that need nothing to be started."""
    if out_format != "parquet":
        raise ScanConfigError(f"out_format: the Ray engine writes Parquet only, got {out_format!r}")
    if not watermarks:
        raise ScanConfigError("watermarks: none given")
    if read_options.text_column is not None and tokenizer is None:
        raise ScanConfigError("tokenizer: text input needs a tokenizer (or use a tokens column)")
    for name, value in (("workers", workers), ("worker_threads", worker_threads)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ScanConfigError(f"{name}: must be a positive integer, got {value!r}")


def _start_output(
    out: Path, watermarks: list[Watermark], read_options: ReadOptions, tokenizer_path, tokenizer
) -> Path:
    """Create ``out`` (refused when it already holds a scan) with its ``scan.json``; the folder
    for the shards' malformed rows."""
    if (out / "ray").exists() or (out / "scan.json").exists():
        raise ScanConfigError(
            f"out: {str(out)!r} already holds a scan; the Ray engine does not resume, "
            "use a new folder"
        )
    out.mkdir(parents=True, exist_ok=True)
    settings = _settings(watermarks, read_options, tokenizer_path, "parquet", tokenizer)
    atomic_json(out / "scan.json", {**settings, "engine": "ray"})
    mal_dir = out / _MALFORMED_DIR
    mal_dir.mkdir(exist_ok=True)
    return mal_dir


def _start_ray(ray, progress: bool | None) -> None:
    """Join the running cluster (or start a local one); progress bars on a terminal only."""
    if not ray.is_initialized():
        ray.init(ignore_reinit_error=True, log_to_driver=False)
    ctx = ray.data.DataContext.get_current()
    ctx.enable_progress_bars = sys.stderr.isatty() if progress is None else bool(progress)


def _pipeline(
    ray,
    inputs: list[Shard],
    mal_dir: Path,
    read_options: ReadOptions,
    watermarks: list[Watermark],
    tokenizer,
    backend: str,
    pool: tuple[int, int],
    log10_q: float,
):
    """The Ray dataset of the scores: shards read one per task, then tokenized and scored in a
    pool of ``pool = (workers, threads)`` actors of ``threads`` CPUs each (lazy: nothing runs
    before it is written)."""
    workers, threads = pool
    opt = ReadOptions(**{**read_options.__dict__, "malformed": []})
    # One block per shard: Ray Data packs small items into one block by default, and one block
    # is one read task: the shards would be read one after another.
    ds = ray.data.from_items(
        [{"shard": i} for i in range(len(inputs))], override_num_blocks=max(1, len(inputs))
    )
    ds = ds.map_batches(
        _read_shards,
        batch_size=1,
        # Half a CPU: a read stage of its own. With the scorers' resources Ray fuses it into the
        # actors, whose batch size then bundles every shard into one actor's task (measured:
        # one busy actor of two).
        num_cpus=0.5,
        batch_format="pyarrow",
        fn_kwargs={"shards": inputs, "opt": opt, "malformed_dir": str(mal_dir)},
    )
    return ds.map_batches(
        _Scorer,
        fn_constructor_kwargs={
            "watermarks": watermarks,
            "tokenizer_state": None if tokenizer is None else tokenizer_state(tokenizer),
            "backend": backend,
            "log10_q": log10_q,
            "threads": threads,
        },
        # One block in flight per actor: with Ray's default (several), the first actor up may
        # queue every shard of a small scan before the others have started.
        compute=ray.data.ActorPoolStrategy(size=workers, max_tasks_in_flight_per_actor=1),
        num_cpus=threads,
        batch_size=read_options.batch_size,
        batch_format="pyarrow",
    )


def _summarise(
    out: Path,
    inputs: list[Shard],
    watermarks: list[Watermark],
    acc: FDRAccumulator,
    t_start: float,
    wall_ray: float,
) -> ScanReport:
    """Error control over the written scores; ``summary.json``, ``hits.jsonl`` and
    ``malformed.jsonl`` written; the report."""
    mal_dir = out / _MALFORMED_DIR
    summary, hits, malformed, n_docs, n_tokens = _finish(out, inputs, watermarks, acc)
    summary.update(
        n_shards=len(inputs),
        skipped_shards=0,
        empty_shards=sum(1 for s in inputs if _shard_done(mal_dir, s) == (0, [])),
        n_docs=n_docs,
        n_tokens=n_tokens,
        n_watermarks=len(watermarks),
        malformed_rows=len(malformed),
        seconds=round(time.perf_counter() - t_start, 3),
        shards=[s.shard_id for s in inputs],
    )
    atomic_json(out / "summary.json", summary)
    examples = [Malformed(**m) for m in malformed[:20]]
    wall = time.perf_counter() - t_start
    return ScanReport(summary, hits, len(malformed), examples, {"ray": wall_ray, "wall": wall})


def _shard_done(mal_dir: Path, shard: Shard) -> tuple[int, list]:
    d = json.loads((mal_dir / f"{shard.shard_id}.json").read_text(encoding="utf-8"))
    return d["n_docs"], d["malformed"]


def _finish(out: Path, inputs: list[Shard], watermarks: list[Watermark], acc: FDRAccumulator):
    """Stream the written scores through the accumulator; hits, malformed rows and counts."""
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    order = {s.source: i for i, s in enumerate(inputs)}
    wm_index = {w.name: i for i, w in enumerate(watermarks)}
    first = watermarks[0].name
    cands: list[dict[str, Any]] = []
    n_docs = n_tokens = 0
    fields = ["source", "row", "id", "watermark", "log10_p", "n_tokens"]
    for path in sorted((out / "ray").glob("*.parquet")):
        for b in pq.ParquetFile(path).iter_batches(columns=fields, batch_size=1 << 16):
            lp = b.column(4).to_numpy(zero_copy_only=False)
            one = pc.equal(b.column(3), first).to_numpy(zero_copy_only=False)  # each doc once
            n_docs += int(one.sum())
            n_tokens += int(b.column(5).to_numpy(zero_copy_only=False)[one].sum())
            keep = np.flatnonzero(lp <= acc.log10_q)
            acc.add(lp[keep], m=len(lp))
            sub = b.take(keep).to_pylist()
            cands += [{k: r[k] for k in fields[:5]} for r in sub]
    # The accumulator keeps what it is given in order: give it the candidates in a fixed order
    # (input order, row, watermark) so that hits.jsonl does not depend on Ray's scheduling.
    acc2 = FDRAccumulator(acc.q)
    cands.sort(key=lambda r: (order.get(r["source"], -1), r["row"], wm_index[r["watermark"]]))
    acc2.add(
        np.array([r["log10_p"] for r in cands], dtype=np.float64),
        tags=np.arange(len(cands)),
        m=acc.m,
    )
    bh, by, bonf = acc2.result("bh"), acc2.result("by"), acc2.result("bonferroni")
    hits = []
    for i in np.flatnonzero(bh.rejected):
        rec = dict(cands[i])
        rec["log10_q_bh"] = float(bh.log10_q[i])
        rec["by"] = bool(by.rejected[i])
        rec["bonferroni"] = bool(bonf.rejected[i])
        hits.append(rec)
    hits.sort(key=lambda r: r["log10_p"])
    with open(out / "hits.jsonl", "w", encoding="utf-8") as f:
        for rec in hits:
            f.write(json.dumps(rec) + "\n")
    malformed: list[dict] = []
    with open(out / "malformed.jsonl", "w", encoding="utf-8") as f:
        for shard in inputs:
            for m in _shard_done(out / _MALFORMED_DIR, shard)[1]:
                f.write(json.dumps(m) + "\n")
                malformed.append(m)
    return acc2.summary(), hits, malformed, n_docs, n_tokens
