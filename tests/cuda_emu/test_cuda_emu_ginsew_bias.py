"""The CUDA GINSEW embedding (csrc/cuda/ginsew_bias.cu) under the host emulation, against the
numpy reference. Non-finite entries are never written: their bits are compared exactly. The
finite outputs are log-probabilities that the kernel sums in float32 (expf, merged over the
block in a tree) while the reference works in float64, so they are compared at the tolerance of
tests/backends/test_ginsew_backends.py: within 4e-6 (1 + |ref|) for float32 outputs, plus one
rounding of the dtype (2^-10 / 2^-7 relative, 2e-7 absolute) for float16 / bfloat16. A wrong
group, time, offset or mass share moves an output by orders of magnitude more. The emulated
device has 2 SMs (a grid of 16 blocks), so batches past 16 rows take the grid-stride loop."""

from __future__ import annotations

import ctypes

import numpy as np
import pytest
from tokenmark.reference import ginsew as ref

from cuda_emu.cuda_emu_build import DTYPE_CODES, ptr

KEY = np.array([0x01234567, 0x89ABCDEF, 0xDEADBEEF, 0x0BADF00D], dtype=np.uint32)
STORAGE = {"float32": np.float32, "float16": np.float16, "bfloat16": np.uint16}
REL = {"float32": 0.0, "float16": 2.0**-10, "bfloat16": 2.0**-7}


@pytest.fixture(scope="module")
def lib(emu_build):
    return emu_build("ginsew_bias_emu.cpp")


def emu_ginsew(lib, logits, ids, keys, thresholds, eps, freq, enabled, width, position, dtype,
               pad=0):  # fmt: skip
    """Runs the kernel on a copy of ``logits`` with ``pad`` elements between rows; returns the
    rows (stored values) after checking that the padding is untouched."""
    batch, vocab = logits.shape
    rows = np.zeros((batch, vocab + pad), dtype=STORAGE[dtype])
    rows[:, :vocab] = logits
    poison = np.arange(batch * pad).reshape(batch, pad).astype(STORAGE[dtype])
    rows[:, vocab:] = poison
    rc = lib.emu_apply_ginsew(
        ptr(rows), ctypes.c_int64(batch), ctypes.c_int64(vocab), ctypes.c_int64(vocab + pad),
        ctypes.c_int(DTYPE_CODES[dtype]), ptr(ids), ctypes.c_int(ids.dtype == np.int64),
        ctypes.c_int64(ids.shape[1]), ctypes.c_int64(ids.shape[1]), ptr(keys),
        ctypes.c_int64(4 if keys.ndim == 2 else 0), ptr(thresholds),
        ctypes.c_int64(1 if thresholds.size > 1 else 0), ptr(eps),
        ctypes.c_int64(1 if eps.size > 1 else 0), ptr(freq),
        ctypes.c_int64(1 if freq.size > 1 else 0), ptr(enabled), ctypes.c_int(width),
        ctypes.c_int(-1 if position is None else position),
    )  # fmt: skip
    assert rc == 0, lib.emu_message()
    np.testing.assert_array_equal(rows[:, vocab:], poison)  # nothing written past a row
    return rows[:, :vocab].copy()


def to_float64(x: np.ndarray, dtype: str) -> np.ndarray:
    if dtype == "bfloat16":
        return (x.astype(np.uint32) << np.uint32(16)).view(np.float32).astype(np.float64)
    return x.astype(np.float64)


def assert_matches(got, logits, want, dtype):
    """``got`` (stored values) against the reference's float32 ``want``; ``logits`` the input."""
    g, x = to_float64(got, dtype), to_float64(logits, dtype)
    fin = np.isfinite(x)
    np.testing.assert_array_equal(got[~fin].view(np.uint8), logits[~fin].view(np.uint8))
    w = want.astype(np.float64)[fin]
    tol = 4e-6 * (1 + np.abs(w)) + REL[dtype] * np.abs(w) + (REL[dtype] > 0) * 2e-7
    err = np.abs(g[fin] - w)
    assert (err <= tol).all(), f"max excess {(err - tol).max()} at {np.argmax(err - tol)}"


