"""The emulation itself (tests/cuda_emu/include/tm_emu.h): warp primitives give CUDA's results,
what hangs or races on a GPU fails or varies here instead of passing silently, and the float to
float16 / bfloat16 narrowings round to nearest even as the device does."""

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


def test_narrowing_rounds_to_nearest_even(lib):
    """__float2half_rn and __float2bfloat16_rn against numpy's float16 cast and an integer
    rounding of the bits, on every float16 value, its float32 neighbours and the midpoints
    between consecutive float16 values (ties, subnormals, overflow to infinity), plus random
    float32 values over the whole exponent range."""
    halves = np.arange(0x10000, dtype=np.uint32).astype(np.uint16).view(np.float16)
    base = halves[np.isfinite(halves)].astype(np.float32)
    up, down = np.nextafter(base, np.float32(np.inf)), np.nextafter(base, np.float32(-np.inf))
    ordered = np.unique(base.astype(np.float64))
    mids = ((ordered[1:] + ordered[:-1]) / 2).astype(np.float32)  # exact in float32
    rng = np.random.default_rng(3)
    wide = rng.integers(0, 2**32, 20000, dtype=np.uint64).astype(np.uint32).view(np.float32)
    edges = np.array([np.inf, -np.inf, 65520, 65519.996], dtype=np.float32)
    x = np.concatenate([base, up, down, mids, -mids, wide, edges])
    half = np.zeros(len(x), dtype=np.uint16)
    bf16 = np.zeros(len(x), dtype=np.uint16)
    lib.emu_narrow(ptr(x), ctypes.c_int64(len(x)), ptr(half), ptr(bf16))
    nan = np.isnan(x)
    with np.errstate(over="ignore"):
        want_half = x.astype(np.float16).view(np.uint16)
    np.testing.assert_array_equal(half[~nan], want_half[~nan])
    with np.errstate(invalid="ignore"):  # the next bfloat16 up from the largest is a NaN
        np.testing.assert_array_equal(bf16[~nan], nearest_bf16(x[~nan]))
    assert nan.any() and (half[nan] == 0x7FFF).all() and (bf16[nan] == 0x7FFF).all()


def nearest_bf16(x: np.ndarray) -> np.ndarray:
    """The bfloat16 bits nearest to float32 ``x`` (not NaN), ties to the even one: of the
    truncation and the next bfloat16 up in magnitude (2^128 past the largest, which rounds to
    infinity), the one closer in float64."""
    lo = x.view(np.uint32) >> np.uint32(16)
    hi = lo + np.uint32(1)
    lo_val = (lo << np.uint32(16)).view(np.float32).astype(np.float64)
    hi_val = (hi << np.uint32(16)).view(np.float32).astype(np.float64)
    past_max = (hi & np.uint32(0x7FFF)) == 0x7F80
    hi_val = np.where(past_max, np.copysign(2.0**128, lo_val), hi_val)
    d_lo, d_hi = np.abs(x - lo_val), np.abs(hi_val - x)
    take_hi = (d_hi < d_lo) | ((d_hi == d_lo) & (lo % 2 == 1))
    return np.where(take_hi & ~np.isinf(x), hi, lo).astype(np.uint16)
