"""A small generated corpus shared by the report and Ray engine tests (built once per session):
human passages and watermarked documents of four keys and three schemes, some pasted into human
text, one behind HTML that the report must escape, written as two JSON lines shards and one
Parquet shard, with one malformed line."""

from __future__ import annotations

import functools
import json
from pathlib import Path

import scan_corpus
import torch

Q = 1e-3
HOSTILE = '<script>alert("x")</script> & <b>bold</b> '


@functools.lru_cache(maxsize=1)
def documents() -> tuple[list[tuple[str, str]], dict[str, str]]:
    torch.set_num_threads(1)
    docs, planted = scan_corpus.build(n_human=24, per_scheme=2, new_tokens=100, seed=1)
    docs = [(i, HOSTILE + t if i == "kgw-alpha-1" else t) for i, t in docs]
    return docs, planted


def write(root: Path) -> dict:
    """Write the corpus under ``root``; the inputs, config, key file and the expected hits
    {(source, row, watermark)}."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    docs, planted = documents()
    where: dict[str, tuple[str, int]] = {}
    a, b, c = docs[:12], docs[12:22], docs[22:]
    pa_ = root / "part-a.jsonl"
    with open(pa_, "w") as f:
        for n, (i, t) in enumerate(a):
            f.write(json.dumps({"id": i, "text": t}) + "\n")
            where[i] = (str(pa_), n + 1)
        f.write('{"id": "broken", "text": "no closing quote}\n')  # malformed: line len(a) + 1
    pb = root / "part-b.parquet"
    pq.write_table(pa.table({"id": [i for i, _ in b], "text": [t for _, t in b]}), pb)
    where.update({i: (str(pb), n) for n, (i, _) in enumerate(b)})
    pc = root / "part-c.jsonl"
    with open(pc, "w") as f:
        for n, (i, t) in enumerate(c):
            f.write(json.dumps({"id": i, "text": t}) + "\n")
            where[i] = (str(pc), n + 1)
    config = root / "watermarks.json"
    config.write_text(json.dumps(scan_corpus.watermark_config()))
    keys = root / "keys.json"
    keys.write_text(json.dumps({**scan_corpus.KEYS, **scan_corpus.UNUSED}))
    return {
        "inputs": [str(pa_), str(pb), str(pc)],
        "config": str(config),
        "keys": str(keys),
        "expected": {(*where[i], wm) for i, wm in planted.items()},
        "n_docs": len(docs),
        "malformed": (str(pa_), len(a) + 1),
    }
