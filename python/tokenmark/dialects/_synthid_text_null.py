"""SynthID-Text's exact null where a small table ties a position's layers together.

Layer ``l`` of a position with hash ``h`` reads ``table[y_l mod size]``, ``y_l = (h + keys[l]) M
+ 1 = X + c_l`` (mod 2^64, then as int64, floor modulo), with ``X = h M`` and ``c_l = keys[l] M
+ 1``: every layer's index is the same ``X`` shifted. Where ``X`` is uniform, the layers' indices
are ``(u + e_l) mod size`` with one uniform ``u`` for all layers; the shifts ``e_l`` are constant
on the pieces of ``[0, 2^64)`` between the points where ``X + c_l`` wraps past 2^64 or 2^63
(2^64 mod size moves them; for a power-of-two table, never). So a position's ones are not
Binomial(depth, q) but a mixture over the pieces and the ``size`` values of ``u``, enumerated here
(exact but for the pieces' edges, where ``X mod size`` is uniform to ``size / 2^64``), and a
document's total its n-fold convolution (by FFT, exponentially tilted towards the observed total
so deep tails keep their relative accuracy).

From ``EXACT_BELOW`` on (their default 2^16 table, and larger) the binomial is kept: the
dependence there changes a key's per-position variance by about 1% (see the README).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np

from ..reference.synthid_text import LCG_INCREMENT, LCG_MULTIPLIER

EXACT_BELOW = 2**16  # tables below this size get the exact null
_PLAIN_MIN = 1e-6  # untilted FFT tails above this are kept (absolute error ~1e-12)


@dataclass(frozen=True, eq=False)  # hashed by identity: a cache key
class PositionNull:
    """A table's per-position null: the pieces' probabilities ``prob`` and layer shifts
    ``shift [pieces, depth]`` (the index of layer ``l`` is ``(u + shift[p, l]) mod size`` for a
    uniform ``u``), and ``pmf[s]``, P[s of the depth layers are 1]."""

    table: np.ndarray
    prob: np.ndarray
    shift: np.ndarray
    pmf: np.ndarray

    def weighted_variance(self, wn: np.ndarray) -> float:
        """Variance of ``sum_l wn[l] g_l`` at one position (kept for the last few weights)."""
        return _weighted_variance(self, np.asarray(wn, dtype=np.float64).tobytes())

    def tail(self, total: np.ndarray, n: np.ndarray) -> np.ndarray:
        """P[ones of ``n`` positions >= ``total``], per document (1 where ``n == 0``)."""
        return count_tail(self.pmf, total, n)

    def log10_tail(self, total: np.ndarray, n: np.ndarray) -> np.ndarray:
        """``log10`` of :meth:`tail`, finite where the tail underflows a double."""
        return count_log_tail(self.pmf, total, n) / np.log(10.0)


def position_null(key_words: np.ndarray, table: np.ndarray) -> PositionNull | None:
    """The exact per-position null of these keys and table, or None where the binomial is kept
    (a table of ``EXACT_BELOW`` entries or more; one entry: every layer reads it)."""
    size = len(table)
    if size == 1 or size >= EXACT_BELOW:
        return None
    c = [(int(k) * LCG_MULTIPLIER + LCG_INCREMENT) % 2**64 for k in key_words]
    cuts = sorted({0, *((2**64 - x) % 2**64 for x in c), *((2**63 - x) % 2**64 for x in c)})
    ends = [*cuts[1:], 2**64]
    prob = np.array([(b - a) / 2**64 for a, b in zip(cuts, ends)])
    shift = np.array(
        [[(x - 2**64 * ((a + x >= 2**64) + ((a + x) % 2**64 >= 2**63))) % size for x in c]
         for a in cuts],
        dtype=np.int64,
    )  # fmt: skip
    pmf = np.zeros(len(c) + 1)
    for p, ones in _position_sums(table, prob, shift, None):
        pmf += p * np.bincount(ones, minlength=len(c) + 1) / size
    return PositionNull(table, prob, shift, pmf)


@functools.lru_cache(maxsize=8)
def _weighted_variance(null: PositionNull, wn: bytes) -> float:
    m1 = m2 = 0.0
    for prob, w in _position_sums(null.table, null.prob, null.shift, np.frombuffer(wn)):
        m1 += prob * w.mean()
        m2 += prob * (w**2).mean()
    return max(m2 - m1**2, 0.0)


def _position_sums(table, prob, shift, wn):
    """Per piece, its probability and, for each ``u``, the layers' ones (``wn`` None) or their
    weighted sum: updated from piece to piece where a layer's shift moves."""
    size = len(table)
    u = np.arange(size)
    t = np.asarray(table, dtype=np.int64 if wn is None else np.float64)
    w = np.ones(shift.shape[1], dtype=np.int64) if wn is None else wn
    acc = sum(w[j] * t[(u + shift[0, j]) % size] for j in range(shift.shape[1]))
    yield prob[0], acc
    for p in range(1, len(prob)):
        for j in np.flatnonzero(shift[p] != shift[p - 1]):
            acc = acc + w[j] * (t[(u + shift[p, j]) % size] - t[(u + shift[p - 1, j]) % size])
        yield prob[p], acc


