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


CHUNK = 1 << 16  # kgw_score.cpp's kChunk: pass 1 runs chunk by chunk, on several threads


def chunk_edge_documents(rng):
    """(tokens, offsets, prefix) over 4 chunk edges E, 2E, 3E, 4E. Prefixes keep the scored
    positions near the edges (the reference is a Python loop over them):
    - E: one document scored from E - 300 to E + 300, tokens E-100..E-80 repeated at E+40
      (pairs seen before the edge recur after it: dedup across chunks);
    - 2E: a document starting 2 tokens before the edge (its context-less positions cross it);
    - 3E: a document whose prefix ends 5 tokens after the edge;
    - 4E: a document ending on the edge, an empty one, one starting on it, one of 1 token."""
    e = CHUNK
    spec = [  # (first token, length, prefix length)
        (0, e + 300, e - 300),
        (e + 300, 0, 0),
        (e + 300, e - 302, e - 302 - 200),
        (2 * e - 2, 300, 0),
        (2 * e + 298, e - 200, e - 293),  # scored from 3E + 5
        (3 * e + 98, e - 98, e - 98 - 300),
        (4 * e, 0, 0),
        (4 * e, 250, 0),
        (4 * e + 250, 1, 0),
    ]
    for (s0, n0, _), (s1, _, _) in zip(spec, spec[1:]):
        assert s0 + n0 == s1
    lengths = np.array([n for _, n, _ in spec])
    offsets = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
    tokens = rng.integers(0, 50, int(offsets[-1])).astype(np.int32)
    tokens[e - 300 : e + 300] = rng.integers(0, 6, 600)  # a small vocabulary: natural repeats
    tokens[e + 40 : e + 60] = tokens[e - 100 : e - 80]
    return tokens, offsets, np.array([p for _, _, p in spec], np.int64)


@pytest.mark.parametrize("width,seeding", [(0, 0), (2, 0), (4, 1)])
def test_score_across_chunk_edges_matches_reference(simd, rng, width, seeding):
    """Every flag and count against the reference, bit for bit, on documents placed around the
    kernel's chunk edges (dedup on and off, with and without per-token flags)."""
    tokens, offsets, prefix = chunk_edge_documents(rng)
    key = tm.Key(b"k").words
    thr = int(0.25 * 2**32)
    for dedup in (False, True):
        want = ref.score_kgw(tokens, offsets, prefix, key, thr, width, seeding, dedup)
        got = _C.score_kgw(tokens, offsets, prefix, key, thr, width, seeding, dedup, True)
        for w, g in zip(want, got):
            np.testing.assert_array_equal(g, w)
        n_only = _C.score_kgw(tokens, offsets, prefix, key, thr, width, seeding, dedup, False)
        np.testing.assert_array_equal(n_only[0], want[0])
        np.testing.assert_array_equal(n_only[1], want[1])
    # The layout does what it says: scored tokens in the first 8 of each chunk after the first,
    # and pairs first seen before the edge E dropped after it.
    green, counted = want[2], want[3]
    for c in range(1, 5):
        assert (green[c * CHUNK : c * CHUNK + 8] >= 0).any(), c
    after = slice(CHUNK + 40 + width, CHUNK + 60)
    assert (green[after] >= 0).all() and not counted[after].any()


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
