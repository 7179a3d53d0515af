"""GINSEW detection at every frequency the config accepts: low ones (the default periodogram band
had no room outside the window, and the variance of cos(f t) cancels), high ones (the band's grid
stepped over the window)."""

from __future__ import annotations

import math

import mpmath
import numpy as np
import pytest
import tokenmark as tm
from scipy import stats
from tokenmark.suspect import ginsew as sus

FREQUENCIES = [1e-9, 1e-3, 0.05, 1.0, 1.5, 3.0, 16.0, 1e3, 1e5, 1e8]


def random_probs(ids):
    """A clean suspect: a fixed random distribution per probe."""
    return np.random.default_rng(int(np.asarray(ids).sum())).dirichlet(np.ones(50), len(ids))


@pytest.mark.parametrize("f", FREQUENCIES)
def test_detection_runs_at_every_frequency(f):
    wm = tm.GINSEW(key=b"band", frequency=f)
    res = wm.detect_model(random_probs, [[i] for i in range(60)])
    assert res.n == 60 and 0.0 < res.p_value <= 1.0 and math.isfinite(res.p_snr)
    res = wm.detect([list(range(60))])
    assert res.n_observations == 59 and math.isfinite(res.p_snr)


@pytest.mark.parametrize("f", FREQUENCIES)
def test_cos_moments_against_50_digits(f):
    mpmath.mp.dps = 50
    x = mpmath.mpf(f)
    m = mpmath.sin(x) / x
    v = mpmath.mpf(1) / 2 + mpmath.sin(2 * x) / (4 * x) - m**2
    got_m, got_v = sus.cos_moments(f)
    assert abs(got_m - m) <= 1e-15 * abs(m) + 1e-300
    assert abs(got_v - v) <= 1e-10 * v


@pytest.mark.parametrize("f", [1e-7, 1e-3, 0.3, 1.0, 1e5])
def test_matched_filter_null_at_low_and_high_frequency(f):
    rng = np.random.default_rng(7)
    z = [sus.matched_filter(rng.random(300), rng.random(300), f)[0] for _ in range(1000)]
    assert stats.kstest(z, "norm").pvalue > 1e-3


def test_lomb_scargle_peaks_at_a_high_frequency():
    rng = np.random.default_rng(2)
    t = rng.random(3000)
    y = 0.5 + 0.05 * np.cos(1e5 * t) + rng.normal(0, 0.1, 3000)
    assert sus.lomb_scargle_snr(y, t, 1e5) > 5
    assert sus.lomb_scargle_snr(rng.random(3000), t, 1e5) < 2


def test_an_explicit_band_that_misses_the_window_is_refused():
    rng = np.random.default_rng(3)
    y, t = rng.random(100), rng.random(100)
    with pytest.raises(ValueError, match="band"):
        sus.lomb_scargle_snr(y, t, 16.0, band=(40.0, 80.0))
    with pytest.raises(ValueError, match="band"):
        sus.lomb_scargle_snr(y, t, 16.0, band=(15.0, 17.0))