def count_tail(pmf: np.ndarray, total, n) -> np.ndarray:
    """``P[S_1 + ... + S_n >= total]`` for iid ``S`` with ``pmf`` on ``0..len(pmf) - 1``."""
    return np.exp(count_log_tail(pmf, total, n))


def count_log_tail(pmf: np.ndarray, total, n) -> np.ndarray:
    """The natural log of :func:`count_tail`, finite in tails far below float64's range (-inf
    only for a total the null cannot reach)."""
    from scipy import fft, special

    total = np.asarray(total, dtype=np.int64)
    n = np.asarray(n, dtype=np.int64)
    out = np.zeros(total.shape, dtype=np.float64)
    s = np.arange(len(pmf), dtype=np.float64)
    top = int(np.flatnonzero(pmf > 0)[-1])  # the largest count a position can have
    with np.errstate(divide="ignore"):
        logf = np.log(pmf)
    todo = (n > 0) & (total > 0)
    over = todo & (total > n * top)
    out[over] = -np.inf  # more ones than the null can give
    full = todo & (total == n * top)
    out[full] = n[full] * logf[top]
    todo &= total < n * top
    for m in np.unique(n[todo]):  # untilted: one FFT per length
        at = todo & (n == m)
        size = fft.next_fast_len(int(m) * top + 1, real=True)
        dist = np.maximum(fft.irfft(fft.rfft(pmf, size) ** m, size)[: m * top + 1], 0.0)
        upper = np.cumsum(dist[::-1])[::-1]  # P[T >= t]
        with np.errstate(divide="ignore"):
            out[at] = np.log(np.minimum(upper[total[at]], 1.0))
    deep = np.flatnonzero(todo & (out < np.log(_PLAIN_MIN)))
    for d in deep:  # tilted towards the observed total: relative accuracy in deep tails
        m, t = int(n[d]), int(total[d])
        theta = _tilt(logf, s, t / m)
        logg = logf + theta * s
        k = special.logsumexp(logg)
        size = fft.next_fast_len(m * top + 1, real=True)
        g = np.exp(logg - k)
        dist = fft.irfft(fft.rfft(g, size) ** m, size)[t : m * top + 1]
        with np.errstate(divide="ignore"):
            terms = np.log(np.maximum(dist, 0.0)) - theta * np.arange(t, m * top + 1)
        out[d] = min(0.0, float(m * k + special.logsumexp(terms)))
    return out


def _tilt(logf: np.ndarray, s: np.ndarray, target: float) -> float:
    """theta >= 0 with the tilted mean ``sum s f e^(theta s) / sum f e^(theta s)`` at
    ``target`` (bisection; the tail identity holds for any theta, this one keeps it accurate)."""
    from scipy import special

    lo, hi = 0.0, 1.0
    while _tilted_mean(logf, s, hi, special) < target and hi < 1e4:
        hi *= 2
    for _ in range(60):
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if _tilted_mean(logf, s, mid, special) < target else (lo, mid)
    return (lo + hi) / 2


def _tilted_mean(logf, s, theta, special) -> float:
    w = logf + theta * s
    return float(np.exp(special.logsumexp(w, b=s) - special.logsumexp(w)))
