"""Tokenization for a scan: HF ``tokenizers`` directly (no transformers), in large batches."""

from __future__ import annotations

import itertools
import os
from pathlib import Path

import numpy as np

from .._inputs import Ragged
from .watermarks import ScanConfigError


def load_tokenizer(path: str | os.PathLike):
    """A ``tokenizers.Tokenizer`` from a ``tokenizer.json`` file or a folder holding one, with
    truncation and padding off (a detector must see every token)."""
    from tokenizers import Tokenizer

    p = Path(path)
    if p.is_dir():
        p = p / "tokenizer.json"
    if not p.is_file():
        raise ScanConfigError(f"tokenizer: no tokenizer.json at {str(path)!r}")
    try:
        tok = Tokenizer.from_file(str(p))
    except Exception as e:  # tokenizers raises its own Exception type for a bad file
        raise ScanConfigError(f"tokenizer: cannot load {str(p)!r} ({e})") from None
    tok.no_truncation()
    tok.no_padding()
    return tok


def encode(tokenizer, texts: list[str]) -> Ragged:
    """Token ids of ``texts`` (no special tokens) as one flat ragged batch, with
    ``encode_batch_fast`` (all cores, no offsets computed)."""
    encs = tokenizer.encode_batch_fast(texts, add_special_tokens=False)
    lengths = np.fromiter((len(e) for e in encs), dtype=np.int64, count=len(encs))
    offsets = np.zeros(len(encs) + 1, dtype=np.int64)
    np.cumsum(lengths, out=offsets[1:])
    ids = itertools.chain.from_iterable(e.ids for e in encs)
    tokens = np.fromiter(ids, dtype=np.int32, count=int(offsets[-1]))
    return Ragged(tokens, offsets)
