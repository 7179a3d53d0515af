"""The public operations' host-side argument handling for the Triton backend (the same helpers
serve CUDA): what the host path takes, the GPU path takes too, or refuses as the host path does.
Expected values come from the ``cpu`` backend on host arrays."""

import numpy as np
import pytest

triton = pytest.importorskip("triton", reason="triton is not installed")
import tokenmark as tm  # noqa: E402
from triton_helpers import INTERPRETING  # noqa: E402

KEY = tm.Key(b"ops args")
BIAS = dict(thresholds=2**31, deltas=2.0, context_width=1, seeding=0)
interpreted = pytest.mark.skipif(not INTERPRETING, reason="host arrays go to Triton only "
                                 "under the interpreter")  # fmt: skip


def _ids(batch: int = 2) -> np.ndarray:
    return np.arange(4 * batch, dtype=np.int64).reshape(batch, 4) % 7


@interpreted
@pytest.mark.parametrize("op", ["kgw", "ginsew"])
def test_in_place_ops_refuse_a_read_only_array(op):
    """Under the interpreter a host array goes to Triton as a tensor sharing its memory: a
    read-only one must be refused as cpu and reference refuse it, not written."""

    def call(logits, backend):
        if op == "kgw":
            return tm.apply_kgw_bias_(logits, _ids(), keys=KEY.words, **BIAS, backend=backend)
        return tm.apply_ginsew_(logits, _ids(), keys=KEY.words, epsilon=0.5, frequency=1.0,
                                context_width=1, backend=backend)  # fmt: skip

    rng = np.random.default_rng(0)
    base = rng.normal(size=(2, 11)).astype(np.float32)
    got, want = call(base.copy(), "triton"), call(base.copy(), "cpu")
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-6)  # the valid call runs
    ro = base.copy()
    ro.flags.writeable = False
    for backend in ("cpu", "triton"):
        with pytest.raises(ValueError, match="logits: must be writeable"):
            call(ro, backend)
    assert np.array_equal(ro, base)
