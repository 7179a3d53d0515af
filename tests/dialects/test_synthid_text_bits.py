"""SynthID-Text's layer bits (tm.ops.synthid_text_layer_bits): the C++ detector's counts with
them equal the numpy spec's and the per-layer look-ups', on the AVX2 and the scalar paths, for
depths across the 32-bit word boundaries, tables from 1 to 2^18 entries, documents longer than
the 255 positions a byte counter holds, repeated contexts inside and outside the history window,
prompts and EOS; keys or tables that do not fit get an inactive object and the same counts; bits
made from other keys or another table are refused."""

from __future__ import annotations

import numpy as np
import pytest
import tokenmark as tm
from tokenmark import ops


def _docs(rng, lengths, vocab):
    tokens = rng.integers(0, vocab, int(np.sum(lengths))).astype(np.int32)
    offsets = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
    return tokens, offsets


def _all_three(tokens, offsets, keys, table, bits, **kw):
    """(with layer bits, with the look-ups, the numpy spec), each (n_scored, ones, counted)."""
    kw = dict(keys=keys, table=table, want_flags=True, **kw)
    fast = ops.score_synthid_text(tokens, offsets, layer_bits=bits, backend="cpu", **kw)
    slow = ops.score_synthid_text(tokens, offsets, backend="cpu", **kw)
    spec = ops.score_synthid_text(tokens, offsets, backend="reference", **kw)
    return fast, slow, spec


