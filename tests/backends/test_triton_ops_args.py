"""The public operations' host-side argument handling for the Triton backend (the same helpers
serve CUDA): what the host path takes, the GPU path takes too, or refuses as the host path does.
Expected values come from the ``cpu`` backend on host arrays."""

import numpy as np
import pytest
import torch

triton = pytest.importorskip("triton", reason="triton is not installed")
import tokenmark as tm  # noqa: E402
from triton_helpers import DEVICE, INTERPRETING  # noqa: E402

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


def test_kgw_thresholds_zero_is_refused_by_every_backend():
    logits = np.zeros((2, 11), np.float32)
    for backend in ("cpu", "reference"):
        with pytest.raises(ValueError, match="thresholds: must be > 0"):
            tm.apply_kgw_bias_(logits, _ids(), keys=KEY.words, **{**BIAS, "thresholds": 0},
                               backend=backend)  # fmt: skip
        with pytest.raises(ValueError, match="thresholds: must be > 0"):
            tm.apply_kgw_bias_(logits, _ids(), keys=KEY.words, **{**BIAS, "thresholds": [5, 0]},
                               backend=backend)  # fmt: skip
    assert not logits.any()


def _corpus():
    docs = [[3, 1, 4, 1, 5, 9, 2, 6], [5, 3], [8, 9, 7, 9, 3, 2, 3, 8, 4]]
    tokens = np.concatenate(docs).astype(np.int32)
    offsets = np.cumsum([0, *map(len, docs)]).astype(np.int64)
    return tokens, offsets


@pytest.mark.parametrize("prefix", [3, np.int64(3), np.array(3)])
def test_scalar_prefix_lengths_on_the_gpu_path(prefix):
    tokens, offsets = _corpus()
    kw = dict(key=KEY.words, threshold=2**31, context_width=1, seeding=0, prefix_lengths=prefix)
    want = tm.score_kgw(tokens, offsets, **kw, backend="cpu")
    tok = torch.from_numpy(tokens).to(DEVICE)
    got = tm.score_kgw(tok, torch.from_numpy(offsets).to(DEVICE), **kw, backend="triton")
    assert got[0].tolist() == want[0].tolist() == [5, 0, 6]
    assert got[1].tolist() == want[1].tolist()
    bad = {**kw, "prefix_lengths": torch.tensor([1, 2], device=DEVICE)}
    with pytest.raises(ValueError, match="prefix_lengths: expected"):
        tm.score_kgw(tok, torch.from_numpy(offsets).to(DEVICE), **bad, backend="triton")


def _synthid(logits, uniforms, backend, keys=KEY.words):
    return tm.sample_synthid(logits, _ids(), keys=keys, uniforms=uniforms, context_width=1,
                             seeding=0, layers=4, backend=backend)  # fmt: skip


def test_sample_synthid_checks_uniforms_on_the_gpu_path():
    logits = np.random.default_rng(1).normal(size=(2, 13)).astype(np.float32)
    t = torch.from_numpy(logits).to(DEVICE)
    want = _synthid(logits, [0.25, 0.75], "cpu")[0]
    assert _synthid(t, [0.25, 0.75], "triton")[0].tolist() == want.tolist()
    for bad, exc, match in [
        ("ab", TypeError, "uniforms: expected"),
        ([[0.25, 0.75]], ValueError, r"uniforms: expected shape \[2\]"),
        ([0.25, 1.0], ValueError, r"uniforms: must be in \[0, 1\)"),
        (torch.tensor([[0.25, 0.75]], dtype=torch.float64, device=DEVICE), ValueError,
         r"uniforms: expected shape \[2\]"),
    ]:  # fmt: skip
        with pytest.raises(exc, match=match):
            _synthid(logits, bad, "cpu")
        with pytest.raises(exc, match=match):
            _synthid(t, bad, "triton")


def test_device_tensor_keys_of_shape_4_or_uint32():
    """The docstrings' ``keys : uint32 [4] or [batch, 4]`` holds for a tensor on the device too:
    ``[4]`` is one row for every row, uint32 travels as its int32 bits."""
    logits = np.random.default_rng(2).normal(size=(2, 13)).astype(np.float32)
    t = torch.from_numpy(logits).to(DEVICE)
    words = np.array(KEY.words, np.uint32)
    want_bias = tm.apply_kgw_bias_(logits.copy(), _ids(), keys=words, **BIAS, backend="cpu")
    want_synthid = _synthid(logits, [0.5, 0.5], "cpu")[0].tolist()
    forms = {
        "int32 [4]": torch.from_numpy(words.view(np.int32)),
        "uint32 [4]": torch.from_numpy(words.copy()),
        "uint32 [1, 4]": torch.from_numpy(words[None].copy()),
        "uint32 [2, 4]": torch.from_numpy(np.stack([words, words])),
    }
    for name, k in forms.items():
        k = k.to(DEVICE)
        got = tm.apply_kgw_bias_(t.clone(), _ids(), keys=k, **BIAS, backend="triton")
        np.testing.assert_array_equal(got.cpu().numpy(), want_bias, err_msg=name)
        assert _synthid(t, [0.5, 0.5], "triton", keys=k)[0].tolist() == want_synthid, name
        g = tm.sample_gumbel(t, _ids(), keys=k, context_width=1, seeding=0, backend="triton")
        want = tm.sample_gumbel(logits, _ids(), keys=words, context_width=1, seeding=0,
                                backend="cpu")  # fmt: skip
        assert g.tolist() == want.tolist(), name
