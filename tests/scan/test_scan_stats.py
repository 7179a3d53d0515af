"""The scan's statistics: log10 tails against mpmath (independent, 50 digits) and scipy, and the
streaming BH / BY / Bonferroni accumulator against scipy.stats.false_discovery_control."""

from __future__ import annotations

import doctest
import importlib

import mpmath
import numpy as np
import pytest
from scipy import stats
from tokenmark.scan import FDRAccumulator, log10_binom_sf, log10_gamma_sf, log10_norm_sf
from tokenmark.scan.fdr import harmonic

mpmath.mp.dps = 60


def _mp_binom(k: int, n: int, p: float) -> float:
    p = mpmath.mpf(p)
    tail = mpmath.fsum(mpmath.binomial(n, j) * p**j * (1 - p) ** (n - j) for j in range(k, n + 1))
    return float(mpmath.log10(tail))


def _mp_gamma(x: float, n: int) -> float:
    return float(mpmath.log10(mpmath.gammainc(n, x, mpmath.inf, regularized=True)))


@pytest.mark.parametrize(
    "k,n,p",
    [(1, 1, 0.25), (3, 10, 0.5), (40, 100, 0.25), (90, 100, 0.25), (100, 100, 0.25),
     (600, 1000, 0.25), (900, 1000, 0.25), (2500, 5000, 0.25), (3100, 6000, 0.5), (7, 7, 1e-3),
     (1000, 1000, 0.5), (5200, 10000, 0.5)],
)  # fmt: skip
def test_log10_binom_sf_matches_mpmath(k, n, p):
    got = float(log10_binom_sf(k, n, p))
    want = _mp_binom(k, n, p)
    assert got == pytest.approx(want, rel=1e-10, abs=1e-12), (got, want)


@pytest.mark.parametrize(
    "x,n",
    [(0.5, 1), (50.0, 1), (30.0, 10), (1e4, 10), (800.0, 200), (3000.0, 1000), (5000.0, 1000),
     (20000.0, 4000), (1200.0, 1000), (2.0, 5)],
)  # fmt: skip
def test_log10_gamma_sf_matches_mpmath(x, n):
    got = float(log10_gamma_sf(x, n))
    want = _mp_gamma(x, n)
    assert got == pytest.approx(want, rel=1e-10, abs=1e-12), (got, want)


def test_tails_edges_and_shapes():
    # P[X >= 0] = 1, n = 0 is no evidence, k > n impossible; shapes follow the inputs.
    out = log10_binom_sf(np.array([0, 5, 11, 5]), np.array([10, 0, 10, 10]), 0.25)
    assert out[:3].tolist() == [0.0, 0.0, -np.inf] and out[3] < 0
    assert log10_binom_sf(3, 10, 0.5).shape == ()
    assert log10_gamma_sf(np.zeros((2, 3)), np.zeros((2, 3), dtype=int)).shape == (2, 3)
    assert float(log10_gamma_sf(0.0, 4)) == 0.0
    assert float(log10_norm_sf(40.0)) == pytest.approx(float(mpmath.log10(mpmath.ncdf(-40))))


def test_tails_agree_with_scipy_where_scipy_has_a_value():
    # Down to 1e-290: below, scipy's tails are subnormal doubles that have lost digits.
    rng = np.random.default_rng(0)
    n = rng.integers(1, 3000, 2000)
    k = (rng.uniform(0, 1, 2000) * (n + 1)).astype(np.int64)
    for p in (0.1, 0.25, 0.5):
        with np.errstate(divide="ignore"):
            want = np.log10(stats.binom.sf(k - 1, n, p))
        ok = want > -290
        np.testing.assert_allclose(log10_binom_sf(k, n, p)[ok], want[ok], rtol=1e-9, atol=1e-12)
    x = rng.uniform(0, 3, 2000) * n
    with np.errstate(divide="ignore"):
        want = np.log10(stats.gamma.sf(x, n))
    ok = want > -290
    np.testing.assert_allclose(log10_gamma_sf(x, n)[ok], want[ok], rtol=1e-9, atol=1e-12)


def test_deep_tails_are_monotone():
    k = np.arange(500, 1001)
    lp = log10_binom_sf(k, 1000, 0.25)
    assert np.all(np.isfinite(lp)) and np.all(np.diff(lp) < 0)
    x = np.linspace(1000, 20000, 400)
    lg = log10_gamma_sf(x, 1000)
    assert np.all(np.isfinite(lg)) and np.all(np.diff(lg) < 0)