@pytest.mark.parametrize("depth", [1, 9, 31, 32, 33, 64])
def test_layer_bit_counts_equal_the_spec(simd, rng, depth):
    lengths = [0, 3, 40, 300, 1000, 2600]  # past 255 and 2 x 255 kept positions
    for size in (1, 2, 64, 2**16, 2**18):
        keys = rng.integers(0, 2**64, depth, dtype=np.uint64)
        table = rng.integers(0, 2, size).astype(np.uint8)
        bits = ops.synthid_text_layer_bits(keys, table)
        assert bits.active and bits.nbytes == size * 4 * ((depth + 31) // 32)
        for vocab, n, hist, eos in ((7, 3, 4, 2), (32000, 5, 1024, None), (50, 1, 0, 3)):
            tokens, offsets = _docs(rng, lengths, vocab)
            prefix = rng.integers(0, 6, len(lengths)).astype(np.int64)
            for mask in (True, False):
                got = _all_three(
                    tokens, offsets, keys, table, bits, ngram_len=n, context_history_size=hist,
                    mask_repeated_contexts=mask, eos_token_id=eos, prefix_lengths=prefix,
                )  # fmt: skip
                for a, b, c in zip(*got, strict=True):
                    np.testing.assert_array_equal(a, c)
                    np.testing.assert_array_equal(b, c)


@pytest.mark.parametrize("ngram_len", [6, 9, 33, 200])
def test_long_ngrams_roll_the_context_hash(rng, ngram_len):
    """The C++ detector rolls each context hash on by one position (their hash is affine in the
    context's tokens) instead of hashing ngram_len - 1 tokens: long n-grams, documents shorter
    than, as long as and longer than one, ids up to 2^31 - 1 (the sign bit of int32 clear) and
    repeated contexts, against the numpy spec."""
    keys = rng.integers(0, 2**64, 12, dtype=np.uint64)
    table = rng.integers(0, 2, 2**10).astype(np.uint8)
    bits = ops.synthid_text_layer_bits(keys, table)
    lengths = [ngram_len - 2, ngram_len - 1, ngram_len, ngram_len + 1, 3 * ngram_len + 50]
    tokens, offsets = _docs(rng, lengths, 6)  # 6 ids: contexts repeat within the history
    tokens[::7] = 2**31 - 1 - rng.integers(0, 3, len(tokens[::7]))
    for hist in (0, 5, 1024):
        got = _all_three(
            tokens, offsets, keys, table, bits, ngram_len=ngram_len, context_history_size=hist,
            eos_token_id=None, prefix_lengths=np.array([0, 1, 3, 0, 7], np.int64),
        )  # fmt: skip
        for a, b, c in zip(*got, strict=True):
            np.testing.assert_array_equal(a, c)
            np.testing.assert_array_equal(b, c)


def test_full_tables_fill_the_byte_counters(simd, rng):
    """An all-ones table: every layer's count is the number of scored positions (thousands per
    document), which a byte counter emptied too late would wrap; all zeros: none."""
    keys = rng.integers(0, 2**64, 40, dtype=np.uint64)
    tokens, offsets = _docs(rng, [5000, 256, 255, 254, 1], 32000)
    for fill in (0, 1):
        table = np.full(2**10, fill, np.uint8)
        bits = ops.synthid_text_layer_bits(keys, table)
        n, ones, _ = ops.score_synthid_text(
            tokens, offsets, keys=keys, table=table, ngram_len=2, layer_bits=bits,
            mask_repeated_contexts=False,
        )  # fmt: skip
        np.testing.assert_array_equal(n, [4999, 255, 254, 253, 0])
        np.testing.assert_array_equal(ones, fill * n[:, None] * np.ones((1, 40), np.int64))


def test_keys_and_tables_that_do_not_fit_run_the_look_ups(rng):
    tokens, offsets = _docs(rng, [700, 20], 100)
    cases = [
        (65, rng.integers(0, 2, 2**10).astype(np.uint8)),  # more than 64 layers
        (5, rng.integers(0, 2, 1000).astype(np.uint8)),  # not a power of 2: floor modulo
        (5, rng.integers(0, 2, 2**19).astype(np.uint8)),  # over 2^18 entries
        (5, rng.integers(0, 3, 2**10).astype(np.uint8)),  # a 2 in the table
    ]
    for depth, table in cases:
        keys = rng.integers(0, 2**64, depth, dtype=np.uint64)
        bits = ops.synthid_text_layer_bits(keys, table)
        assert not bits.active and bits.nbytes == 0
        got = _all_three(tokens, offsets, keys, table, bits, ngram_len=3)
        for a, b, c in zip(*got, strict=True):
            np.testing.assert_array_equal(a, c)
            np.testing.assert_array_equal(b, c)


def test_bits_of_other_keys_or_tables_are_refused(rng):
    keys = np.array([3, 2**64 - 1, 12345], np.uint64)
    table = rng.integers(0, 2, 2**8).astype(np.uint8)
    bits = ops.synthid_text_layer_bits(keys, table)
    text = repr(bits)
    assert "SynthidTextLayerBits(depth=3" in text and "12345" not in text and "1844" not in text
    tokens, offsets = _docs(rng, [30], 50)
    other_table = table.copy()
    other_table[7] ^= 1
    for k, t in ((keys[::-1].copy(), table), (keys[:2].copy(), table), (keys, other_table),
                 (keys, table[:128].copy())):  # fmt: skip
        with pytest.raises(ValueError, match="layer_bits: made from other keys or another table"):
            ops.score_synthid_text(tokens, offsets, keys=k, table=t, ngram_len=2, layer_bits=bits)
    with pytest.raises(TypeError):
        ops.score_synthid_text(tokens, offsets, keys=keys, table=table, ngram_len=2,
                               layer_bits="bits")  # fmt: skip


def test_scheme_detect_uses_its_layer_bits(rng):
    wm = tm.dialects.synthid_text(keys=list(range(1, 31)), ngram_len=5, eos_token_id=2)
    assert wm.layer_bits.active and wm.layer_bits is wm.layer_bits  # built once
    assert not wm.sampling_table.flags.writeable
    docs = rng.integers(0, 40, size=(6, 900))  # a small vocabulary: repeated contexts
    a = wm.detect(docs)
    b = wm.detect(docs, backend="reference")
    np.testing.assert_array_equal(a.ones, b.ones)
    np.testing.assert_array_equal(a.n_scored, b.n_scored)
    np.testing.assert_array_equal(a.p_value, b.p_value)


def test_schemes_and_bits_pickle(rng):
    """A scheme that has built its layer bits still pickles (for process pools and Ray): the bits
    pickle as their keys and table and are rebuilt, with the same counts."""
    import copy
    import pickle

    wm = tm.dialects.synthid_text(keys=list(range(5, 35)), ngram_len=4)
    docs = rng.integers(0, 500, size=(3, 300))
    want = wm.detect(docs)
    for other in (pickle.loads(pickle.dumps(wm)), copy.deepcopy(wm)):
        assert other.layer_bits.active
        np.testing.assert_array_equal(other.detect(docs).ones, want.ones)
    bits = pickle.loads(pickle.dumps(wm.layer_bits))
    tokens, offsets = docs.ravel().astype(np.int32), np.array([0, 300, 600, 900])
    got = ops.score_synthid_text(tokens, offsets, keys=wm._key_words, table=wm.sampling_table,
                                 ngram_len=4, layer_bits=bits)  # fmt: skip
    np.testing.assert_array_equal(got[1], want.ones)


def test_numpy_uint64_spellings_are_one_dtype():
    """numpy's ulonglong and uint64 are distinct dtype objects that compare equal; the bindings
    take both (they were refused with 'expected dtype uint64, got uint64')."""
    table = np.array([0, 1, 1, 0], np.uint8)
    a = ops.synthid_text_g_values(np.array([7], np.uint64), keys=np.array([3], np.ulonglong),
                                  table=table)  # fmt: skip
    b = ops.synthid_text_g_values(np.array([7], np.uint64), keys=np.array([3], np.uint64),
                                  table=table)  # fmt: skip
    np.testing.assert_array_equal(a, b)


def test_an_eos_id_past_int32_never_matches():
    """The C++ detector compares int32 token ids with the EOS id: one past 2^31 - 1 (which the
    op refuses, the binding takes) matches no token, not its low 32 bits."""
    from tokenmark import _C

    tokens, offsets = np.array([1, 2, 5, 3, 4, 6, 7, 8], np.int32), np.array([0, 8])
    keys, table = np.array([3, 4], np.uint64), np.array([0, 1, 1, 0], np.uint8)
    n = [_C.score_synthid_text(tokens, offsets, None, 2, keys, table, 10, True, eos, False)[0]
         for eos in (2**32 + 5, -1, 5)]  # fmt: skip
    assert [int(x[0]) for x in n] == [7, 7, 1]
