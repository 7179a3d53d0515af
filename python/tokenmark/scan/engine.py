"""The scan on one machine: read each shard in batches, tokenize, score every watermark with the
schemes' batched ``detect()``, write the scores, and control the error rate over the whole scan.

Output folder (``out``):

- ``scores-<shard_id>.parquet`` (or ``.jsonl``): one row per (document, watermark): ``source``,
  ``row``, ``id``, ``watermark``, ``n_tokens``, ``n_scored``, ``score``, ``log10_p`` and, for a
  watermark with a ``window``, ``window_start``, ``window_log10_p``, ``window_score`` (and
  ``window_n_green`` for KGW). ``score`` and ``window_score`` are the scheme's statistic: KGW's
  green count, Gumbel's sum of ``-log(1 - u)``, SynthID's mean g-value.
- ``scores-<shard_id>.done.json``: written last, when the shard is complete (its scores are written
  to a temporary name first and renamed): its counts, malformed rows and the p-values that can
  be rejected at the scan's ``q``. A rerun skips every shard that has one. A file that could not
  be read to its end (a truncated archive) gets none: its rows read are scored and counted in
  this run, and a rerun reads it again.
- ``scan.json``: the scan's settings (no keys: public key fingerprints only). A rerun with other
  settings into the same folder is refused.
- ``summary.json`` (with ``shards``, the ids of this run's shards), ``hits.jsonl`` (the
  Benjamini-Hochberg rejections with their q-values and whether Benjamini-Yekutieli and
  Bonferroni reject them too) and ``malformed.jsonl``.
"""

from __future__ import annotations

import json
import os
import queue
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .._inputs import Ragged
from .fdr import FDRAccumulator
from .inputs import Shard, check_shards
from .output import (
    COLUMNS,
    OUTPUT_FORMATS,
    ShardWriter,
    atomic_json,
    reread_candidates,
)
from .readers import Batch, Malformed, ReadOptions, is_unread, read_shard
from .resume import open_out, read_done
from .scoring import score_batches
from .summary import format_summary
from .tokenizer import encode, tokenizer_sha256
from .watermarks import ScanConfigError, Watermark

EXIT_CLEAN = 0
EXIT_HITS = 1
EXIT_USAGE = 2
EXIT_MALFORMED = 3
EXIT_HITS_AND_MALFORMED = 4
# Added to the scan's own code (0, 1, 3 or 4) when the scan finished but its --report page could
# not be written: 8, 9, 11 or 12. `code & 7` is still the scan's answer, `code & 8` the report's.
EXIT_REPORT_FAILED = 8


# -- the scan ---------------------------------------------------------------------------------
class _Prefetch:
    """Runs an iterator one item ahead in a thread: the next batch is read (JSON parsing,
    decompression: Python work under the GIL) while the current one is tokenized (Rust work
    that releases the GIL). Exceptions of the iterator are raised in the consumer."""

    _DONE = object()

    def __init__(self, it):
        self._q: queue.Queue = queue.Queue(maxsize=1)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(it,), daemon=True)
        self._thread.start()

    def _put(self, item) -> bool:
        while not self._stop.is_set():
            try:
                self._q.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def _run(self, it) -> None:
        try:
            for item in it:
                if not self._put((item, None)):
                    return
            self._put((self._DONE, None))
        except BaseException as e:  # handed to the consumer
            self._put((self._DONE, e))
        finally:
            if hasattr(it, "close"):  # a generator stopped early closes its file now
                it.close()

    def __iter__(self):
        return self

    def __next__(self):
        item, err = self._q.get()
        if err is not None:
            raise err
        if item is self._DONE:
            raise StopIteration
        return item

    def close(self) -> None:
        self._stop.set()
        self._thread.join()


