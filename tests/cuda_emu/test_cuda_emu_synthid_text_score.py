"""The CUDA SynthID-Text dialect scorer (csrc/cuda/synthid_text_score.cu) under the host
emulation, against the numpy spec (``tokenmark.reference.synthid_text``): n_scored, the per-layer
counts and the counted flags bit for bit, for n-gram lengths from 1 to 9, history windows shorter
and longer than the documents, the repetition mask on and off, EOS, prompts, power-of-two and
other table sizes, and depths past one warp's ballot. The emulated device has 2 SMs, so blocks
take several documents each."""

from __future__ import annotations

import ctypes

import numpy as np
import pytest
from tokenmark import ops

from cuda_emu.cuda_emu_build import ptr

LCG = np.uint64(6364136223846793005)


@pytest.fixture(scope="module")
def lib(emu_build):
    return emu_build("synthid_text_score_emu.cpp")


def key_terms(keys: np.ndarray) -> np.ndarray:
    with np.errstate(over="ignore"):
        return keys * LCG + np.uint64(1)  # uint64 wrapping, as the op's kernels take them


def emu_score(lib, tokens, offsets, prefix, ngram_len, keys, table, history, mask, eos):
    n_docs, depth = len(offsets) - 1, len(keys)
    n_scored = np.full(n_docs, -7, dtype=np.int64)
    ones = np.full((n_docs, depth), -7, dtype=np.int64)
    counted = np.full(len(tokens), 9, dtype=np.uint8)
    terms = key_terms(keys)
    rc = lib.emu_score_synthid_text(
        ptr(tokens), ctypes.c_int64(len(tokens)), ptr(offsets), ctypes.c_int64(n_docs),
        ptr(prefix), ctypes.c_int(ngram_len), ptr(terms), ctypes.c_int(depth), ptr(table),
        ctypes.c_int64(len(table)), ctypes.c_int64(history), ctypes.c_int(mask),
        ctypes.c_int64(-1 if eos is None else eos), ptr(n_scored), ptr(ones), ptr(counted),
    )  # fmt: skip
    assert rc == 0, lib.emu_message()
    return n_scored, ones, counted


@pytest.mark.parametrize(("ngram_len", "history"), [(1, 0), (2, 3), (5, 1024), (9, 40)])
@pytest.mark.parametrize(("size", "depth"), [(2**10, 30), (1000, 1), (2**16, 40)])
def test_counts_match_the_spec(lib, ngram_len, history, size, depth):
    rng = np.random.default_rng(ngram_len * 100 + depth)
    lens = [0, 1, 4, 5, 300, 0, 2, 70, 400, 9]
    offsets = np.concatenate([[0], np.cumsum(lens)]).astype(np.int64)
    tokens = rng.integers(0, 4, offsets[-1]).astype(np.int32)  # contexts repeat
    keys = rng.integers(0, 2**64, depth, dtype=np.uint64)
    table = rng.integers(0, 2, size).astype(np.uint8)
    prefix = rng.integers(0, 12, len(lens)).astype(np.int64)
    for mask, eos, pre in ((True, 2, prefix), (True, None, None), (False, 2, None)):
        got = emu_score(lib, tokens, offsets, pre, ngram_len, keys, table, history, mask, eos)
        want = ops.score_synthid_text(
            tokens, offsets, keys=keys, table=table, ngram_len=ngram_len,
            context_history_size=history, mask_repeated_contexts=mask, eos_token_id=eos,
            prefix_lengths=pre, want_flags=True, backend="reference",
        )  # fmt: skip
        for a, b in zip(got, want, strict=True):
            np.testing.assert_array_equal(a, b)
