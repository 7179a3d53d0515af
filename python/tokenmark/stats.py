"""Detection statistics: exact binomial tails for green counts, and the windowed maximum."""

from __future__ import annotations

import numpy as np
from scipy import stats


def binomial_z(n_green: np.ndarray, n: np.ndarray, p: float) -> np.ndarray:
    """z-score of green counts against Binomial(n, p); 0 where n == 0."""
    n = np.asarray(n, dtype=np.float64)
    k = np.asarray(n_green, dtype=np.float64)
    denom = np.sqrt(n * p * (1.0 - p))
    with np.errstate(divide="ignore", invalid="ignore"):
        z = (k - n * p) / denom
    return np.where(n > 0, z, 0.0)


def binomial_pvalue(n_green: np.ndarray, n: np.ndarray, p: float) -> np.ndarray:
    """Exact one-sided p-value P[X >= n_green] for X ~ Binomial(n, p); 1 where n == 0."""
    k = np.asarray(n_green, dtype=np.float64)
    n = np.asarray(n, dtype=np.int64)
    return np.where(n > 0, stats.binom.sf(k - 1, n, p), 1.0)


def windowed_max(
    counted_green: np.ndarray, offsets_counted: np.ndarray, window: int, p: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Most-green window of ``window`` consecutive counted tokens in each document.

    ``counted_green`` holds the 0/1 green flags of the counted tokens of all documents, flat,
    with document ``d`` at ``offsets_counted[d]:offsets_counted[d+1]``. A document shorter than
    the window is one window of its own length.

    Returns ``(start, n_green, p_value)`` per document: the window's first counted index within
    the document, its green count, and a Bonferroni-corrected p-value
    ``min(1, n_windows * P[Binomial(window, p) >= n_green])``. The correction is valid for any
    dependence between overlapping windows (and conservative because of it).
    """
    n_docs = len(offsets_counted) - 1
    lengths = np.diff(offsets_counted)
    cs = np.concatenate([[0], np.cumsum(counted_green, dtype=np.int64)])
    start = np.zeros(n_docs, dtype=np.int64)
    best = np.zeros(n_docs, dtype=np.int64)
    pvals = np.ones(n_docs)
    for d in np.flatnonzero(lengths > 0):
        lo, hi = offsets_counted[d], offsets_counted[d + 1]
        w = min(window, hi - lo)
        sums = cs[lo + w : hi + 1] - cs[lo : hi - w + 1]
        i = int(np.argmax(sums))
        start[d], best[d] = i, sums[i]
        n_windows = len(sums)
        pvals[d] = min(1.0, n_windows * float(stats.binom.sf(best[d] - 1, w, p)))
    return start, best, pvals


def gamma_pvalue(score: np.ndarray, n: np.ndarray) -> np.ndarray:
    """Exact one-sided p-value P[X >= score] for X ~ Gamma(n, 1) (a sum of n Exp(1)); 1 where
    n == 0."""
    score = np.asarray(score, dtype=np.float64)
    n = np.asarray(n, dtype=np.int64)
    return np.where(n > 0, stats.gamma.sf(score, np.maximum(n, 1)), 1.0)


def synthid_weights(layers: int) -> np.ndarray:
    """Default layer weights of the weighted-mean SynthID score: linear from 10 (layer 0) down
    to 1 (the last layer), as in Dathathri et al. (2024): later layers carry less signal."""
    return np.linspace(10.0, 1.0, layers) if layers > 1 else np.ones(1)


def weighted_mean_z(ones: np.ndarray, n: np.ndarray, weights: np.ndarray) -> tuple:
    """Weighted-mean g score ``sum_l w_l ones_l / (n sum_l w_l)`` per document, its z-score and
    one-sided normal p-value. Under the null every g-value is an independent fair coin, so the
    score has mean 1/2 and variance ``sum w^2 / (4 n (sum w)^2)``; the normal tail is an
    approximation (good from a few tens of tokens), unlike the exact binomial of the plain mean.
    Documents with n == 0 get score NaN, z 0, p 1."""
    w = np.asarray(weights, dtype=np.float64)
    n = np.asarray(n, dtype=np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        score = (ones @ w) / (n * w.sum())
        sd = np.sqrt((w**2).sum() / (4.0 * n)) / w.sum()
        z = np.where(n > 0, (score - 0.5) / sd, 0.0)
    return np.where(n > 0, score, np.nan), z, np.where(n > 0, stats.norm.sf(z), 1.0)
