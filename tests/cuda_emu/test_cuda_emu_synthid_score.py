"""The CUDA SynthID-Text scorer (csrc/cuda/synthid_score.cu and the ragged scan and dedup table
of doc_scan.cuh) under the host emulation, against the numpy reference: n_scored, the per-layer
counts of g = 1 and the counted flags, bit for bit, with and without dedup. The emulated device
has 2 SMs, so the grid-stride loops take many strides and warps span document boundaries."""

from __future__ import annotations

import ctypes

import numpy as np
import pytest
from tokenmark.reference import synthid as ref

from cuda_emu.cuda_emu_build import ptr

KEY = np.array([0x01234567, 0x89ABCDEF, 0xDEADBEEF, 0x0BADF00D], dtype=np.uint32)


@pytest.fixture(scope="module")
def lib(emu_build):
    return emu_build("synthid_score_emu.cpp")


@pytest.mark.parametrize("dedup", [False, True])
@pytest.mark.parametrize(("width", "seeding", "layers"), [(0, 0, 30), (1, 0, 1), (3, 1, 32)])
def test_score_matches_reference(lib, dedup, width, seeding, layers):
    rng = np.random.default_rng(width * 10 + layers + dedup)
    lens = [0, 1, 4, 5, 300, 0, 2, 70, 3000, 9]
    offsets = np.concatenate([[0], np.cumsum(lens)]).astype(np.int64)
    # A small vocabulary makes (context, token) pairs repeat, so dedup matters.
    tokens = rng.integers(0, 7 if dedup else 50000, offsets[-1]).astype(np.int32)
    prefix = rng.integers(0, 8, len(lens)).astype(np.int64)
    for pre in (None, prefix):
        n_scored = np.full(len(lens), -7, dtype=np.int64)
        ones = np.full((len(lens), layers), -7, dtype=np.int64)
        counted = np.full(len(tokens), 9, dtype=np.uint8)
        rc = lib.emu_score_synthid(
            ptr(tokens), ctypes.c_int64(len(tokens)), ptr(offsets), ctypes.c_int64(len(lens)),
            ptr(pre), ptr(KEY), ctypes.c_int(width), ctypes.c_int(seeding), ctypes.c_int(dedup),
            ctypes.c_int(layers), ptr(n_scored), ptr(ones), ptr(counted),
        )  # fmt: skip
        assert rc == 0, lib.emu_message()
        want = ref.score_synthid(tokens, offsets, pre, KEY, width, seeding, layers, dedup)
        np.testing.assert_array_equal(n_scored, want[0])
        np.testing.assert_array_equal(ones, want[1])
        np.testing.assert_array_equal(counted, want[2])
