"""What the Triton test files share: whether the kernels run under the Triton interpreter
(conftest.py sets TRITON_INTERPRET=1 without a GPU), the device their tensors live on, and the
mark of the tests that need the compiled kernels. Import it after
``pytest.importorskip("triton")``."""

from __future__ import annotations

import pytest
from conftest import cuda_available
from tokenmark.backends.triton import _common as triton_common
from tokenmark.kernels import prf as tprf

INTERPRETING = triton_common.is_interpreted(tprf.philox4x32_10)
DEVICE = "cpu" if INTERPRETING or not cuda_available() else "cuda"


def gpu_test(fn):
    """A test of the compiled kernels on a GPU."""
    for mark in (
        pytest.mark.gpu,
        pytest.mark.skipif(not cuda_available(), reason="no CUDA device"),
        pytest.mark.skipif(INTERPRETING, reason="TRITON_INTERPRET=1: the compiled kernels are off"),
    ):
        fn = mark(fn)
    return fn
