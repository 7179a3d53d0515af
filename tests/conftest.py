import os

import numpy as np
import pytest

GOLDEN_HINT = (
    "The golden vectors freeze which tokens are green in text users have ALREADY watermarked: "
    "a change here breaks detection of that text. If the change is deliberate (a new, versioned "
    "PRF), regenerate with `python tests/data/make_golden.py` and say so in the release notes."
)


@pytest.fixture
def rng():
    return np.random.default_rng(1234)


@pytest.fixture(params=["simd", "scalar"])
def simd(request):
    """Runs a test on the C++ kernels' AVX2 paths and again on their scalar paths."""
    from tokenmark import _C

    _C.set_simd_enabled(request.param == "simd")
    yield request.param
    _C.set_simd_enabled(True)


def cuda_available() -> bool:
    try:
        import torch
    except ImportError:
        return False
    return torch.cuda.is_available()


gpu = pytest.mark.skipif(not cuda_available(), reason="no CUDA device")


# Without a GPU the Triton kernels run under the interpreter on CPU tensors. Triton reads the
# switch when a kernel is decorated, so it must be set before anything imports tokenmark.kernels:
# here, before any test module is collected.
if not cuda_available():
    os.environ.setdefault("TRITON_INTERPRET", "1")
