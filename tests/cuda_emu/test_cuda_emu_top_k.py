"""The CUDA top-k candidate kernel (csrc/cuda/top_k.cuh) and the SynthID sampler with top-k on
the device, run under the host emulation, against the numpy reference: the candidate ids bit for
bit with ``reference.synthid.candidates`` (NaN as -inf, -0 tied with +0, equal logits lower id
first), their logits bit for bit, and whole top-k sampling runs' tokens and marks bit for bit
with ``reference.synthid.sample_synthid``."""

from __future__ import annotations

import ctypes

import numpy as np
import pytest
from tokenmark.reference import synthid as ref
from tokenmark.reference.gumbel import logits_f32

from cuda_emu.test_cuda_emu_synthid import DTYPE_CODES, KEYS, emu_sample, ptr


@pytest.fixture(scope="module")
def lib(emu_build):
    return emu_build("synthid_sample_emu.cpp")


def as_dtype(x: np.ndarray, dtype: str) -> np.ndarray:
    """float32 logits in the kernel's input format (bfloat16: the upper 16 bits, truncated)."""
    if dtype == "bfloat16":
        return (np.ascontiguousarray(x, dtype=np.float32).view(np.uint32) >> 16).astype(np.uint16)
    return np.ascontiguousarray(x, dtype=np.float16 if dtype == "float16" else np.float32)


def emu_top_k(lib, logits: np.ndarray, k: int, dtype: str, vocab: int | None = None):
    """(candidate ids, their logits as float32) of the first ``vocab`` columns of each row
    (all by default; the rows' stride is the array's)."""
    batch, stride = logits.shape
    vocab = stride if vocab is None else vocab
    cand = np.full((batch, k), -5, dtype=np.int32)
    values = np.full((batch, k), 123.0, dtype=np.float32)
    rc = lib.emu_top_k(
        ptr(logits), ctypes.c_int64(batch), ctypes.c_int64(vocab), ctypes.c_int64(stride),
        ctypes.c_int(DTYPE_CODES[dtype]), ctypes.c_int64(k), ptr(cand), ptr(values),
    )  # fmt: skip
    assert rc == 0, lib.emu_message()
    return cand, values


