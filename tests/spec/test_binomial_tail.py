"""The binomial tail of ``tokenmark.stats`` (``binomial_sf``, ``binomial_pvalue``, the windows of
``windowed_max``) is computed through ``scipy.special.betainc`` without scipy.stats: every value
must be the one ``scipy.stats.binom.sf`` returns, bit for bit, edges included."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats
from tokenmark import stats as S

EDGE_P = [0.0, 1e-300, 1e-12, 1e-6, 0.01, 0.1, 0.25, 0.5, 0.75, 0.9, 0.99, 1 - 1e-6, 1 - 1e-12, 1.0]


def _grid(seed: int = 0):
    """(x, n, p): small, mid, large and huge n; k at 0, 1, n - 1, n, n + 1, the mean, the mean
    plus three standard deviations and at random; p at the edges and at random."""
    rng = np.random.default_rng(seed)
    ns = np.concatenate(
        [np.arange(0, 40), rng.integers(0, 10**3, 300), rng.integers(0, 10**6, 300),
         rng.integers(0, 2**40, 60), [2**53, 2**62]]
    )  # fmt: skip
    ps = np.concatenate([EDGE_P, rng.random(20), 1 / np.arange(2, 20)])
    xs, nn, pp = [], [], []
    for n in ns.tolist():
        for p in rng.choice(ps, 4).tolist():
            sd = np.sqrt(n * p * (1 - p))
            ks = {0, 1, n - 1, n, n + 1, n // 2, int(n * p), int(n * p + 3 * sd) + 1,
                  int(rng.integers(0, n + 2))}  # fmt: skip
            for k in ks:
                xs.append(k - 1)
                nn.append(n)
                pp.append(p)
    return np.array(xs, np.float64), np.array(nn, np.int64), np.array(pp)


def test_binomial_sf_is_scipys_on_a_grid():
    x, n, p = _grid()
    assert len(x) > 20_000
    want = stats.binom.sf(x, n, p)
    np.testing.assert_array_equal(S.binomial_sf(x, n, p), want)  # NaN only where scipy's is
    # integer counts (the path that skips the floor and the validity checks) and one scalar p
    np.testing.assert_array_equal(S.binomial_sf(x.astype(np.int64), n, p), want)
    for q in (0.0, 1e-9, 0.25, 0.5, 1.0):
        np.testing.assert_array_equal(S.binomial_sf(x.astype(np.int64), n, q),
                                      stats.binom.sf(x, n, q))  # fmt: skip


def test_binomial_sf_scalar_p_and_invalid_arguments():
    x = np.array([-3.0, -1.0, 0.0, 0.5, 2.0, 3.0, 7.0, np.inf, -np.inf, np.nan])
    for p in (*EDGE_P, 0.3, -0.1, 1.5, np.nan):
        for n in (0, 1, 3, 7, 1000):
            np.testing.assert_array_equal(S.binomial_sf(x, n, p), stats.binom.sf(x, n, p))
    n = np.array([-1, 2, 3])  # a negative size: scipy's NaN
    np.testing.assert_array_equal(S.binomial_sf(np.zeros(3), n, 0.5), stats.binom.sf(0, n, 0.5))


def test_binomial_pvalue_contract():
    k = np.array([0, 1, 3, 4, 5, 0, 2, 10**6])
    n = np.array([4, 4, 4, 4, 4, 0, 0, 2 * 10**6])
    got = S.binomial_pvalue(k, n, 0.5)
    want = np.where(n > 0, stats.binom.sf(k - 1, n, 0.5), 1.0)
    np.testing.assert_array_equal(got, want)
    assert got[0] == 1.0 and got[4] == 0.0  # k = 0: certain; k > n: impossible
    assert got[5] == 1.0 and got[6] == 1.0  # n == 0: 1, whatever the count
    assert got[3] == 0.5**4  # k = n
    x, n, p = _grid(1)
    np.testing.assert_array_equal(
        S.binomial_pvalue(x + 1, n, p)[n > 0], stats.binom.sf(x, n, p)[n > 0]
    )


@pytest.mark.parametrize("window", [1, 3, 10])
def test_windowed_max_pvalue_is_scipys(window):
    rng = np.random.default_rng(window)
    lengths = rng.integers(0, 40, size=50)
    offsets = np.concatenate([[0], np.cumsum(lengths)])
    green = (rng.random(int(offsets[-1])) < 0.4).astype(np.uint8)
    _, best, pv = S.windowed_max(green, offsets, window, 0.25)
    w = np.minimum(lengths, window)
    n_windows = np.where(lengths > 0, lengths - w + 1, 0)
    tail = stats.binom.sf(best - 1, w, 0.25)
    want = np.where(n_windows > 0, np.minimum(1.0, n_windows * tail), 1.0)
    np.testing.assert_array_equal(pv, want)


def test_weighted_mean_pvalue_is_norm_sf():
    rng = np.random.default_rng(3)
    ones = rng.integers(0, 50, size=(200, 4)).astype(np.float64)
    n = rng.integers(0, 60, size=200)
    _, z, p = S.weighted_mean_z(ones, n, np.array([4.0, 3.0, 2.0, 1.0]))
    np.testing.assert_array_equal(p, np.where(n > 0, stats.norm.sf(z), 1.0))


def test_gamma_pvalue_is_scipys_on_both_paths():
    """``gamma_pvalue``: every n > 0 and score >= 0 (one gammaincc call) and the general path
    (n == 0, negative or NaN scores) give scipy.stats.gamma.sf's values, 1 where n == 0."""
    rng = np.random.default_rng(7)
    n = rng.integers(1, 5000, size=3000)
    score = n * rng.uniform(0.5, 1.6, size=3000)
    np.testing.assert_array_equal(S.gamma_pvalue(score, n), stats.gamma.sf(score, n))
    n[::7] = 0
    score[::11] = -1.0
    score[5] = np.nan
    want = np.where(n > 0, stats.gamma.sf(np.maximum(score, 0), np.maximum(n, 1)), 1.0)
    np.testing.assert_array_equal(S.gamma_pvalue(score, n), want)
