"""The CUDA Gumbel scorer (csrc/cuda/gumbel_score.cu and doc_scan.cuh's term scan and dedup
table) under the host emulation, against the numpy reference: n_scored and the counted flags bit
for bit, the scores to 1e-12 (CUDA's log and the host's may differ in an ulp), with and without
dedup, one salt or one per document. The emulated device has 2 SMs, so warps span documents."""

from __future__ import annotations

import ctypes

import numpy as np
import pytest
from tokenmark import ops

from cuda_emu.cuda_emu_build import ptr

KEY = np.array([0x01234567, 0x89ABCDEF, 0xDEADBEEF, 0x0BADF00D], dtype=np.uint32)


@pytest.fixture(scope="module")
def lib(emu_build):
    return emu_build("gumbel_score_emu.cpp")


@pytest.mark.parametrize("dedup", [False, True])
@pytest.mark.parametrize(("width", "seeding"), [(0, 0), (1, 0), (3, 1)])
@pytest.mark.parametrize("per_doc_salt", [False, True])
def test_score_matches_reference(lib, dedup, width, seeding, per_doc_salt):
    rng = np.random.default_rng(width * 10 + dedup + 2 * per_doc_salt)
    lens = [0, 1, 4, 5, 300, 0, 2, 70, 2000, 9]
    offsets = np.concatenate([[0], np.cumsum(lens)]).astype(np.int64)
    # A small vocabulary makes (context, token) pairs repeat, so dedup matters.
    tokens = rng.integers(0, 7 if dedup else 50000, offsets[-1]).astype(np.int32)
    salts = rng.integers(0, 2**32, len(lens) if per_doc_salt else 1, dtype=np.uint64)
    salts = salts.astype(np.uint32)
    prefix = rng.integers(0, 8, len(lens)).astype(np.int64)
    for pre in (None, prefix):
        n_scored = np.full(len(lens), -7, dtype=np.int64)
        score = np.full(len(lens), np.nan)
        counted = np.full(len(tokens), 9, dtype=np.uint8)
        rc = lib.emu_score_gumbel(
            ptr(tokens), ctypes.c_int64(len(tokens)), ptr(offsets), ctypes.c_int64(len(lens)),
            ptr(pre), ptr(KEY), ptr(salts), ctypes.c_int64(1 if per_doc_salt else 0),
            ctypes.c_int(width), ctypes.c_int(seeding), ctypes.c_int(dedup), ptr(n_scored),
            ptr(score), ptr(counted),
        )  # fmt: skip
        assert rc == 0, lib.emu_message()
        want = ops.score_gumbel(
            tokens, offsets, key=KEY, salts=salts if per_doc_salt else int(salts[0]),
            context_width=width, seeding=seeding, dedup=dedup, prefix_lengths=pre,
            want_flags=True, backend="reference",
        )  # fmt: skip
        np.testing.assert_array_equal(n_scored, want[0])
        np.testing.assert_allclose(score, want[1], rtol=1e-12)
        np.testing.assert_array_equal(counted, want[2])