def tricky_rows(rng: np.random.Generator, vocab: int) -> np.ndarray:
    """Rows whose k-th largest logit is decided by each of the three radix sweeps, with ties at
    the threshold, -inf, NaN, -0 and +0, and rows with no finite logit."""
    rows = [
        rng.standard_normal(vocab) * 3,  # decided in the first sweep, mostly
        rng.integers(-3, 4, vocab).astype(np.float64),  # few values: ties everywhere
        # One binade, low mantissa bits only: only the third sweep separates them.
        (np.float32(1.5).view(np.uint32) + rng.integers(0, 64, vocab).astype(np.uint32)).view(
            np.float32
        ),
        np.where(rng.random(vocab) < 0.5, 0.0, -0.0) * (rng.random(vocab) < 0.9),
        np.full(vocab, -np.inf),
        np.full(vocab, np.nan),
        np.where(rng.random(vocab) < 0.3, np.nan, np.where(rng.random(vocab) < 0.5, -np.inf, 2.0)),
    ]
    x = np.stack(rows).astype(np.float32)
    x[0, rng.integers(vocab, size=max(1, vocab // 7))] = np.nan
    x[0, rng.integers(vocab, size=3)] = np.inf
    x[3, rng.integers(vocab)] = -0.0
    return x


@pytest.mark.parametrize("dtype", ["float32", "float16", "bfloat16"])
@pytest.mark.parametrize(("vocab", "ks"), [(67, (1, 40, 66)), (3001, (2, 64))])
def test_top_k_is_the_spec(lib, dtype, vocab, ks):
    rng = np.random.default_rng(vocab + len(dtype))
    logits = as_dtype(tricky_rows(rng, vocab), dtype)
    x = np.stack([logits_f32(row, dtype) for row in logits])
    for k in ks:
        cand, values = emu_top_k(lib, logits, k, dtype)
        want = np.stack([ref.candidates(row, k) for row in x]).astype(np.int32)
        np.testing.assert_array_equal(cand, want, err_msg=f"k={k}")
        got_bits, want_bits = values.view(np.uint32), np.take_along_axis(x, want, 1).view(np.uint32)
        finite = ~np.isnan(values)
        np.testing.assert_array_equal(got_bits[finite], want_bits[finite])
        np.testing.assert_array_equal(np.isnan(values), np.isnan(np.take_along_axis(x, want, 1)))


@pytest.mark.parametrize("dtype", ["float32", "bfloat16"])
def test_split_rows_are_the_spec(lib, dtype):
    """Rows of at least two slices of 4096 ids and 4 k are picked in two steps (a block per slice,
    then a block per row among the slices' picks): still the spec, ties across slice bounds
    lowest id first, on strided rows whose columns past ``vocab`` are not read."""
    rng = np.random.default_rng(17)
    vocab, stride = 9001, 9500  # two slices: 4500 and 4501 ids
    x = np.full((7, stride), 1e30, np.float32)
    x[:, :vocab] = tricky_rows(rng, vocab)
    x[1, 4490:4510] = 3.0  # a run of ties across the slice bound, among the largest values
    logits = as_dtype(x, dtype)
    x = np.stack([logits_f32(row, dtype) for row in logits])[:, :vocab]
    for k in (1, 40, 1000, 2250):  # 2250: the slices must hold 4 k, so no split
        cand, values = emu_top_k(lib, logits, k, dtype, vocab=vocab)
        want = np.stack([ref.candidates(row, k) for row in x]).astype(np.int32)
        np.testing.assert_array_equal(cand, want, err_msg=f"k={k}")
        got_bits, want_bits = values.view(np.uint32), np.take_along_axis(x, want, 1).view(np.uint32)
        finite = ~np.isnan(values)
        np.testing.assert_array_equal(got_bits[finite], want_bits[finite])


def test_top_k_block_order_strided_rows_and_rejects(lib):
    rng = np.random.default_rng(3)
    logits = as_dtype(tricky_rows(rng, 700), "float32")
    runs = []
    for seed in (1, 2):
        lib.emu_seed(ctypes.c_uint64(seed))
        runs.append(emu_top_k(lib, logits, 40, "float32")[0])
    np.testing.assert_array_equal(runs[0], runs[1])
    # Rows 700 apart, 500 logits each: the larger logits beyond column 500 are not read.
    wide = logits.copy()
    wide[:, 500:] = 1e30
    cand, _ = emu_top_k(lib, wide, 40, "float32", vocab=500)
    want = np.stack([ref.candidates(row[:500], 40) for row in logits]).astype(np.int32)
    np.testing.assert_array_equal(cand, want)
    cand = np.zeros(8, dtype=np.int32)
    values = np.zeros(8, dtype=np.float32)
    for k in (0, 700, 701):  # 0 < k < vocab, or the launcher refuses
        rc = lib.emu_top_k(
            ptr(logits), ctypes.c_int64(1), ctypes.c_int64(700), ctypes.c_int64(700),
            ctypes.c_int(0), ctypes.c_int64(k), ptr(cand), ptr(values),
        )  # fmt: skip
        assert rc != 0


# (dtype, vocab, top_k, layers): k of 1, 2, 40, 64 and k >= vocab (the whole vocabulary).
SAMPLE_CASES = [
    ("float32", 500, 40, 30),
    ("float16", 2600, 64, 32),
    ("bfloat16", 300, 2, 10),
    ("float32", 120, 1, 7),
    ("float16", 90, 90, 12),
    ("float32", 70, 200, 5),
    ("bfloat16", 8500, 40, 12),  # the top-k pick split over two blocks per row
]


@pytest.mark.parametrize(("dtype", "vocab", "top_k", "layers"), SAMPLE_CASES)
def test_sample_top_k_on_device(lib, dtype, vocab, top_k, layers):
    """Whole top-k sampling runs: tokens and marks bit for bit with the reference, over rows
    that are watermarked, disabled, repeated, NaN-laden, tied and without a finite logit."""
    rng = np.random.default_rng(vocab * 7 + top_k)
    x = tricky_rows(rng, vocab)
    batch = x.shape[0]
    logits = as_dtype(x, dtype)
    width = 2
    ids = rng.integers(0, vocab, (batch, 6)).astype(np.int64)
    ids[2, -4:] = [5, 6, 5, 6]  # a repeated context within the history
    keys = KEYS[rng.integers(len(KEYS), size=batch)]
    uniforms = rng.random(batch)
    enabled = np.ones(batch, dtype=np.uint8)
    enabled[1] = 0
    want = ref.sample_synthid(logits, ids, keys, uniforms, enabled, width, 0, layers, top_k, 4,
                              dtype)  # fmt: skip
    got = emu_sample(lib, logits, ids, keys, uniforms, enabled, width, 0, layers, 4, dtype,
                     top_k=top_k)  # fmt: skip
    np.testing.assert_array_equal(got[0], want[0])
    np.testing.assert_array_equal(got[1], want[1])
    assert want[1][0] == 1 and want[1][1] == 0 and want[0][4] == ref.NO_FINITE_LOGIT
