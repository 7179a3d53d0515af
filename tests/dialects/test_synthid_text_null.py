"""SynthID-Text's p-value where a small sampling table ties a position's layers together: every
layer's table index is one uniform value shifted per layer, so below 2^16 entries the layers'
ones are far from Binomial(depth, q); the p-value is then the exact tail of their mixture, and
the false-positive rate per key stays at alpha."""

from __future__ import annotations

import numpy as np
import pytest
import tokenmark as tm
from tokenmark.dialects._synthid_text_null import count_tail

rng = np.random.default_rng(20261201)


def _scheme(size: int, depth: int = 30, ngram_len: int = 5):
    keys = [int(k) for k in rng.integers(-(2**62), 2**62, size=depth)]
    return tm.dialects.synthid_text(keys=keys, ngram_len=ngram_len, sampling_table_size=size)


@pytest.mark.parametrize("size", [2, 4, 16, 256, 2**15])
def test_position_pmf_is_the_enumeration_of_the_residues(size):
    wm = _scheme(size, depth=12)
    # every hash residue mod size, through the library's own g-values (C++)
    h = np.arange(size, dtype=np.uint64) + np.uint64(size) * np.uint64(987654321)
    g = tm.ops.synthid_text_g_values(h, keys=wm._key_words, table=wm.sampling_table)
    want = np.bincount(g.sum(axis=1), minlength=13) / size
    np.testing.assert_allclose(wm._null.pmf, want, rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("size", [3, 7, 12, 999])
def test_position_pmf_of_other_tables_against_sampled_hashes(size):
    wm = _scheme(size, depth=8)  # the layers' indices: one uniform, shifted per layer
    h = rng.integers(0, 2**64, size=400_000, dtype=np.uint64)
    g = tm.ops.synthid_text_g_values(h, keys=wm._key_words, table=wm.sampling_table)
    seen = np.bincount(g.sum(axis=1), minlength=9) / len(h)  # sd < 1e-3
    np.testing.assert_allclose(wm._null.pmf, seen, atol=4e-3)


def test_count_tail_against_direct_convolution():
    for size in (4, 16, 12, 1000):
        pmf = _scheme(size, depth=7)._null.pmf
        n = 40
        dist = np.array([1.0])
        for _ in range(n):
            dist = np.convolve(dist, pmf)
        want = np.cumsum(dist[::-1])[::-1]  # P[T >= t]
        t = np.arange(7 * n + 2)
        got = count_tail(pmf, t, np.full(len(t), n))
        ok = want > 1e-300
        np.testing.assert_allclose(got[: len(want)][ok], want[ok], rtol=1e-7)
        assert got[-1] == 0.0  # more ones than positions x layers


@pytest.mark.parametrize("size", [4, 16, 7])
def test_false_positive_rate_per_key_on_random_text(size):
    alpha, docs = 0.01, 2000
    bound = alpha + 4 * np.sqrt(alpha * (1 - alpha) / docs)
    for _ in range(6):
        wm = _scheme(size)
        res = wm.detect(rng.integers(0, 50_000, size=(docs, 60)))  # distinct n-grams
        assert (res.n_scored == 56).all()
        fpr = float((res.p_value <= alpha).mean())
        assert fpr <= bound, (size, fpr)
        assert 0.85 <= float(np.var(res.weighted_z)) <= 1.15  # its variance is the table's


def test_their_default_and_larger_tables_keep_the_binomial():
    for size in (2**16, 2**17, 3 * 2**16, 2**16 + 1, 1):
        assert _scheme(size, depth=3)._null is None
    assert _scheme(2**16 - 1, depth=3)._null is not None
