"""The dialects' way in: ``host_batch`` (one check of the batch through ``as_ragged``) gives the
same batch whatever its form, and bad input still gets its clear error."""

from __future__ import annotations

import numpy as np
import pytest
import tokenmark as tm
from tokenmark._inputs import Ragged, as_ragged
from tokenmark.dialects._host import host_batch


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
