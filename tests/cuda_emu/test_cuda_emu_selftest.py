"""The emulation itself (tests/cuda_emu/include/tm_emu.h): warp primitives give CUDA's results,
and what hangs or races on a GPU fails or varies here instead of passing silently."""

from __future__ import annotations

import ctypes

import numpy as np
import pytest

from cuda_emu.cuda_emu_build import ptr


@pytest.fixture(scope="module")
def lib(emu_build):
    return emu_build("selftest_emu.cpp")


def test_warp_primitives(lib):
    out = np.full((8, 32), -1, dtype=np.int32)
    assert lib.emu_shuffles(ptr(out)) == 0, lib.emu_message()
    lane = np.arange(32)
    np.testing.assert_array_equal(out[0], np.full(32, 50))
    np.testing.assert_array_equal(out[1], (lane ^ 3) * 10)
    np.testing.assert_array_equal(out[2], np.where(lane + 4 < 32, lane + 4, lane) * 10)
    np.testing.assert_array_equal(out[3], np.where(lane >= 4, lane - 4, lane) * 10)
    # width 8: lanes shuffle within their group of 8; out of the group gives their own value
    np.testing.assert_array_equal(out[4], np.where(lane % 8 + 3 < 8, lane + 3, lane) * 10)
    np.testing.assert_array_equal(out[5], (lane // 8 * 8 + 1) * 10)
    ballot = sum(1 << i for i in range(31) if i % 3 == 0)
    np.testing.assert_array_equal(out[6], np.full(32, ballot))
    np.testing.assert_array_equal(out[7], np.full(32, 1))


def test_divergent_barrier_is_an_error(lib):
    out = np.zeros(32, dtype=np.int32)
    assert lib.emu_divergent_barrier(ptr(out)) != 0
    assert b"divergent __syncthreads" in lib.emu_message()


def test_shuffle_with_exited_lane_is_an_error(lib):
    out = np.zeros(32, dtype=np.int32)
    assert lib.emu_exited_partner(ptr(out)) != 0
    assert b"exited" in lib.emu_message()


def test_missing_barrier_shows_up(lib):
    want = (np.arange(64)[None, :] + 1) % 64 + 1000 * (np.arange(3)[:, None] + 1)
    out = np.zeros((3, 64), dtype=np.int32)
    assert lib.emu_neighbour(ptr(out), 1) == 0, lib.emu_message()
    np.testing.assert_array_equal(out, want)
    # Without the barrier some threads read their neighbour's slot before it was written (the
    # fibers run in a random order and one runs to the end before the next starts).
    wrong = 0
    for seed in range(5):
        lib.emu_seed(ctypes.c_uint64(seed))
        assert lib.emu_neighbour(ptr(out), 0) == 0, lib.emu_message()
        wrong += int((out != want).sum())
    assert wrong > 0
