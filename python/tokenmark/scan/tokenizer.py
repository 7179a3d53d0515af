"""Tokenization for a scan: HF ``tokenizers`` directly (no transformers), in large batches."""

from __future__ import annotations

import hashlib
import itertools
import json
import os
from pathlib import Path

import numpy as np

from .._inputs import Ragged
from .._tokenizers import NOT_UNICODE, first_not_unicode
from .watermarks import ScanConfigError


def load_tokenizer(path: str | os.PathLike):
    """A ``tokenizers.Tokenizer`` from a ``tokenizer.json`` file or a folder holding one, with
    truncation and padding off (a detector must see every token), that encodes as transformers'
    ``AutoTokenizer.from_pretrained(folder)(text, add_special_tokens=False)`` does.

    A file is taken as it is. A folder whose ``tokenizer_config.json`` changes how transformers
    encodes (a model-specific ``tokenizer_class``, ``add_prefix_space``, ``legacy``,
    ``do_lower_case``, added tokens declared otherwise than in ``tokenizer.json``, ...) loads
    through transformers once and its ``tokenizers`` backend is used; without transformers, an
    error names those keys (pass the ``tokenizer.json`` file to use it as it is)."""
    from tokenizers import Tokenizer

    from .._tokenizers import load_tokenizer as load_any

    p = Path(path)
    if p.is_dir() and not (p / "tokenizer.json").is_file():
        if not (p / "tokenizer_config.json").is_file():
            raise ScanConfigError(f"tokenizer: no tokenizer.json at {str(path)!r}")
    elif not p.exists():
        raise ScanConfigError(f"tokenizer: no tokenizer.json at {str(path)!r}")
    try:
        tok = load_any(str(p))
    except ValueError as e:
        raise ScanConfigError(str(e)) from None
    if not isinstance(tok, Tokenizer):
        raise ScanConfigError(
            f"tokenizer: transformers loads {str(path)!r} as {type(tok).__name__}, which does "
            "not encode through a tokenizers backend alone; the scan needs one (a tokenizer.json)"
        )
    return tok


def tokenizer_sha256(path: str | os.PathLike, tokenizer=None) -> str:
    """The SHA-256 of what sets a ``--tokenizer`` path's encoding (a scan's settings, compared
    when it resumes). A file: its bytes. A folder: the tokenizer loaded from it
    (``tokenizer``, or :func:`load_tokenizer`), as it encodes (:func:`tokenizer_state`), so that
    every file it was built from counts (``vocab.json``, ``merges.txt``, ``tokenizer.model``,
    ...). A folder whose ``tokenizer.json`` alone makes that tokenizer keeps the hash that scans
    made before had (its ``tokenizer.json`` and ``tokenizer_config.json``): they resume."""
    p = Path(path)
    if not p.is_dir():
        return hashlib.sha256(p.read_bytes()).hexdigest()
    state = tokenizer_state(load_tokenizer(p) if tokenizer is None else tokenizer)
    tj = p / "tokenizer.json"
    if tj.is_file() and _file_state(tj) == state:
        h = hashlib.sha256()
        for f in (tj, p / "tokenizer_config.json"):
            h.update(f.read_bytes() if f.is_file() else b"")
        return h.hexdigest()
    return hashlib.sha256(json.dumps(["tokenizer_state", *state]).encode()).hexdigest()


def _file_state(path: Path):
    """The :func:`tokenizer_state` of a ``tokenizer.json`` taken as it is (None if unreadable)."""
    from tokenizers import Tokenizer

    try:
        tok = Tokenizer.from_file(str(path))
    except Exception:  # noqa: BLE001 - any failure: not the tokenizer that was loaded
        return None
    tok.no_truncation()
    tok.no_padding()
    return tokenizer_state(tok)


def tokenizer_state(tokenizer) -> tuple[str, bool]:
    """What rebuilds ``tokenizer`` in another process (a Ray actor; :func:`tokenizer_from_state`):
    its JSON, and the one setting the JSON does not hold, whether special tokens in the text are
    split as text (``encode_special_tokens``: transformers' ``split_special_tokens``)."""
    return tokenizer.to_str(), bool(getattr(tokenizer, "encode_special_tokens", False))


def tokenizer_from_state(state: tuple[str, bool]):
    """The ``tokenizers.Tokenizer`` of :func:`tokenizer_state`, truncation and padding off."""
    from tokenizers import Tokenizer

    json_str, split_special = state
    tok = Tokenizer.from_str(json_str)
    tok.no_truncation()
    tok.no_padding()
    if split_special:
        tok.encode_special_tokens = True
    return tok


def encode(tokenizer, texts: list[str]) -> Ragged:
    """Token ids of ``texts`` (no special tokens) as one flat ragged batch, with
    ``encode_batch_fast`` (all cores, no offsets computed)."""
    try:
        encs = tokenizer.encode_batch_fast(texts, add_special_tokens=False)
    except TypeError:  # tokenizers' answer to a lone surrogate; the readers refuse those first
        bad = first_not_unicode(texts)
        if bad is None:
            raise
        raise ValueError(f"texts[{bad}]: {NOT_UNICODE}") from None
    lengths = np.fromiter((len(e) for e in encs), dtype=np.int64, count=len(encs))
    offsets = np.zeros(len(encs) + 1, dtype=np.int64)
    np.cumsum(lengths, out=offsets[1:])
    ids = itertools.chain.from_iterable(e.ids for e in encs)
    tokens = np.fromiter(ids, dtype=np.int32, count=int(offsets[-1]))
    return Ragged(tokens, offsets)
