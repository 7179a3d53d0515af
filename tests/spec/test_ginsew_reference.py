"""The numpy GINSEW reference against independent restatements of docs/prf.md section 8."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats
from tokenmark import Key
from tokenmark.reference import ginsew as ref
from tokenmark.reference.prf import context_hash, philox4x32_10

KEY = Key(b"ginsew-spec").words


def _prf_scalar(key, ctx: int, token: int, domain: int) -> int:
    """docs/prf.md section 3 with Python ints, one token at a time."""
    k = [int(w) for w in key]
    words = philox4x32_10(token >> 2, ctx, k[2] ^ domain, k[3], k[0], k[1])
    return int(words[token & 3])


def _fmix32(x: int) -> int:
    x ^= x >> 16
    x = (x * 0x85EBCA6B) & 0xFFFFFFFF
    x ^= x >> 13
    x = (x * 0xC2B2AE35) & 0xFFFFFFFF
    return x ^ (x >> 16)


def _prev_hash(window) -> int:
    s = 0x243F6A88
    for t in window:
        s = _fmix32(s ^ int(t))
    return s


def test_group_flags_match_scalar_prf():
    flags = ref.group_flags(KEY, 1019, 0.3)
    thr = math.floor(0.3 * 2**32)
    expect = [_prf_scalar(KEY, 0, v, 4) < thr for v in range(1019)]
    assert flags.tolist() == expect
    # The split is a fraction-share of the vocabulary: binomial around 0.3 * V.
    big = ref.group_flags(KEY, 50257, 0.3)
    assert abs(big.mean() - 0.3) < 4 * math.sqrt(0.3 * 0.7 / 50257)


@pytest.mark.parametrize("width", [1, 2, 5])
def test_times_match_scalar_prf(width):
    rng = np.random.default_rng(width)
    ids = rng.integers(0, 50000, size=(40, 7))
    t = ref.times(KEY, ids, width)
    for b in range(len(ids)):
        ctx = _prev_hash(ids[b, 7 - width :])
        assert ctx == int(context_hash(ids[b, 7 - width :], 0))
        assert t[b] == _prf_scalar(KEY, ctx, 0, 5) / 2**32
    assert ((t >= 0) & (t < 1)).all()


def test_times_short_rows_and_prompt_position():
    ids = np.array([[3, 9, 4]])
    assert np.isnan(ref.times(KEY, ids, 4)[0])
    t = ref.times(KEY, np.array([[3, 9, 4, 8, 8, 8, 1], [7, 7, 7, 7, 7, 8, 2]]), 1, position=5)
    # Both rows hold id 8 at position 5: one time, that of the context [8].
    assert t[0] == t[1] == ref.times(KEY, np.array([[8]]), 1)[0]
    assert np.isnan(ref.times(KEY, np.array([[1, 2, 3]]), 1, position=5)[0])


def test_times_are_uniform():
    ids = np.arange(20000).reshape(-1, 1)
    t = ref.times(KEY, ids, 1)
    assert stats.kstest(t, "uniform").pvalue > 1e-3


def _independent(x, g0, eps, f, t):
    """The issue's formula, directly: softmax, group masses, rescale within the groups."""
    p = np.exp(x - x.max())
    p /= p.sum()
    q0, q1 = p[g0].sum(), p[~g0].sum()
    n0 = (q0 + eps * (1 + math.cos(f * t))) / (1 + 2 * eps)
    n1 = (q1 + eps * (1 + math.cos(f * t + math.pi))) / (1 + 2 * eps)
    out = np.where(g0, p * n0 / q0, p * n1 / q1)
    return np.log(out)


@pytest.mark.parametrize("vocab", [2, 17, 1019, 32000])
@pytest.mark.parametrize("eps", [0.05, 0.2, 1.0])
def test_formula_against_independent_float64(vocab, eps):
    rng = np.random.default_rng(vocab)
    x = rng.normal(0, 3, vocab)
    g0 = ref.group_flags(KEY, vocab, 0.5)
    if g0.all() or not g0.any():
        g0[0] = not g0[0]
    for t in (0.0, 0.123, 0.77, 0.999):
        got = ref.perturb_row(x, g0, eps, 16.0, t)
        np.testing.assert_allclose(got, _independent(x, g0, eps, 16.0, t), rtol=1e-11, atol=1e-11)
        p = np.exp(got)
        # The exact group-mass identity Q0' + Q1' = 1, and Q0' as the formula says.
        assert abs(p.sum() - 1.0) < 1e-12
        q0 = np.exp(x - x.max())[g0].sum() / np.exp(x - x.max()).sum()
        assert abs(p[g0].sum() - (q0 + eps * (1 + math.cos(16.0 * t))) / (1 + 2 * eps)) < 1e-12


