"""The CUDA SGLang-dialect scorer (csrc/cuda/sglang_score.cu) under the host emulation, against
the numpy re-statement of SGLang's detector (``ops.score_sglang`` on the reference backend):
n_scored, n_key_a and the counted flags bit for bit, the five sums to 1e-12, for one and two keys,
context windows of 1 to 5, prompts shorter and longer than the window and their documents, and a
max_contexts that cuts documents short. The emulated device has 2 SMs."""

from __future__ import annotations

import ctypes

import numpy as np
import pytest
from tokenmark import ops

from cuda_emu.cuda_emu_build import ptr

KEYS = np.array([0x0123456789ABCDEF, 2**64 - 3], dtype=np.uint64)


@pytest.fixture(scope="module")
def lib(emu_build):
    return emu_build("sglang_score_emu.cpp")


def emu_score(lib, tokens, offsets, prefix, width, limit, keys, threshold):
    n_docs = len(offsets) - 1
    n_scored = np.full(n_docs, -7, dtype=np.int64)
    n_key_a = np.full(n_docs, -7, dtype=np.int64)
    sums = np.full((n_docs, 5), np.nan)
    counted = np.full(len(tokens), 9, dtype=np.uint8)
    rc = lib.emu_score_sglang(
        ptr(tokens), ctypes.c_int64(len(tokens)), ptr(offsets), ctypes.c_int64(n_docs),
        ptr(prefix), ctypes.c_int(width), ctypes.c_int64(limit), ptr(keys),
        ctypes.c_int(len(keys)), ctypes.c_uint32(threshold), ptr(n_scored), ptr(n_key_a),
        ptr(sums), ptr(counted),
    )  # fmt: skip
    assert rc == 0, lib.emu_message()
    return n_scored, n_key_a, sums, counted


@pytest.mark.parametrize("width", [1, 2, 5])
@pytest.mark.parametrize("n_keys", [1, 2])
@pytest.mark.parametrize("limit", [7, 4096])
def test_score_matches_reference(lib, width, n_keys, limit):
    rng = np.random.default_rng(width * 10 + n_keys + limit)
    lens = [0, 1, 4, 5, 300, 0, 2, 70, 1200, 9]
    offsets = np.concatenate([[0], np.cumsum(lens)]).astype(np.int64)
    tokens = rng.integers(0, 4, offsets[-1]).astype(np.int32)  # contexts repeat
    keys = np.ascontiguousarray(KEYS[:n_keys])
    threshold = int(0.3 * 2**32)
    prefix = rng.integers(0, 8, len(lens)).astype(np.int64)
    prefix[4] = 400  # longer than its document
    for pre in (None, prefix):
        got = emu_score(lib, tokens, offsets, pre, width, limit, keys, threshold)
        clamped = None if pre is None else np.minimum(pre, lens)
        want = ops.score_sglang(
            tokens, offsets, keys=keys, context_width=width, threshold=threshold,
            max_contexts=limit, prefix_lengths=clamped, want_flags=True, backend="reference",
        )  # fmt: skip
        np.testing.assert_array_equal(got[0], want[0])
        np.testing.assert_array_equal(got[1], want[1])
        np.testing.assert_allclose(got[2], want[2], rtol=1e-12, atol=1e-12)
        np.testing.assert_array_equal(got[3], want[3])


def test_short_contexts_are_told_apart_by_length(lib):
    """Prompts shorter than the window make contexts of 1 to width - 1 tokens at the start of
    each document; with two ids, many share their words with the start of a longer context and
    meet them in the table's probe runs: only the length tells them apart."""
    rng = np.random.default_rng(5)
    lens = rng.integers(6, 12, 400)
    offsets = np.concatenate([[0], np.cumsum(lens)]).astype(np.int64)
    tokens = rng.integers(0, 2, offsets[-1]).astype(np.int32)
    prefix = rng.integers(1, 5, len(lens)).astype(np.int64)
    keys = np.ascontiguousarray(KEYS[:1])
    got = emu_score(lib, tokens, offsets, prefix, 5, 4096, keys, 0)
    want = ops.score_sglang(tokens, offsets, keys=keys, context_width=5, prefix_lengths=prefix,
                            want_flags=True, backend="reference")  # fmt: skip
    np.testing.assert_array_equal(got[0], want[0])
    np.testing.assert_array_equal(got[3], want[3])