# -- error control -------------------------------------------------------------------------------
def _random_pvalues(rng, m):
    p = rng.uniform(size=m)
    k = int(rng.integers(0, m + 1))
    p[:k] = rng.uniform(size=k) ** rng.uniform(1, 12)  # some signal, of random strength
    return rng.permutation(p)


@pytest.mark.parametrize("seed", range(6))
def test_fdr_matches_scipy_exactly(seed):
    """Streamed in chunks, where each chunk passes only its p-values <= q (plus its count), the
    rejections of BH and BY are exactly scipy's over all p-values; the q-values of the rejected
    ones equal scipy's adjusted p-values."""
    rng = np.random.default_rng(seed)
    for _ in range(40):
        m = int(rng.integers(1, 4000))
        p = _random_pvalues(rng, m)
        q = float(rng.choice([1e-3, 0.01, 0.05, 0.1, 0.25]))
        acc = FDRAccumulator(q)
        for chunk in np.array_split(np.arange(m), int(rng.integers(1, 9))):
            lp = np.log10(p[chunk])
            sel = lp <= np.log10(q) if rng.uniform() < 0.5 else np.ones(len(chunk), bool)
            acc.add(lp[sel], tags=chunk[sel], m=len(chunk))
        assert acc.m == m
        for method in ("bh", "by"):
            r = acc.result(method)
            adj = stats.false_discovery_control(p, method=method)
            want = np.flatnonzero(adj <= q)
            got = np.sort(acc.kept_tags[r.rejected])
            np.testing.assert_array_equal(got, want)
            np.testing.assert_allclose(
                10 ** r.log10_q[r.rejected], adj[acc.kept_tags[r.rejected]], rtol=1e-9
            )
        bonf = acc.result("bonferroni")
        np.testing.assert_array_equal(
            np.sort(acc.kept_tags[bonf.rejected]), np.flatnonzero(p <= q / m)
        )


def test_fdr_keeps_only_candidates_and_handles_tiny_p():
    acc = FDRAccumulator(0.05)
    acc.add(np.array([-400.0, -0.1, -350.0, 0.0]), tags=np.arange(4))
    acc.add(np.array([-0.5]), tags=np.array([4]), m=10**6)  # a million tests, one below q
    assert acc.m == 10**6 + 4 and len(acc.kept_log10_p) == 2 + 0  # -0.5 > log10 0.05
    r = acc.result("bh")
    assert sorted(acc.kept_tags[r.rejected].tolist()) == [0, 2]
    s = acc.summary()
    assert s["bh"]["rejections"] == 2 and s["m"] == 10**6 + 4
    assert s["bonferroni"]["log10_threshold"] == pytest.approx(np.log10(0.05 / (10**6 + 4)))


def test_fdr_bad_input():
    with pytest.raises(ValueError, match="q"):
        FDRAccumulator(0.0)
    with pytest.raises(ValueError, match="q"):
        FDRAccumulator(float("nan"))
    acc = FDRAccumulator(0.1)
    with pytest.raises(ValueError, match="NaN"):
        acc.add([np.nan])
    with pytest.raises(ValueError, match="above 0"):
        acc.add([0.5])
    with pytest.raises(ValueError, match="m"):
        acc.add([-1.0, -2.0], m=1)
    with pytest.raises(ValueError, match="method"):
        acc.result("holm")


def test_harmonic():
    assert harmonic(1) == 1.0 and harmonic(4) == pytest.approx(25 / 12)
    exact = float(mpmath.harmonic(2_000_000))
    assert harmonic(2_000_000) == pytest.approx(exact, rel=1e-14)


@pytest.mark.parametrize(
    "name",
    ["tokenmark.scan.logp", "tokenmark.scan.fdr", "tokenmark.scan.inputs",
     "tokenmark.scan.watermarks", "tokenmark.scan.engine"],
)  # fmt: skip
def test_scan_docstring_examples(name, monkeypatch, tmp_path):
    if name.endswith("engine"):  # its example writes Parquet
        pytest.importorskip("pyarrow", reason="the scan extra: pip install '.[scan]'")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("TOKENMARK_KEY_DOCS", "x")
    result = doctest.testmod(importlib.import_module(name), optionflags=doctest.ELLIPSIS)
    assert result.failed == 0 and result.attempted > 0