def test_neg_inf_and_nan_keep_their_value():
    x = np.array([1.0, -np.inf, 0.5, np.nan, -2.0, -np.inf, 3.0, 0.0])
    g0 = np.array([True, True, False, False, True, False, False, True])
    out = ref.perturb_row(x, g0, 0.2, 16.0, 0.3)
    assert np.isneginf(out[[1, 5]]).all() and np.isnan(out[3])
    finite = np.isfinite(x)
    assert np.isfinite(out[finite]).all()
    assert abs(np.exp(out[finite]).sum() - 1) < 1e-12


def test_underflowing_group_is_perturbed_exactly():
    # G0's mass relative to G1 is e^-1000: it underflows float64 (a softmax gives exactly 0 there,
    # and a 1e-25 guard would invent its in-group distribution). Its new mass is eps(1 + cos)/(1 +
    # 2 eps) and within G0 the distribution is softmax of G0's logits.
    x = np.array([0.0, 1.0, -1000.0, -1001.0, -1002.5])
    g0 = np.array([False, False, True, True, True])
    eps, f, t = 0.2, 16.0, 0.41
    out = ref.perturb_row(x, g0, eps, f, t)
    target0 = eps * (1 + math.cos(f * t)) / (1 + 2 * eps)
    in_group = np.exp(x[g0] - x[g0].max())
    in_group /= in_group.sum()
    np.testing.assert_allclose(np.exp(out[g0]), target0 * in_group, rtol=1e-13)
    q1 = 1 - target0
    in1 = np.exp(x[~g0] - x[~g0].max())
    np.testing.assert_allclose(np.exp(out[~g0]), q1 * in1 / in1.sum(), rtol=1e-13)


def test_empty_group_and_no_time_only_normalise():
    x = np.array([0.5, -np.inf, 2.0, -np.inf])
    g0 = np.array([True, False, True, False])  # G1 holds no finite logit: mass 0, cannot receive
    out = ref.perturb_row(x, g0, 0.2, 16.0, 0.3)
    lse = np.logaddexp(0.5, 2.0)
    np.testing.assert_allclose(out[[0, 2]], [0.5 - lse, 2.0 - lse], rtol=1e-14)
    y = np.array([0.1, 0.2, 0.3])
    out = ref.perturb_row(y, np.array([True, False, True]), 0.2, 16.0, math.nan)
    np.testing.assert_allclose(out, y - np.log(np.exp(y).sum()), rtol=1e-14)
    assert np.isneginf(ref.perturb_row(np.full(3, -np.inf), np.ones(3, bool), 0.2, 16, 0.1)).all()


def test_apply_rows_enabled_and_dtypes():
    rng = np.random.default_rng(3)
    x = rng.normal(0, 2, (4, 33)).astype(np.float32)
    ids = rng.integers(0, 1000, (4, 3))
    out = ref.apply_ginsew(x, ids, KEY, 0.2, 16.0, 1, 0.5, enabled=np.array([1, 0, 1, 1]))
    assert out.dtype == np.float32
    g0 = ref.group_flags(KEY, 33, 0.5)
    t = ref.times(KEY, ids, 1)
    for b in (0, 2, 3):
        expect = _independent(x[b].astype(np.float64), g0, 0.2, 16.0, t[b])
        np.testing.assert_allclose(out[b], expect, rtol=2e-7, atol=2e-6)
    plain = x[1] - np.log(np.exp(x[1].astype(np.float64)).sum())
    np.testing.assert_allclose(out[1], plain, rtol=2e-7, atol=2e-6)
    # bfloat16 bit patterns read as their float32 values.
    bits = (x.view(np.uint32) >> 16).astype(np.uint16)
    widened = (bits.astype(np.uint32) << 16).view(np.float32)
    np.testing.assert_array_equal(
        ref.apply_ginsew(bits, ids, KEY, 0.2, 16.0, 1, 0.5, dtype="bfloat16"),
        ref.apply_ginsew(widened, ids, KEY, 0.2, 16.0, 1, 0.5),
    )
