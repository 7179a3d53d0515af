"""The C++ kernels (AVX2 and scalar paths) against the numpy reference, bit for bit."""

import numpy as np
import pytest
import tokenmark as tm
from logit_helpers import DTYPES, as_dtype
from tokenmark import _C
from tokenmark.reference import kgw as ref


def make_logits(rng, batch, vocab, dtype):
    x = rng.standard_normal((batch, vocab)).astype(np.float32) * 5
    specials = np.array([-np.inf, np.nan, np.inf, -0.0, 0.0, 65500.0, -3e38, 1e-40], np.float32)
    if batch and vocab:
        n = min(vocab, len(specials))
        x[0, :n] = specials[:n]
    return as_dtype(x, dtype)


def bits(a):
    return a.view(np.uint32 if a.dtype == np.float32 else np.uint16)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize(
    "batch,vocab", [(0, 17), (1, 1), (1, 17), (3, 1019), (37, 33), (2, 32000), (1, 50257)]
)
def test_bias_matches_reference(simd, rng, dtype, batch, vocab):
    logits = make_logits(rng, batch, vocab, dtype)
    ids = rng.integers(0, 2**31 - 1, (batch, 6))
    keys = rng.integers(0, 2**32, (batch, 4), dtype=np.uint64).astype(np.uint32)
    thr = rng.integers(1, 2**32, batch, dtype=np.uint64).astype(np.uint32)
    deltas = rng.uniform(-3, 3, batch).astype(np.float32)
    enabled = (rng.random(batch) < 0.8).astype(np.uint8)
    for width, seeding in [(4, 0), (1, 1), (0, 0), (6, 1)]:
        want = ref.apply_kgw_bias(logits, ids, keys, thr, deltas, enabled, width, seeding, dtype)
        got = logits.copy()
        _C.apply_kgw_bias_(got, dtype, ids, keys, thr, deltas, enabled, width, seeding)
        assert np.array_equal(bits(got), bits(want))


@pytest.mark.parametrize("vocab", [128256, 151936])
def test_bias_large_vocab_bf16(rng, vocab):
    logits = make_logits(rng, 2, vocab, "bfloat16")
    ids = rng.integers(0, vocab, (2, 9)).astype(np.int32)
    key = tm.Key(b"k").words[None]
    thr = np.array([int(0.5 * 2**32)], np.uint32)
    d = np.array([1.5], np.float32)
    want = ref.apply_kgw_bias(logits, ids, key, thr, d, None, 4, 0, "bfloat16")
    got = logits.copy()
    _C.apply_kgw_bias_(got, "bfloat16", ids, key, thr, d, None, 4, 0)
    assert np.array_equal(got, want)


def test_bias_short_context_and_disabled_rows_untouched(rng):
    logits = make_logits(rng, 3, 100, "float32")
    ids = rng.integers(0, 100, (3, 2))  # fewer ids than the context width
    got = logits.copy()
    wm = tm.KGW(key=b"k", context_width=4)
    wm.apply_(got, ids)
    assert np.array_equal(bits(got), bits(logits))
    got = logits.copy()
    tm.KGW(key=b"k", context_width=2).apply_(got, ids, enabled=np.array([1, 0, 1], np.uint8))
    assert np.array_equal(bits(got[1]), bits(logits[1]))
    assert not np.array_equal(bits(got[0]), bits(logits[0]))


def test_bias_strided_rows(rng):
    base = make_logits(rng, 4, 64, "float32")
    view = base[:, :40]  # rows 64 apart, 40 wide
    ids = rng.integers(0, 1000, (4, 5))
    keys, thr, d = (
        tm.Key(b"k").words[None],
        np.array([2**31], np.uint32),
        np.array([1.0], np.float32),
    )
    want = ref.apply_kgw_bias(view, ids, keys, thr, d, None, 4, 0)
    _C.apply_kgw_bias_(view, "float32", ids, keys, thr, d, None, 4, 0)
    assert np.array_equal(bits(base[:, :40]), bits(want))


def ragged(rng, lengths, vocab):
    offsets = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
    return rng.integers(0, vocab, int(offsets[-1])).astype(np.int32), offsets


@pytest.mark.parametrize("seeding", [0, 1])
@pytest.mark.parametrize("width", [0, 1, 4])
@pytest.mark.parametrize("dedup", [False, True])
def test_score_matches_reference(simd, rng, seeding, width, dedup):
    lengths = [0, 1, width, width + 1, 3, 17, 200, 0, 9]
    # A small vocabulary makes repeated (context, token) pairs common, exercising dedup.
    tokens, offsets = ragged(rng, lengths, 7)
    prefix = rng.integers(0, 12, len(lengths))
    key = rng.integers(0, 2**32, 4, dtype=np.uint64).astype(np.uint32)
    thr = int(0.3 * 2**32)
    for pre in (None, prefix):
        want = ref.score_kgw(tokens, offsets, pre, key, thr, width, seeding, dedup)
        got = _C.score_kgw(tokens, offsets, pre, key, thr, width, seeding, dedup, True)
        for w, g in zip(want, got):
            assert np.array_equal(w, g)
        n_only = _C.score_kgw(tokens, offsets, pre, key, thr, width, seeding, dedup, False)
        assert np.array_equal(n_only[0], want[0]) and np.array_equal(n_only[1], want[1])
        assert n_only[2] is None and n_only[3] is None


def test_score_many_chunks_and_long_documents(rng):
    # Documents that straddle the kernel's 65536-token chunks, on both threads.
    lengths = [70_000, 3, 130_000, 0, 65_536, 1]
    tokens, offsets = ragged(rng, lengths, 50)
    key = tm.Key(b"k").words
    thr = int(0.25 * 2**32)
    for dedup in (False, True):
        n_s, n_g, green, counted = _C.score_kgw(tokens, offsets, None, key, thr, 2, 0, dedup, True)
        # Per-token flags are checked against the reference on a sample of positions.
        sample = rng.choice(len(tokens), 2000, replace=False)
        sample = sample[np.isin(sample, offsets[:-1] + np.arange(2)[:, None], invert=True)]
        from tokenmark.reference.prf import context_hash

        for i in sample[:300]:
            d = np.searchsorted(offsets, i, side="right") - 1
            if i - offsets[d] < 2:
                assert green[i] == -1
                continue
            ctx = context_hash(tokens[i - 2 : i], 0)
            assert green[i] == int(ref.green_mask(key, ctx, tokens[i], thr))
        # Counts agree with the flags.
        for d in range(len(lengths)):
            lo, hi = offsets[d], offsets[d + 1]
            assert n_s[d] == counted[lo:hi].sum()
            assert n_g[d] == (counted[lo:hi].astype(bool) & (green[lo:hi] == 1)).sum()
        if dedup:
            # 50 tokens and width 2: at most 50^3 distinct pairs per document.
            assert n_s.max() <= 50**3


def test_dispatch_accepts_torch_cpu_tensors(rng):
    import torch

    wm = tm.KGW(key=b"k")
    for dtype in (torch.float32, torch.float16, torch.bfloat16):
        x = torch.randn(3, 1000).to(dtype)
        ids = torch.randint(0, 1000, (3, 8))
        want = x.clone()
        wm.apply_(want, ids, backend="reference")
        wm.apply_(x, ids)
        assert torch.equal(
            x.view(torch.int16 if dtype != torch.float32 else torch.int32),
            want.view(torch.int16 if dtype != torch.float32 else torch.int32),
        )
