"""The CUDA vLLM-dialect scorer (csrc/cuda/vllm_score.cu) under the host emulation, against the
numpy re-statement of vLLM's detector (``tokenmark.reference.score_vllm``): n_scored and the
counted flags bit for bit, the scores to 1e-12, for gumbel and dual-key weights, context widths
within and across Philox's 4-word blocks, with and without dedup, prompts shorter and longer
than their documents. The emulated device has 2 SMs, so warps span document boundaries."""

from __future__ import annotations

import ctypes

import numpy as np
import pytest
from tokenmark.reference import vllm as reference

from cuda_emu.cuda_emu_build import ptr

KEYS = np.array([0x0123456789ABCDEF, 2**64 - 3], dtype=np.uint64)


@pytest.fixture(scope="module")
def lib(emu_build):
    return emu_build("vllm_score_emu.cpp")


def emu_score(lib, tokens, offsets, prefix, width, keys, weights, dedup):
    n_docs = len(offsets) - 1
    n_scored = np.full(n_docs, -7, dtype=np.int64)
    score = np.full(n_docs, np.nan)
    counted = np.full(len(tokens), 9, dtype=np.uint8)
    rc = lib.emu_score_vllm(
        ptr(tokens), ctypes.c_int64(len(tokens)), ptr(offsets), ctypes.c_int64(n_docs),
        ptr(prefix), ctypes.c_int(width), ptr(keys), ptr(weights), ctypes.c_int(len(keys)),
        ctypes.c_int(dedup), ptr(n_scored), ptr(score), ptr(counted),
    )  # fmt: skip
    assert rc == 0, lib.emu_message()
    return n_scored, score, counted


@pytest.mark.parametrize("dedup", [False, True])
@pytest.mark.parametrize("width", [1, 4, 5, 9])
@pytest.mark.parametrize("n_keys", [1, 2])
def test_score_matches_reference(lib, dedup, width, n_keys):
    rng = np.random.default_rng(width * 10 + n_keys + dedup)
    lens = [0, 1, 4, 5, 300, 0, 2, 70, 1500, 9]
    offsets = np.concatenate([[0], np.cumsum(lens)]).astype(np.int64)
    # A small vocabulary makes contexts repeat, so dedup matters.
    tokens = rng.integers(0, 3 if dedup else 50000, offsets[-1]).astype(np.int32)
    keys = np.ascontiguousarray(KEYS[:n_keys])
    weights = np.array([0.75, 0.25][:n_keys]) if n_keys == 2 else np.ones(1)
    prefix = rng.integers(0, 8, len(lens)).astype(np.int64)
    prefix[4] = 400  # longer than its document: nothing scored there
    for pre in (None, prefix):
        got = emu_score(lib, tokens, offsets, pre, width, keys, weights, dedup)
        clamped = np.zeros(len(lens), np.int64) if pre is None else np.minimum(pre, lens)
        want = reference.score_vllm(tokens, offsets, clamped, width, keys, weights, dedup)
        np.testing.assert_array_equal(got[0], want[0])
        np.testing.assert_allclose(got[1], want[1], rtol=1e-12, atol=1e-12)
        np.testing.assert_array_equal(got[2], want[2])
        if dedup:
            assert (got[0] < np.maximum(np.array(lens) - clamped, 0)).any()  # dedup dropped some
