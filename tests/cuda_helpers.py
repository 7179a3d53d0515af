"""What the CUDA binding tests share: the bad arguments every row binding (bias, sampling) and
every scoring binding of ``tokenmark._cuda`` refuses. The bindings check pointers for null and
alignment and never read them before a launch, so these run without a GPU (with a CUDA build).

Row cases change a valid call with ``logits=256, batch=2, vocab=8, logits_row_stride=8,
input_ids=512, keys=1024``; scoring cases one with ``tokens=256, n_tokens=4, offsets=512,
n_docs=1, n_scored`` set, ``prefix=0``."""

from __future__ import annotations

ROW_BINDING_CASES = [
    ({"logits_dtype": 3}, "logits_dtype"),
    ({"width": 1025}, "context_width"),
    ({"seeding": 2}, "seeding"),
    ({"batch": -1}, "batch"),
    ({"vocab": -5}, "vocab"),
    ({"ids_len": -1}, "ids_len"),
    ({"key_stride": 1}, "keys"),
    ({"logits_row_stride": 4}, "logits: rows overlap"),
    ({"logits": 0}, "logits: null"),
    ({"logits": 258}, "logits: device pointer not aligned"),
    ({"input_ids": 0}, "input_ids: null"),
    ({"input_ids": 516}, "input_ids: device pointer not aligned"),
    ({"keys": 0}, "keys: null"),
    ({"device": -1}, "device"),
]

SCORE_BINDING_CASES = [
    ({"key": (1, 2, 3, 1 << 32)}, "key"),
    ({"width": 2000}, "context_width"),
    ({"seeding": -1}, "seeding"),
    ({"n_tokens": -1}, "n_tokens"),
    ({"n_docs": -1}, "n_docs"),
    ({"n_docs": 0}, "offsets"),
    ({"tokens": 0}, "tokens: null"),
    ({"offsets": 514}, "offsets: device pointer not aligned"),
    ({"n_scored": 0}, "n_scored: null"),
    ({"prefix": 3}, "prefix_lengths: device pointer not aligned"),
    ({"device": -2}, "device"),
]
