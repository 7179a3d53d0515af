"""The CUDA KGW bias (csrc/cuda/kgw_bias.cu) under the host emulation, against the numpy
reference, bit for bit in every dtype: the reference defines the float operation exactly (x +
delta in float32, rounded to nearest even into the logits' dtype; NaN keeps its bits, -inf stays
-inf). Rows aligned to 16 bytes take the vector path, the others and each row's partial last
group the element path; long rows are split into tiles over blocks, and more tiles than the
emulated device's grid (2 SMs) take the grid-stride loop. Padding between rows is never written.
"""

from __future__ import annotations

import ctypes

import numpy as np
import pytest
from tokenmark.reference import kgw as ref

from cuda_emu.cuda_emu_build import DTYPE_CODES, ptr

KEYS = np.array([[0x01234567, 0x89ABCDEF, 0xDEADBEEF, 0x0BADF00D], [3, 5, 7, 9]], dtype=np.uint32)
# NaN bit patterns with payloads, per storage dtype: the kernel must leave them as they are.
NANS = {
    "float32": (0x7FC00001, 0xFFA00003),
    "float16": (0x7E01, 0xFD03),
    "bfloat16": (0x7FC1, 0xFF83),
}
STORAGE = {"float32": np.float32, "float16": np.float16, "bfloat16": np.uint16}


@pytest.fixture(scope="module")
def lib(emu_build):
    return emu_build("kgw_bias_emu.cpp")


