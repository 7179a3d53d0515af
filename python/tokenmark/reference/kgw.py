"""KGW in numpy: the executable specification every backend is tested against.

Plain loops over numpy arrays, written for clarity, not speed.
"""

from __future__ import annotations

import numpy as np

from .prf import DOMAIN_KGW_GREEN, context_hash, prf_word


def green_mask(key_words, ctx, tokens, threshold) -> np.ndarray:
    """Whether each token is green under its context hash (broadcasting)."""
    return prf_word(key_words, ctx, tokens, DOMAIN_KGW_GREEN) < np.uint32(threshold)


def _bf16_bits_to_f32(bits: np.ndarray) -> np.ndarray:
    return (bits.astype(np.uint32) << np.uint32(16)).view(np.float32)


def _f32_to_bf16_bits(x: np.ndarray) -> np.ndarray:
    """Round-to-nearest-even, as torch and CUDA do (the inputs here are never NaN)."""
    u = x.astype(np.float32).view(np.uint32).astype(np.uint64)
    return ((u + 0x7FFF + ((u >> 16) & 1)) >> 16).astype(np.uint16)


def add_delta(row: np.ndarray, green: np.ndarray, delta: float, dtype: str) -> np.ndarray:
    """``row + delta`` on green entries, computed in float32 and rounded back to ``dtype``.

    ``row`` holds float32 or float16 values, or bfloat16 bit patterns (uint16) when
    ``dtype == "bfloat16"``. NaN entries keep their exact bits; -inf stays -inf.
    """
    # NaN inputs (kept below) and overflow to inf are expected here: no warnings for them.
    with np.errstate(invalid="ignore", over="ignore"):
        if dtype == "bfloat16":
            x = _bf16_bits_to_f32(row)
            new = _f32_to_bf16_bits(x + np.float32(delta))
        else:
            x = row.astype(np.float32)
            new = (x + np.float32(delta)).astype(row.dtype)
    change = green & ~np.isnan(x)
    return np.where(change, new, row)


def apply_kgw_bias(
    logits: np.ndarray,
    input_ids: np.ndarray,
    keys: np.ndarray,
    thresholds: np.ndarray,
    deltas: np.ndarray,
    enabled: np.ndarray | None,
    width: int,
    seeding: int,
    dtype: str = "float32",
) -> np.ndarray:
    """Return biased logits ``[batch, vocab]`` (the input is not modified).

    Row ``b`` uses the context hash of its last ``width`` input ids; rows with fewer ids than
    ``width``, and disabled rows, are left alone. ``keys`` ``[batch or 1, 4]``, ``thresholds`` and
    ``deltas`` ``[batch or 1]`` broadcast over rows.
    """
    out = np.array(logits, copy=True)
    batch, vocab = out.shape
    keys = np.broadcast_to(np.asarray(keys, dtype=np.uint32).reshape(-1, 4), (batch, 4))
    thresholds = np.broadcast_to(np.asarray(thresholds, dtype=np.uint32), (batch,))
    deltas = np.broadcast_to(np.asarray(deltas, dtype=np.float32), (batch,))
    ids = np.asarray(input_ids)
    vocab_ids = np.arange(vocab, dtype=np.uint32)
    for b in range(batch):
        if (enabled is not None and not enabled[b]) or ids.shape[1] < width:
            continue
        ctx = context_hash(ids[b, ids.shape[1] - width :], seeding)
        green = green_mask(keys[b], ctx, vocab_ids, thresholds[b])
        out[b] = add_delta(out[b], green, float(deltas[b]), dtype)
    return out


def score_kgw(
    tokens: np.ndarray,
    offsets: np.ndarray,
    prefix: np.ndarray | None,
    key_words,
    threshold: int,
    width: int,
    seeding: int,
    dedup: bool,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Score ragged documents ``tokens[offsets[d]:offsets[d+1]]``.

    Position ``i`` of a document is scored when ``i >= max(width, prefix[d])``; its context is
    the ``width`` tokens before it. With ``dedup``, only the first occurrence of each
    (context hash, token) pair in a document counts.

    Returns ``n_scored[d]``, ``n_green[d]``, ``green[i]`` (1, 0, or -1 where not scored for lack
    of context) and ``counted[i]`` (1 where the position entered the counts).
    """
    tokens = np.asarray(tokens, dtype=np.int64)
    n_docs = len(offsets) - 1
    n_scored = np.zeros(n_docs, dtype=np.int64)
    n_green = np.zeros(n_docs, dtype=np.int64)
    green = np.full(len(tokens), -1, dtype=np.int8)
    counted = np.zeros(len(tokens), dtype=np.uint8)
    for d in range(n_docs):
        lo, hi = int(offsets[d]), int(offsets[d + 1])
        skip = max(width, int(prefix[d]) if prefix is not None else 0)
        start = min(hi, lo + skip)
        seen: set[tuple[int, int]] = set()
        for i in range(start, hi):
            ctx = int(context_hash(tokens[i - width : i], seeding))
            g = bool(green_mask(key_words, ctx, tokens[i], threshold))
            green[i] = 1 if g else 0
            pair = (ctx, int(tokens[i]))
            if dedup and pair in seen:
                continue
            seen.add(pair)
            counted[i] = 1
            n_scored[d] += 1
            n_green[d] += g
    return n_scored, n_green, green, counted
