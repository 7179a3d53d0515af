"""The CUDA KGW scorer (csrc/cuda/kgw_score.cu and the count scan and dedup table of
doc_scan.cuh) under the host emulation, against the numpy reference: n_scored, n_green, the
green flags and the counted flags bit for bit, with and without dedup (with flags, the slot keeps
the lowest position and a second pass marks it; without, the first claim counts), with and
without prefix lengths (a negative one counts as 0, a huge one scores nothing). The emulated
device has 2 SMs, so the grid-stride loops take many strides and warps span document
boundaries (empty and one-token documents among them)."""

from __future__ import annotations

import ctypes

import numpy as np
import pytest
from tokenmark.reference import kgw as ref

from cuda_emu.cuda_emu_build import ptr

KEY = np.array([0x01234567, 0x89ABCDEF, 0xDEADBEEF, 0x0BADF00D], dtype=np.uint32)


@pytest.fixture(scope="module")
def lib(emu_build):
    return emu_build("kgw_score_emu.cpp")


def emu_score(lib, tokens, offsets, prefix, threshold, width, seeding, dedup, flags):
    n_docs = len(offsets) - 1
    n_scored = np.full(n_docs, -7, dtype=np.int64)
    n_green = np.full(n_docs, -7, dtype=np.int64)
    green = np.full(len(tokens), 9, dtype=np.int8) if flags else None
    counted = np.full(len(tokens), 9, dtype=np.uint8) if flags else None
    rc = lib.emu_score_kgw(
        ptr(tokens), ctypes.c_int64(len(tokens)), ptr(offsets), ctypes.c_int64(n_docs),
        ptr(prefix), ptr(KEY), ctypes.c_uint32(threshold), ctypes.c_int(width),
        ctypes.c_int(seeding), ctypes.c_int(dedup), ptr(n_scored), ptr(n_green), ptr(green),
        ptr(counted),
    )  # fmt: skip
    assert rc == 0, lib.emu_message()
    return n_scored, n_green, green, counted


@pytest.mark.parametrize("dedup", [False, True])
@pytest.mark.parametrize(("width", "seeding"), [(0, 0), (1, 0), (3, 1)])
def test_score_matches_reference(lib, dedup, width, seeding):
    rng = np.random.default_rng(width * 10 + dedup)
    lens = [0, 1, 4, 5, 300, 0, 2, 70, 3000, 9, 1, 1]
    offsets = np.concatenate([[0], np.cumsum(lens)]).astype(np.int64)
    # A small vocabulary makes (context, token) pairs repeat, so dedup matters.
    tokens = rng.integers(0, 7 if dedup else 50000, offsets[-1]).astype(np.int32)
    threshold = int(rng.integers(2**30, 3 * 2**30))
    prefix = rng.integers(0, 8, len(lens)).astype(np.int64)
    prefix[4], prefix[7] = -3, 2**62
    for pre in (None, prefix):
        want = ref.score_kgw(tokens, offsets, pre, KEY, threshold, width, seeding, dedup)
        assert want[1].sum() > 0 and (want[0] > want[1]).any()  # greens and reds
        for flags in (True, False):
            got = emu_score(lib, tokens, offsets, pre, threshold, width, seeding, dedup, flags)
            np.testing.assert_array_equal(got[0], want[0])
            np.testing.assert_array_equal(got[1], want[1])
            if flags:
                np.testing.assert_array_equal(got[2], want[2])
                np.testing.assert_array_equal(got[3], want[3])


@pytest.mark.parametrize("dedup", [False, True])
def test_no_documents_or_no_tokens(lib, dedup):
    tokens = np.zeros(0, dtype=np.int32)
    for offsets in (np.zeros(1, dtype=np.int64), np.zeros(4, dtype=np.int64)):
        got = emu_score(lib, tokens, offsets, None, 2**31, 1, 0, dedup, True)
        np.testing.assert_array_equal(got[0], np.zeros(len(offsets) - 1))
        np.testing.assert_array_equal(got[1], np.zeros(len(offsets) - 1))
