"""Tail probabilities in log10, so that p-values far below the smallest double keep a value.

A corpus scan ranks documents by p-value and applies corpus-level error control; a watermarked
document of a few thousand tokens has p < 1e-308, where ``scipy.stats.binom.sf`` (and its
``logsf``, which is ``log(sf)``) returns 0 (-inf). Where scipy's tail is a normal double (above
``_TINY``) we take its log; below, the tail is summed term by term in log space from the
log-pmf of its first term (both tails are sums of a discrete pmf whose terms fall geometrically
away from the mode, so the sum converges in a few hundred terms at most).
"""

from __future__ import annotations

import numpy as np

_TINY = 1e-290  # below this, scipy's tail loses precision to subnormals: sum in log space
_EPS = 1e-17  # relative precision of the series sum
_LN10 = np.log(10.0)


def _log_series(log_first: np.ndarray, ratio, steps: np.ndarray) -> np.ndarray:
    """``log(sum_{i < steps} prod_{j < i} ratio(j))`` + ``log_first``, per element.

    ``ratio(i, active)`` gives the ratio of term ``i + 1`` to term ``i`` for the ``active``
    elements; ratios must be non-increasing in ``i`` and below 1 (then the remainder after a
    term ``t`` with next ratio ``r`` is at most ``t r / (1 - r)``, the stopping rule).
    """
    total = np.ones_like(log_first)
    term = np.ones_like(log_first)
    i = 0
    active = np.flatnonzero(steps > 1)
    while active.size:
        r = ratio(i, active)
        term[active] *= r
        total[active] += term[active]
        i += 1
        r_next = np.minimum(ratio(i, active), 1.0 - 1e-300)
        remainder = term[active] * r_next / (1.0 - r_next)
        keep = (remainder > _EPS * total[active]) & (steps[active] > i + 1)
        active = active[keep]
    return log_first + np.log(total)


def log10_binom_sf(k, n, p: float) -> np.ndarray:
    """``log10 P[X >= k]`` for ``X ~ Binomial(n, p)``, elementwise; 0 where ``k <= 0`` or
    ``n == 0``, -inf where ``k > n``.

    >>> float(log10_binom_sf(900, 1000, 0.25)) < -308
    True
    >>> round(float(log10_binom_sf(3, 10, 0.5)), 6) == round(float(np.log10(0.9453125)), 6)
    True
    """
    from scipy import stats

    k, n = np.broadcast_arrays(np.asarray(k, dtype=np.int64), np.asarray(n, dtype=np.int64))
    shape = k.shape
    k, n = k.reshape(-1), n.reshape(-1)
    out = np.zeros(k.shape, dtype=np.float64)
    some = (k > 0) & (n > 0)
    out[some & (k > n)] = -np.inf
    live = some & (k <= n)
    sf = stats.binom.sf(k[live] - 1, n[live], p)
    with np.errstate(divide="ignore"):
        vals = np.log10(sf)
    deep = sf < _TINY
    if deep.any():
        kd, nd = k[live][deep], n[live][deep]
        odds = p / (1.0 - p)

        def ratio(i, idx):  # P[X = j + 1] / P[X = j] at j = k + i
            j = kd[idx] + i
            return np.maximum(nd[idx] - j, 0) / (j + 1.0) * odds

        first = stats.binom.logpmf(kd, nd, p)
        vals[deep] = _log_series(first, ratio, nd - kd + 1) / _LN10
    out[live] = vals
    return out.reshape(shape)


def log10_gamma_sf(x, n) -> np.ndarray:
    """``log10 P[G >= x]`` for ``G ~ Gamma(n, 1)`` with integer ``n`` (a sum of ``n`` Exp(1)),
    elementwise; 0 where ``n == 0``.

    Below ``_TINY`` it uses ``P[G >= x] = P[Poisson(x) <= n - 1]``, a finite sum whose terms fall
    from ``j = n - 1`` down when ``x > n``.

    >>> float(log10_gamma_sf(5000.0, 1000)) < -308
    True
    """
    from scipy import special, stats

    x, n = np.broadcast_arrays(np.asarray(x, dtype=np.float64), np.asarray(n, dtype=np.int64))
    shape = x.shape
    x, n = x.reshape(-1), n.reshape(-1)
    out = np.zeros(x.shape, dtype=np.float64)
    live = n > 0
    sf = stats.gamma.sf(x[live], n[live])
    with np.errstate(divide="ignore"):
        vals = np.log10(sf)
    deep = sf < _TINY
    if deep.any():
        xd, nd = x[live][deep], n[live][deep]

        def ratio(i, idx):  # P[Y = j - 1] / P[Y = j] at j = n - 1 - i, Y ~ Poisson(x)
            j = nd[idx] - 1 - i
            return np.maximum(j, 0) / xd[idx]

        first = -xd + (nd - 1) * np.log(xd) - special.gammaln(nd)
        vals[deep] = _log_series(first, ratio, nd) / _LN10
    out[live] = vals
    return out.reshape(shape)


def log10_norm_sf(z) -> np.ndarray:
    """``log10 P[Z >= z]`` for a standard normal ``Z`` (scipy's ``log_ndtr``, accurate far out).

    >>> round(float(log10_norm_sf(0.0)), 6) == round(float(np.log10(0.5)), 6)
    True
    """
    from scipy import special

    return special.log_ndtr(-np.asarray(z, dtype=np.float64)) / _LN10