@dataclass
class ScanReport:
    """What a scan did and found. ``exit_code`` is the command line's (see ``tokenmark.scan``)."""

    summary: dict[str, Any]
    hits: list[dict[str, Any]]
    malformed_count: int
    malformed_examples: list[Malformed]
    timings: dict[str, float] = field(default_factory=dict)

    @property
    def exit_code(self) -> int:
        hits = self.summary["bh"]["rejections"] > 0
        if self.malformed_count:
            return EXIT_HITS_AND_MALFORMED if hits else EXIT_MALFORMED
        return EXIT_HITS if hits else EXIT_CLEAN


def _settings(
    watermarks: list[Watermark], opt: ReadOptions, tokenizer_path, out_format: str, tokenizer=None
) -> dict:
    tok_hash = None if tokenizer_path is None else tokenizer_sha256(tokenizer_path, tokenizer)
    return {
        "version": 1,
        "watermarks": [w.public_dict() for w in watermarks],
        "text_column": opt.text_column,
        "tokens_column": opt.tokens_column,
        "id_column": opt.id_column,
        "text_mode": opt.text_mode,
        "max_doc_bytes": opt.max_doc_bytes,
        "format": opt.format,
        "tokenizer_sha256": tok_hash,
        "output_format": out_format,
    }


def scan(
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
    progress: bool | None = None,
    log: Callable[[str], None] | None = None,
) -> ScanReport:
    """Scan the shards ``inputs`` for ``watermarks``; write per-shard scores under ``out``.

    Parameters
    ----------
    inputs : shards from :func:`tokenmark.scan.expand_inputs`.
    watermarks : from :func:`tokenmark.scan.load_watermarks`.
    out : output folder (created); a rerun into it skips the finished shards.
    read_options : columns, batch size, text mode (:class:`tokenmark.scan.ReadOptions`).
    tokenizer : a ``tokenizers.Tokenizer`` for text input (:func:`load_tokenizer`); ``None``
        for a token-id column. ``tokenizer_path`` is recorded in the settings (its hash).
    q : the false discovery rate of the Benjamini-Hochberg / -Yekutieli procedures and the
        family-wise error rate of the Bonferroni line, over documents x watermarks.
    out_format : ``"parquet"`` or ``"jsonl"``.
    progress : show a tqdm bar (default: when stderr is a terminal).
    log : where the final summary lines go (default: stderr).

    Returns
    -------
    ScanReport

    Example
    -------
    >>> import json, os, tempfile, tokenmark.scan as ts
    >>> d = tempfile.mkdtemp()
    >>> with open(os.path.join(d, "ids.jsonl"), "w") as f:
    ...     _ = f.write(json.dumps({"id": "a", "tokens": [1, 2, 3, 4, 5, 6]}) + "\\n")
    >>> os.environ["TOKENMARK_KEY_K"] = "my secret"
    >>> wms = ts.load_watermarks([{"key_id": "k", "scheme": "kgw"}])
    >>> opt = ts.ReadOptions(text_column=None, tokens_column="tokens")
    >>> shards = ts.expand_inputs([os.path.join(d, "ids.jsonl")])
    >>> rep = ts.scan(shards, wms, os.path.join(d, "out"), read_options=opt, log=lambda s: None)
    >>> rep.summary["m"], rep.exit_code
    (1, 0)
    """
    if out_format not in OUTPUT_FORMATS:
        raise ScanConfigError(f"out_format: expected one of {OUTPUT_FORMATS}, got {out_format!r}")
    if not watermarks:
        raise ScanConfigError("watermarks: none given")
    if read_options.text_column is not None and tokenizer is None:
        raise ScanConfigError("tokenizer: text input needs a tokenizer (or use a tokens column)")
    check_shards(inputs, read_options.tokens_column)
    acc = FDRAccumulator(q)  # checks q before anything is written
    log = log or (lambda s: print(s, file=sys.stderr))
    settings = _settings(watermarks, read_options, tokenizer_path, out_format, tokenizer)
    out = open_out(Path(out), settings)

    log10_q = acc.log10_q
    names = [w.name for w in watermarks]
    candidates: list[dict[str, Any]] = []
    malformed_count = 0
    examples: list[Malformed] = []
    malformed_path = out / "malformed.jsonl"
    # Seconds per stage; "read" is the time spent waiting for the reading thread.
    t = {"read": 0.0, "tokenize": 0.0, "score": 0.0, "write": 0.0}
    n_docs = n_tokens = 0
    skipped = empty = 0
    suffix = ".parquet" if out_format == "parquet" else ".jsonl"

    from tqdm.auto import tqdm

    if progress is None:
        progress = sys.stderr.isatty()
    bar = tqdm(unit=" docs", unit_scale=True, disable=not progress, file=sys.stderr, leave=True)
    t_start = time.perf_counter()

    def keep(recs: list[dict[str, Any]], lps: np.ndarray, m: int) -> None:
        tags = np.arange(len(candidates), len(candidates) + len(recs))
        candidates.extend(recs)
        acc.add(lps, tags=tags, m=m)

    with open(malformed_path, "w", encoding="utf-8") as malformed_file:
        for shard in inputs:
            out_path = out / f"scores-{shard.shard_id}{suffix}"
            done_path = out / f"scores-{shard.shard_id}.done.json"
            if done_path.exists() and out_path.exists():
                done = read_done(done_path)
                skipped += 1
                if done["q"] >= q:
                    recs = [c for c in done["candidates"] if c["log10_p"] <= log10_q]
                else:
                    recs = reread_candidates(out_path, out_format, names, log10_q, done["m"])
                keep(recs, np.array([r["log10_p"] for r in recs], dtype=np.float64), done["m"])
                n_docs += done["n_docs"]
                n_tokens += done["n_tokens"]
                empty += done["n_docs"] == 0 and not done["malformed"]
                for mrow in done["malformed"]:
                    malformed_file.write(json.dumps(mrow) + "\n")
                    malformed_count += 1
                    if len(examples) < 20:
                        examples.append(Malformed(**mrow))
                bar.set_postfix_str(f"skipped {skipped} finished shards", refresh=False)
                continue
            read_options.malformed = []
            shard_docs = shard_tokens = shard_m = 0
            shard_recs: list[dict[str, Any]] = []
            shard_lps: list[np.ndarray] = []
            writer = ShardWriter(out_path, out_format)
            it = _Prefetch(read_shard(shard, read_options))
            try:
                while True:
                    t0 = time.perf_counter()
                    batch: Batch | None = next(it, None)
                    t1 = time.perf_counter()
                    t["read"] += t1 - t0
                    if batch is None:
                        break
                    rag = (
                        batch.tokens if batch.tokens is not None else encode(tokenizer, batch.texts)
                    )
                    t2 = time.perf_counter()
                    t["tokenize"] += t2 - t1
                    cols, recs, lps = _score_all(shard, batch, rag, watermarks, backend, log10_q)
                    t3 = time.perf_counter()
                    t["score"] += t3 - t2
                    writer.write(cols)
                    t["write"] += time.perf_counter() - t3
                    shard_recs += recs
                    shard_lps.append(lps)
                    shard_docs += len(batch)
                    shard_tokens += int(rag.offsets[-1])
                    shard_m += len(batch) * len(watermarks)
                    bar.update(len(batch))
                    elapsed = max(time.perf_counter() - t_start, 1e-9)
                    tok_s = (n_tokens + shard_tokens) / elapsed
                    bar.set_postfix_str(f"{tok_s / 1e6:.2f} M tokens/s", refresh=False)
                writer.commit()
            except BaseException:
                writer.abort()
                raise
            finally:
                it.close()
            bad = [m.to_dict() for m in read_options.malformed]
            lps_all = np.concatenate(shard_lps) if shard_lps else np.zeros(0)
            keep(shard_recs, lps_all, shard_m)
            _record_shard(
                done_path,
                read_options.malformed,
                {
                    "source": shard.source,
                    "n_docs": shard_docs,
                    "n_tokens": shard_tokens,
                    "m": shard_m,
                    "q": q,
                    "candidates": shard_recs,
                    "malformed": bad,
                },
            )
            n_docs += shard_docs
            n_tokens += shard_tokens
            empty += shard_docs == 0 and not bad
            for mrow in bad:
                malformed_file.write(json.dumps(mrow) + "\n")
            malformed_count += len(bad)
            examples += read_options.malformed[: max(0, 20 - len(examples))]
    bar.close()
    wall = time.perf_counter() - t_start

    bh, by, bonf = acc.result("bh"), acc.result("by"), acc.result("bonferroni")
    tags = acc.kept_tags
    hits = []
    for i in np.flatnonzero(bh.rejected):
        rec = dict(candidates[int(tags[i])])
        rec["log10_q_bh"] = float(bh.log10_q[i])
        rec["by"] = bool(by.rejected[i])
        rec["bonferroni"] = bool(bonf.rejected[i])
        hits.append(rec)
    hits.sort(key=lambda r: r["log10_p"])
    with open(out / "hits.jsonl", "w", encoding="utf-8") as f:
        for rec in hits:
            f.write(json.dumps(rec) + "\n")
    summary = acc.summary()
    summary.update(
        n_shards=len(inputs),
        skipped_shards=skipped,
        empty_shards=empty,
        n_docs=n_docs,
        n_tokens=n_tokens,
        n_watermarks=len(watermarks),
        malformed_rows=malformed_count,
        seconds=round(wall, 3),
        shards=[s.shard_id for s in inputs],
    )
    atomic_json(out / "summary.json", summary)
    report = ScanReport(summary, hits, malformed_count, examples, {**t, "wall": wall})
    for line in format_summary(report):
        log(line)
    return report