def make_logits(rng, batch: int, vocab: int, dtype: str) -> np.ndarray:
    """Normal logits with -inf, +inf and NaN entries, ties, a row without a finite entry and a
    row with a single finite one."""
    x = (rng.standard_normal((batch, vocab)) * 3).astype(np.float32)
    if batch * vocab:
        flat = x.reshape(-1)
        n = max(1, flat.size // 40)
        flat[rng.integers(flat.size, size=n)] = -np.inf
        flat[rng.integers(flat.size, size=n)] = np.nan
        flat[rng.integers(flat.size, size=max(1, n // 4))] = np.inf
        x[:, min(5, vocab - 1)] = x[:, 0]
    if batch > 2:
        x[2] = -np.inf
    if batch > 4 and vocab > 3:
        x[4] = -np.inf
        x[4, 3] = 1.5
    if dtype == "bfloat16":
        return (x.view(np.uint32) >> 16).astype(np.uint16)  # truncated to bfloat16 bit patterns
    return x.astype(dtype)


# (batch, vocab, dtype, pad, per_row, ids dtype): vocab 1 and not a multiple of the PRF's group
# of 4, rows over several strides of the block (1024 ids a stride), more rows than the grid.
CASES = [
    (1, 1, "float32", 0, False, np.int64),
    (3, 17, "float32", 2, True, np.int32),
    (6, 1019, "float16", 0, True, np.int64),
    (2, 1024, "bfloat16", 5, False, np.int32),
    (5, 5003, "float32", 0, True, np.int64),
    (3, 3001, "bfloat16", 0, True, np.int64),
    (37, 33, "float32", 1, True, np.int32),
    (1, 20000, "float16", 0, False, np.int32),
]


@pytest.mark.parametrize(("batch", "vocab", "dtype", "pad", "per_row", "id_type"), CASES)
def test_matches_reference(lib, batch, vocab, dtype, pad, per_row, id_type):
    rng = np.random.default_rng(vocab * 3 + batch)
    logits = make_logits(rng, batch, vocab, dtype)
    ids = rng.integers(0, 2**31 - 1, (batch, 4)).astype(id_type)
    n = batch if per_row else 1
    keys = rng.integers(0, 2**32, (batch, 4), dtype=np.uint64).astype(np.uint32)
    keys = keys if per_row else KEY
    frac = rng.uniform(0.05, 0.95, n)
    eps = rng.uniform(0, 1, n)
    freq = rng.uniform(1, 40, n)
    if per_row and n > 3:
        frac[0] = 1e-12  # G0 empty (threshold 1 passes only word 0): only normalised
        eps[1] = 0.0  # no perturbation
        frac[3] = 1.0  # G1 nearly empty
    thresholds = ref.fraction_thresholds(frac)
    enabled = None
    if batch > 1:
        enabled = (rng.random(batch) < 0.8).astype(np.uint8)
    # The last `width` ids (width past ids_len: no time), or the one id at `position`.
    for width, position in ((2, None), (1, None), (6, None), (1, 3), (1, 4)):
        want = ref.apply_ginsew(logits, ids, keys, eps, freq, width, frac, enabled=enabled,
                                position=position, dtype=dtype)  # fmt: skip
        got = emu_ginsew(lib, logits, ids, keys, thresholds, eps, freq, enabled, width, position,
                         dtype, pad)  # fmt: skip
        with np.errstate(invalid="ignore", over="ignore"):
            assert_matches(got, logits, want, dtype)


@pytest.mark.parametrize(("batch", "vocab"), [(0, 100), (3, 0), (0, 0)])
def test_empty_batch_or_vocab(lib, batch, vocab):
    logits = np.zeros((batch, vocab), dtype=np.float32)
    ids = np.zeros((batch, 2), dtype=np.int64)
    got = emu_ginsew(lib, logits, ids, KEY, ref.fraction_thresholds(0.5), np.array([0.3]),
                     np.array([16.0]), None, 1, None, "float32", pad=4)  # fmt: skip
    assert got.shape == (batch, vocab)