def make_logits(rng, batch: int, vocab: int, dtype: str) -> np.ndarray:
    """Normal logits with -inf, +inf, NaNs with payloads and, in float16, values that the bias
    pushes past the largest finite value (they round to infinity)."""
    x = (rng.standard_normal((batch, vocab)) * 3).astype(np.float32)
    if batch * vocab:
        flat = x.reshape(-1)
        n = max(1, flat.size // 50)
        flat[rng.integers(flat.size, size=n)] = -np.inf
        flat[rng.integers(flat.size, size=n)] = np.inf
        flat[rng.integers(flat.size, size=n)] = 65500 if dtype == "float16" else 3e38
    if dtype == "bfloat16":
        out = (x.view(np.uint32) >> 16).astype(np.uint16)  # truncated to bfloat16 bit patterns
    else:
        out = x.astype(dtype)
    if batch * vocab:
        bits = out.reshape(-1).view(np.uint32 if dtype == "float32" else np.uint16)
        for nan in NANS[dtype]:
            bits[rng.integers(bits.size, size=max(1, bits.size // 100))] = nan
    return out


def emu_bias(lib, logits, ids, keys, thresholds, deltas, enabled, width, seeding, dtype, *,
             pad=0, shift=0):  # fmt: skip
    """Runs the kernel on a copy of ``logits`` laid out with ``pad`` elements between rows and
    the first row ``shift`` elements past a 64-byte boundary; returns the rows and the padding
    (as stored bits)."""
    batch, vocab = logits.shape
    stride = vocab + pad
    buf = np.zeros(shift + max(batch * stride, 1) + 64, dtype=STORAGE[dtype])
    start = (-buf.ctypes.data % 64) // buf.itemsize + shift
    rows = buf[start : start + batch * stride].reshape(batch, stride)
    rows[:, :vocab] = logits
    poison = np.arange(rows[:, vocab:].size).reshape(batch, pad).astype(STORAGE[dtype])
    rows[:, vocab:] = poison
    rc = lib.emu_apply_kgw_bias(
        ptr(rows), ctypes.c_int64(batch), ctypes.c_int64(vocab), ctypes.c_int64(stride),
        ctypes.c_int(DTYPE_CODES[dtype]), ptr(ids), ctypes.c_int(ids.dtype == np.int64),
        ctypes.c_int64(ids.shape[1]), ctypes.c_int64(ids.shape[1]), ptr(keys),
        ctypes.c_int64(4 if keys.ndim == 2 else 0), ptr(thresholds),
        ctypes.c_int64(1 if thresholds.size > 1 else 0), ptr(deltas),
        ctypes.c_int64(1 if deltas.size > 1 else 0), ptr(enabled), ctypes.c_int(width),
        ctypes.c_int(seeding),
    )  # fmt: skip
    assert rc == 0, lib.emu_message()
    np.testing.assert_array_equal(rows[:, vocab:], poison)  # nothing written past a row
    return rows[:, :vocab].copy()


def bits(x: np.ndarray) -> np.ndarray:
    return x.view(np.uint32 if x.dtype == np.float32 else np.uint16)


# (batch, vocab, dtype, pad, shift, per_row, ids dtype): vocab 1 and not a multiple of the
# 16-byte group, aligned rows (vector path) and unaligned ones (a shifted start or a stride
# that is no multiple of the group), long rows split into tiles, more tiles than the grid.
CASES = [
    (1, 1, "float32", 0, 0, False, np.int64),
    (3, 17, "float32", 0, 0, True, np.int32),
    (4, 1019, "float16", 0, 0, True, np.int64),
    (2, 1024, "bfloat16", 8, 0, False, np.int32),
    (2, 1024, "bfloat16", 0, 1, True, np.int64),
    (5, 4099, "float32", 1, 0, True, np.int64),
    (3, 2053, "float16", 3, 2, False, np.int32),
    (37, 33, "float32", 3, 0, True, np.int32),
    (1, 150001, "float32", 0, 0, False, np.int64),
    (2, 70000, "float16", 0, 0, True, np.int32),
    (2, 40000, "bfloat16", 0, 3, True, np.int64),
]


@pytest.mark.parametrize(("batch", "vocab", "dtype", "pad", "shift", "per_row", "id_type"), CASES)
def test_bias_matches_reference(lib, batch, vocab, dtype, pad, shift, per_row, id_type):
    rng = np.random.default_rng(vocab * 7 + batch)
    logits = make_logits(rng, batch, vocab, dtype)
    ids = rng.integers(0, 2**31 - 1, (batch, 4)).astype(id_type)
    if batch > 3:
        ids[3] = 7  # a repeated context
    n = batch if per_row else 1
    keys = rng.integers(0, 2**32, (batch, 4), dtype=np.uint64).astype(np.uint32)
    keys = keys if per_row else KEYS[0]
    thresholds = rng.integers(0, 2**32, n, dtype=np.uint64).astype(np.uint32)
    if n > 2:  # row 1 is disabled, row 2 (or more) biases
        thresholds[0] = 0  # nothing green
        thresholds[-1] = 2**32 - 1  # all but the top word green
    deltas = rng.uniform(-2, 8, n).astype(np.float32)
    enabled = None
    if batch > 1:
        enabled = np.ones(batch, dtype=np.uint8)
        enabled[1] = 0
    for width, seeding in ((0, 0), (1, 0), (3, 1), (5, 0)):  # width 5 > ids_len: no context
        want = ref.apply_kgw_bias(logits, ids, keys, thresholds, deltas, enabled, width, seeding,
                                  dtype)  # fmt: skip
        got = emu_bias(lib, logits, ids, keys, thresholds, deltas, enabled, width, seeding, dtype,
                       pad=pad, shift=shift)  # fmt: skip
        np.testing.assert_array_equal(bits(got), bits(want))
        if width < 5 and batch * vocab > 100:
            assert (bits(got) != bits(logits)).any()  # the case biases something


@pytest.mark.parametrize(("batch", "vocab"), [(0, 100), (3, 0), (0, 0)])
def test_empty_batch_or_vocab(lib, batch, vocab):
    logits = np.zeros((batch, vocab), dtype=np.float32)
    ids = np.zeros((batch, 2), dtype=np.int64)
    got = emu_bias(lib, logits, ids, KEYS[0], np.array([2**31], np.uint32),
                   np.array([2.0], np.float32), None, 1, 0, "float32", pad=4)  # fmt: skip
    assert got.shape == (batch, vocab)
