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
    np.testing.assert_allclose(wm.position_null.pmf, want, rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("size", [3, 7, 12, 999])
def test_position_pmf_of_other_tables_against_sampled_hashes(size):
    wm = _scheme(size, depth=8)  # the layers' indices: one uniform, shifted per layer
    h = rng.integers(0, 2**64, size=400_000, dtype=np.uint64)
    g = tm.ops.synthid_text_g_values(h, keys=wm._key_words, table=wm.sampling_table)
    seen = np.bincount(g.sum(axis=1), minlength=9) / len(h)  # sd < 1e-3
    np.testing.assert_allclose(wm.position_null.pmf, seen, atol=4e-3)


def test_count_tail_against_direct_convolution():
    for size in (4, 16, 12, 1000):
        pmf = _scheme(size, depth=7).position_null.pmf
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
        assert _scheme(size, depth=3).position_null is None
    assert _scheme(2**16 - 1, depth=3).position_null is not None


def test_the_scans_log10_p_is_the_exact_tail():
    """``tokenmark scan`` scores a dialect from its counts: with a small table it took the
    binomial tail the detector no longer uses. Its log10 p is now log10 of detect()'s p-value,
    and finite where that underflows (all ones: the null's top count at every position)."""
    from tokenmark._inputs import Ragged
    from tokenmark.dialects._synthid_text_null import count_log_tail
    from tokenmark.scan.dialect_scoring import score_dialect

    wm = _scheme(4, depth=30)
    docs = [rng.integers(0, 300, int(rng.integers(6, 80))) for _ in range(40)]
    rag = Ragged.from_sequences(docs)
    got = score_dialect(wm, rag, backend="cpu")["log10_p"]
    p = wm.detect(rag, backend="cpu").p_value
    np.testing.assert_allclose(got, np.log10(p), rtol=1e-9, atol=1e-12)
    pmf = wm.position_null.pmf
    top = int(np.flatnonzero(pmf)[-1])
    deep = count_log_tail(pmf, [3000 * top, 3000 * top - 1], [3000, 3000]) / np.log(10)
    assert np.isfinite(deep).all() and (deep < -308).all() and deep[0] < deep[1]
    # all ones at every position: exactly the top count's probability to the n
    np.testing.assert_allclose(deep[0], 3000 * np.log10(pmf[top]), rtol=1e-12)