def _record_shard(done_path: Path, malformed: list[Malformed], record: dict[str, Any]) -> None:
    """Write a shard's done record, unless it was not read to its end (a truncated archive): then
    it has none, and a rerun reads it again."""
    if is_unread(malformed):
        done_path.unlink(missing_ok=True)
    else:
        atomic_json(done_path, record)


def _score_all(shard: Shard, batch: Batch, rag: Ragged, watermarks, backend: str, log10_q: float):
    """Columns of the batch's output rows (watermark-major), and the records and log10
    p-values of the tests that can be rejected at ``log10_q`` (in the same order)."""
    n = len(batch)
    n_tok = np.diff(rag.offsets)
    cols: dict[str, list] = {k: [] for k in COLUMNS}
    recs: list[dict[str, Any]] = []
    lps = []
    none_i = np.full(n, None, dtype=object)
    # watermarks that differ only in their key share one K-key pass (scoring.score_batches)
    for wm, s in zip(watermarks, score_batches(watermarks, rag, backend), strict=True):
        cols["source"].append(np.full(n, shard.source, dtype=object))
        cols["row"].append(np.asarray(batch.rows, dtype=np.int64))
        cols["id"].append(np.asarray(batch.ids, dtype=object))
        cols["watermark"].append(np.full(n, wm.name, dtype=object))
        cols["n_tokens"].append(n_tok)
        cols["n_scored"].append(s["n_scored"])
        cols["score"].append(s["score"])
        cols["log10_p"].append(s["log10_p"])
        for k in ("window_start", "window_n_green", "window_log10_p", "window_score"):
            cols[k].append(s[k].astype(object) if k in s else none_i)
        lps.append(s["log10_p"])
        for i in np.flatnonzero(s["log10_p"] <= log10_q):
            recs.append(
                {
                    "source": shard.source,
                    "row": int(batch.rows[i]),
                    "id": batch.ids[i],
                    "watermark": wm.name,
                    "log10_p": float(s["log10_p"][i]),
                }
            )
    merged = {k: np.concatenate(v) if v else np.zeros(0) for k, v in cols.items()}
    all_lps = np.concatenate(lps)
    keep = all_lps <= log10_q
    return merged, recs, all_lps[keep]
