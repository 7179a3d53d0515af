"""The Gumbel-max watermark in numpy: the executable specification every backend is tested
against (``docs/prf.md``, "Gumbel"). Plain loops, written for clarity, not speed.
"""

from __future__ import annotations

import numpy as np

from .kgw import _bf16_bits_to_f32
from .prf import DOMAIN_GUMBEL, context_hash, prf_word

NOT_WATERMARKED = -1  # disabled row, context too short, or a repeated context
NO_FINITE_LOGIT = -2  # every logit of a watermarked row is -inf or NaN

_TWO32 = 4294967296.0


def uniform(words) -> np.ndarray:
    """PRF words as uniforms in (0, 1): ``(word + 0.5) / 2^32`` in float64 (exact)."""
    return (np.asarray(words, dtype=np.float64) + 0.5) * (1.0 / _TWO32)


def noise(words) -> np.ndarray:
    """Standard Gumbel noise ``-log(-log u)``, float64."""
    return -np.log(-np.log(uniform(words)))


def score_term(words) -> np.ndarray:
    """Detection term ``-log(1 - u)`` with ``1 - u = (2^32 - word - 0.5) / 2^32`` (exact)."""
    one_minus_u = (_TWO32 - np.asarray(words, dtype=np.float64) - 0.5) * (1.0 / _TWO32)
    return -np.log(one_minus_u)


def logits_f32(row: np.ndarray, dtype: str) -> np.ndarray:
    """A logits row as float32 (bfloat16 rows arrive as their 16-bit patterns)."""
    if dtype == "bfloat16":
        return _bf16_bits_to_f32(row)
    return row.astype(np.float32)


def sample_row(logits: np.ndarray, key_words, ctx: int) -> int:
    """``argmax_v (logit_v + noise(PRF(key, ctx, v, 3)))`` in float64, lowest id on ties;
    -inf and NaN logits never win. ``logits`` is a float32 row."""
    x = np.asarray(logits, dtype=np.float64)
    ok = x > -np.inf  # False for -inf and NaN
    if not ok.any():
        return NO_FINITE_LOGIT
    words = prf_word(key_words, ctx, np.arange(len(x), dtype=np.uint32), DOMAIN_GUMBEL)
    with np.errstate(invalid="ignore"):
        s = np.where(ok, x + noise(words), -np.inf)
    return int(np.argmax(s))  # the first maximum: the lowest id on ties


def context_repeated(ids: np.ndarray, width: int, seeding: int) -> bool:
    """Whether the context of the next position occurred at an earlier position of ``ids``
    (hash equality, prompt included)."""
    n = len(ids)
    now = int(context_hash(ids[n - width :], seeding))
    return any(int(context_hash(ids[j - width : j], seeding)) == now for j in range(width, n))


def sample_gumbel(
    logits: np.ndarray,
    input_ids: np.ndarray,
    keys: np.ndarray,
    salts: np.ndarray,
    enabled: np.ndarray | None,
    width: int,
    seeding: int,
    skip_repeated: bool,
    dtype: str = "float32",
) -> np.ndarray:
    """The Gumbel choice of each row of ``logits [batch, vocab]``, int64 ``[batch]``.

    Row ``b`` is watermarked when enabled, when it has at least ``width`` ids, and (with
    ``skip_repeated``) when its context hash did not occur earlier in the row; its context is
    ``context_hash(last width ids) ^ salts[b]``. Other rows get ``NOT_WATERMARKED``.
    """
    batch = logits.shape[0]
    keys = np.broadcast_to(np.asarray(keys, dtype=np.uint32).reshape(-1, 4), (batch, 4))
    salts = np.broadcast_to(np.asarray(salts, dtype=np.uint32), (batch,))
    ids = np.asarray(input_ids, dtype=np.int64)
    out = np.full(batch, NOT_WATERMARKED, dtype=np.int64)
    for b in range(batch):
        if (enabled is not None and not enabled[b]) or ids.shape[1] < width:
            continue
        if skip_repeated and context_repeated(ids[b], width, seeding):
            continue
        ctx = int(context_hash(ids[b, ids.shape[1] - width :], seeding)) ^ int(salts[b])
        out[b] = sample_row(logits_f32(logits[b], dtype), keys[b], ctx)
    return out


def score_gumbel(
    tokens: np.ndarray,
    offsets: np.ndarray,
    prefix: np.ndarray | None,
    key_words,
    salts,
    width: int,
    seeding: int,
    dedup: bool,
    words_out: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Score ragged documents: ``(n_scored[d], score[d], counted[i])``.

    Position ``i`` is scored when ``i >= max(width, prefix[d])``, under the context hash of the
    ``width`` tokens before it XOR ``salts[d]``. With ``dedup`` only the first occurrence of each
    (context, token) pair counts. ``score[d]`` sums ``-log(1 - u)`` in token order (float64).
    ``words_out`` (uint32 [n_tokens], zeros), when given, gets each counted token's PRF word.
    """
    tokens = np.asarray(tokens, dtype=np.int64)
    n_docs = len(offsets) - 1
    salts = np.broadcast_to(np.asarray(salts, dtype=np.uint32).reshape(-1), (n_docs,))
    n_scored = np.zeros(n_docs, dtype=np.int64)
    score = np.zeros(n_docs, dtype=np.float64)
    counted = np.zeros(len(tokens), dtype=np.uint8)
    for d in range(n_docs):
        lo, hi = int(offsets[d]), int(offsets[d + 1])
        start = min(hi, lo + max(width, int(prefix[d]) if prefix is not None else 0))
        seen: set[tuple[int, int]] = set()
        total = 0.0
        for i in range(start, hi):
            ctx = int(context_hash(tokens[i - width : i], seeding)) ^ int(salts[d])
            pair = (ctx, int(tokens[i]))
            if dedup and pair in seen:
                continue
            seen.add(pair)
            word = prf_word(key_words, ctx, tokens[i], DOMAIN_GUMBEL)
            total += float(score_term(word))
            if words_out is not None:
                words_out[i] = word
            counted[i] = 1
            n_scored[d] += 1
        score[d] = total
    return n_scored, score, counted
