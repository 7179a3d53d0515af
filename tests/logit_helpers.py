"""Host logits for the C++-against-reference tests: the dtypes and the cast to them (bfloat16 as
its uint16 bits, float16 overflowing to inf on purpose)."""

from __future__ import annotations

import numpy as np
from scipy import special, stats

DTYPES = ["float32", "float16", "bfloat16"]


def as_dtype(x: np.ndarray, dtype: str) -> np.ndarray:
    """float32 logits as ``dtype``: float16 (-3e38 becomes -inf), bfloat16 bits (truncated)."""
    if dtype == "float16":
        with np.errstate(over="ignore"):
            return x.astype(np.float16)
    if dtype == "bfloat16":
        return (x.view(np.uint32) >> 16).astype(np.uint16)
    return x


def edge_logits(rng, batch: int, vocab: int, scale: float) -> np.ndarray:
    """float32 normal logits times ``scale``, with the edge values in row 1 (-inf, NaN, -0.0,
    0.0, the float16 maximum, a float32 value below float16's range, a subnormal) and a top-k
    style -inf mask on every third entry of row 2."""
    x = rng.standard_normal((batch, vocab)).astype(np.float32) * scale
    if batch > 1 and vocab:
        specials = np.array([-np.inf, np.nan, -0.0, 0.0, 65500.0, -3e38, 1e-40], np.float32)
        x[1, : min(vocab, len(specials))] = specials[: min(vocab, len(specials))]
    if batch > 2 and vocab:
        x[2, ::3] = -np.inf
    return x


def softmax_fit_pvalue(tokens: np.ndarray, x: np.ndarray) -> float:
    """Chi-square p-value of sampled ``tokens`` against ``softmax(x)`` over the finite logits of
    ``x`` (a token at a -inf logit fails the assertion outright)."""
    counts = np.bincount(tokens, minlength=len(x))
    finite = np.isfinite(x)
    assert counts[~finite].sum() == 0
    p = special.softmax(x[finite].astype(np.float64))
    return stats.chisquare(counts[finite], p * len(tokens)).pvalue
