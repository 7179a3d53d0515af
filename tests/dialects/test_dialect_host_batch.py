"""The dialects' way in: ``host_batch`` (one check of the batch, a one-pass C++ narrowing of 2-D
int64/int32 arrays) gives what ``as_ragged`` gives, and bad input still gets its clear error."""

from __future__ import annotations

import numpy as np
import pytest
import tokenmark as tm
from tokenmark import _C
from tokenmark._inputs import Ragged, as_ragged
from tokenmark.dialects._host import host_batch


@pytest.mark.parametrize("dtype", [np.int64, np.int32])
@pytest.mark.parametrize("shape", [(0, 5), (3, 0), (1, 1), (37, 17)])
def test_flat_id_rows_equals_as_ragged(dtype, shape):
    rng = np.random.default_rng(sum(shape))
    x = rng.integers(0, 2**31, size=shape).astype(dtype)
    tokens, offsets = _C.flat_id_rows(x)
    want = as_ragged(x)
    assert tokens.dtype == np.int32 and offsets.dtype == np.int64
    np.testing.assert_array_equal(tokens, want.tokens)
    np.testing.assert_array_equal(offsets, want.offsets)


def test_flat_id_rows_declines_what_it_does_not_take():
    x = np.arange(12, dtype=np.int64).reshape(3, 4)
    for bad in (-1, 2**31, 2**40, -(2**62)):  # out of range: None, the caller names the id
        y = x.copy()
        y[2, 1] = bad
        assert _C.flat_id_rows(y) is None
    assert _C.flat_id_rows(x.astype(np.int32) - 5) is None  # negative int32
    assert _C.flat_id_rows(np.full((2, 2), 2**31 - 1, np.int64)) is not None  # the top id
    for other in (x.astype(np.uint64), x.astype(np.int16), x.astype(np.float64), x[:, ::2],
                  x.T, x.reshape(-1)):  # fmt: skip
        assert _C.flat_id_rows(other) is None


def test_host_batch_same_batch_whatever_the_form():
    rng = np.random.default_rng(3)
    x = rng.integers(0, 1000, size=(5, 9))
    want_t, want_o = as_ragged(x).tokens, as_ragged(x).offsets
    forms = [x, x.astype(np.int32), x.astype(np.uint16), x.tolist(), list(x), np.asfortranarray(x),
             Ragged(want_t, want_o)]  # fmt: skip
    for form in forms:
        tokens, offsets, prefix = host_batch(form, prefix_lengths=[0, 3, 9, 20, 1])
        np.testing.assert_array_equal(tokens, want_t)
        np.testing.assert_array_equal(offsets, want_o)
        assert prefix.tolist() == [0, 3, 9, 9, 1]  # clamped to each document's length
        assert tokens.flags.c_contiguous and tokens.dtype == np.int32


@pytest.mark.parametrize(
    "wm",
    [tm.dialects.sglang("abc", 3), tm.dialects.vllm(key=5), tm.dialects.synthid_text(keys=[1, 2])],
)
def test_bad_ids_still_named(wm):
    x = np.arange(20, dtype=np.int64).reshape(2, 10)
    x[1, 3] = -4
    with pytest.raises(ValueError, match="token ids must be >= 0"):
        wm.detect(x)
    x[1, 3] = 2**33
    with pytest.raises(ValueError, match="token ids must be < 2"):
        wm.detect(x)
    with pytest.raises(TypeError, match="integers"):
        wm.detect(np.zeros((2, 3)) + 0.5)
    with pytest.raises(ValueError, match="prefix_lengths"):
        wm.detect(np.zeros((2, 3), np.int64), prefix_lengths=[-1, 0])
