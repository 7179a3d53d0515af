"""Detection rates with confidence intervals, text diversity, and the KGW spike-entropy bound.

Example
-------
>>> import numpy as np
>>> detection_rate(np.array([1e-4, 0.02, 0.5, 1e-3]), 1e-3)
0.5
"""

from __future__ import annotations

import math

import numpy as np


def detection_rate(pvalues, alpha: float) -> float:
    """Fraction of documents with p-value <= ``alpha``: the TPR at false-positive rate ``alpha``
    on watermarked text, the empirical FPR on unwatermarked text."""
    p = np.asarray(pvalues, dtype=np.float64)
    if p.size == 0:
        raise ValueError("pvalues: empty")
    if not 0.0 < alpha < 1.0:
        raise ValueError(f"alpha: must be in (0, 1), got {alpha}")
    return float(np.mean(p <= alpha))


def tpr_at_empirical_fpr(pos_scores, neg_scores, fpr: float) -> float:
    """TPR when the threshold is set on unwatermarked scores (higher = more watermarked) so that
    at most ``fpr`` of them are flagged; needs at least ``1 / fpr`` negatives to mean anything."""
    pos = np.asarray(pos_scores, dtype=np.float64)
    neg = np.sort(np.asarray(neg_scores, dtype=np.float64))
    if pos.size == 0 or neg.size == 0:
        raise ValueError("pos_scores, neg_scores: both must be non-empty")
    if not 0.0 < fpr < 1.0:
        raise ValueError(f"fpr: must be in (0, 1), got {fpr}")
    k = math.floor(fpr * neg.size)  # negatives allowed above the threshold
    thr = neg[neg.size - k - 1]  # flag scores strictly above the (k+1)-th largest negative
    return float(np.mean(pos > thr))


def wilson(k: int, n: int, z: float = 1.96) -> tuple[float, float]:
    """Wilson score interval for a binomial proportion ``k / n`` (95% for ``z = 1.96``)."""
    if n <= 0 or not 0 <= k <= n:
        raise ValueError(f"k, n: need 0 <= k <= n and n > 0, got {k}, {n}")
    p = k / n
    den = 1 + z * z / n
    mid = (p + z * z / (2 * n)) / den
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / den
    return max(0.0, mid - half), min(1.0, mid + half)


def mean_ci(x, z: float = 1.96) -> tuple[float, float]:
    """(mean, half-width of the normal-approximation interval)."""
    a = np.asarray(x, dtype=np.float64)
    if a.size == 0:
        raise ValueError("x: empty")
    half = z * a.std(ddof=1) / math.sqrt(a.size) if a.size > 1 else float("nan")
    return float(a.mean()), float(half)


def distinct_n(tokens, n: int) -> float:
    """Distinct n-grams / all n-grams of one sequence (1.0 = no n-gram repeats)."""
    x = np.asarray(tokens)
    if x.ndim != 1:
        raise ValueError(f"tokens: expected a 1-D sequence, got shape {x.shape}")
    if n < 1:
        raise ValueError(f"n: must be >= 1, got {n}")
    m = len(x) - n + 1
    if m <= 0:
        raise ValueError(f"tokens: need at least n = {n} tokens, got {len(x)}")
    grams = np.lib.stride_tricks.sliding_window_view(x, n)
    return len({g.tobytes() for g in grams}) / m


def spike_modulus(gamma: float, delta: float) -> float:
    """z = (1 - gamma)(e^delta - 1) / (1 + (e^delta - 1) gamma), Kirchenbauer et al. Thm 4.2."""
    a = math.exp(delta)
    return (1 - gamma) * (a - 1) / (1 + (a - 1) * gamma)


def spike_entropy(probs, modulus: float) -> np.ndarray:
    """S(p, z) = sum_k p_k / (1 + z p_k) per row of ``probs [..., vocab]`` (1 for a uniform
    distribution over a huge vocabulary, 1 / (1 + z) for a point mass)."""
    p = np.asarray(probs, dtype=np.float64)
    return np.sum(p / (1.0 + modulus * p), axis=-1)


def kgw_green_bound(gamma: float, delta: float, mean_spike: float) -> float:
    """Lower bound on the expected green fraction of KGW text (Theorem 4.2):
    gamma e^delta / (1 + (e^delta - 1) gamma) * mean spike entropy of the model's distributions.

    It assumes a fresh, uniformly random green list at every step."""
    a = math.exp(delta)
    return gamma * a / (1 + (a - 1) * gamma) * mean_spike
