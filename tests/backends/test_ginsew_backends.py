"""apply_ginsew_ on every backend against the numpy reference.

Group flags and times (integer PRF outputs and exact dyadic times) must match bit for bit;
log-probabilities within a stated tolerance: float32 outputs within 4e-6 (1 + |ref|) of the
float64 reference (float32 exp and a float32 final subtraction against the reference's float64),
float16 / bfloat16 outputs additionally within one rounding of that dtype (2^-10 / 2^-7 relative).
Non-finite entries keep their exact value. Triton runs under the interpreter here (small shapes),
compiled on a GPU; CUDA tests run only where a device is present.
"""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest
import tokenmark as tm
import torch
from conftest import cuda_available
from tensor_helpers import host_logits, random_logits
from tokenmark import _C
from tokenmark.reference import ginsew as ref

HAS_TRITON = importlib.util.find_spec("triton") is not None
KEY = tm.Key(b"ginsew-backends").words
DTYPES = {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16}
REL = {"float32": 0.0, "float16": 2.0**-10, "bfloat16": 2.0**-7}

pytestmark = pytest.mark.filterwarnings("ignore::RuntimeWarning")


def _backends():
    out = [pytest.param("cpu"), pytest.param("cpu-scalar")]
    # On a GPU machine the Triton cases run the compiled kernels: they belong to `-m gpu`.
    gpu_mark = [pytest.mark.gpu] if cuda_available() else []
    out.append(
        pytest.param(
            "triton",
            marks=[
                *gpu_mark,
                pytest.mark.skipif(not HAS_TRITON, reason="triton is not installed"),
            ],
        )
    )
    out.append(
        pytest.param(
            "cuda",
            marks=[
                pytest.mark.gpu,
                pytest.mark.skipif(not cuda_available(), reason="no CUDA device"),
                pytest.mark.skipif(
                    importlib.util.find_spec("tokenmark._cuda") is None,
                    reason="tokenmark was built without CUDA",
                ),
            ],
        )
    )
    return out


def _device(backend: str) -> str:
    return "cuda" if backend == "cuda" or (backend == "triton" and cuda_available()) else "cpu"


def reference(logits: torch.Tensor, ids, key, eps, freq, width, frac, enabled=None, position=None):
    host, dtype = host_logits(logits)
    return ref.apply_ginsew(
        host, ids, key, eps, freq, width, frac, enabled=enabled, position=position, dtype=dtype
    ).astype(np.float64)


def run(backend, logits, ids, key, eps, freq, width, frac, enabled=None, position=None):
    if backend == "cpu-scalar":  # the C++ kernel with its AVX2 paths switched off
        _C.set_simd_enabled(False)
        try:
            return run("cpu", logits, ids, key, eps, freq, width, frac, enabled, position)
        finally:
            _C.set_simd_enabled(True)
    dev = _device(backend)
    x = logits.clone().to(dev)
    ids_t = torch.as_tensor(np.asarray(ids)).to(dev)
    en = None if enabled is None else torch.as_tensor(np.asarray(enabled, dtype=np.uint8)).to(dev)
    tm.apply_ginsew_(
        x,
        ids_t,
        keys=key,
        epsilon=eps,
        frequency=freq,
        context_width=width,
        fraction=frac,
        enabled=en,
        position=position,
        backend=backend,
    )
    return x.cpu().float().numpy().astype(np.float64)


def assert_matches(got: np.ndarray, want: np.ndarray, dtype: str) -> None:
    fin = np.isfinite(want)
    # Non-finite entries keep their value exactly (-inf, +inf; NaN stays NaN).
    np.testing.assert_array_equal(np.isnan(got), np.isnan(want))
    np.testing.assert_array_equal(got[~fin & ~np.isnan(want)], want[~fin & ~np.isnan(want)])
    tol = 4e-6 * (1 + np.abs(want[fin])) + REL[dtype] * np.abs(want[fin]) + (REL[dtype] > 0) * 2e-7
    err = np.abs(got[fin] - want[fin])
    assert (err <= tol).all(), f"max excess {(err - tol).max()} at {np.argmax(err - tol)}"


@pytest.mark.parametrize("backend", _backends())
@pytest.mark.parametrize("dtype", list(DTYPES))
@pytest.mark.parametrize("vocab", [1, 17, 1019, 32000, 50257])
@pytest.mark.parametrize("batch", [0, 1, 3, 37])
def test_matches_reference(backend, dtype, vocab, batch):
    if backend == "triton" and _device(backend) == "cpu":
        if batch * vocab > 40000 or (batch == 37 and (vocab, dtype) != (17, "float32")):
            pytest.skip("the Triton interpreter is slow: small shapes only (the GPU runs them all)")
    gen = torch.Generator().manual_seed(vocab * 100 + batch)
    # Normal logits with -inf, NaN and ties (the helper needs a non-empty batch).
    logits = random_logits(batch, vocab, DTYPES[dtype], gen) if batch else torch.zeros(0, vocab)
    logits = logits.to(DTYPES[dtype])
    rng = np.random.default_rng(vocab + batch)
    ids = rng.integers(0, 2**31 - 1, size=(batch, 4))
    keys = rng.integers(0, 2**32, size=(batch, 4), dtype=np.uint32) if batch else KEY
    eps = rng.uniform(0, 1, batch) if batch else 0.2
    freq = rng.uniform(1, 40, batch) if batch else 16.0
    frac = rng.uniform(0.05, 0.95, batch) if batch else 0.5
    enabled = rng.random(batch) < 0.8
    want = reference(logits, ids, keys, eps, freq, 2, frac, enabled)
    got = run(backend, logits, ids, keys, eps, freq, 2, frac, enabled)
    assert got.shape == (batch, vocab)
    assert_matches(got, want, dtype)


@pytest.mark.parametrize("backend", _backends())
def test_group_mass_identity_and_short_rows(backend):
    """Exp of the output sums to 1 (Q0' + Q1' = 1) and G0 holds Q0' as the formula says; rows
    shorter than the window, and prompt_position mode, as the reference."""
    gen = torch.Generator().manual_seed(7)
    logits = torch.randn(6, 1019, generator=gen) * 4
    ids = np.arange(6 * 3).reshape(6, 3) + 5
    got = run(backend, logits, ids, KEY, 0.3, 16.0, 1, 0.5)
    p = np.exp(got)
    np.testing.assert_allclose(p.sum(axis=1), 1.0, atol=3e-6)
    g0 = ref.group_flags(KEY, 1019, 0.5)
    x = logits.double().numpy()
    q0 = np.exp(x - x.max(1, keepdims=True))
    q0 = q0[:, g0].sum(1) / q0.sum(1)
    c = np.cos(16.0 * ref.times(KEY, ids, 1))
    np.testing.assert_allclose(p[:, g0].sum(1), (q0 + 0.3 * (1 + c)) / 1.6, atol=3e-6)
    # Width 4 > 3 ids: every row is only normalised.
    got = run(backend, logits, ids, KEY, 0.3, 16.0, 4, 0.5)
    np.testing.assert_allclose(got, torch.log_softmax(logits.double(), -1).numpy(), atol=5e-6)
    for pos in (0, 2, 3):
        want = reference(logits, ids, KEY, 0.3, 16.0, 1, 0.5, position=pos)
        assert_matches(
            run(backend, logits, ids, KEY, 0.3, 16.0, 1, 0.5, position=pos), want, "float32"
        )


@pytest.mark.parametrize("backend", _backends())
def test_underflowing_group_exact(backend):
    x = torch.zeros(2, 64)
    g0 = torch.from_numpy(ref.group_flags(KEY, 64, 0.5))
    x[:, g0] = -1000.0 - torch.arange(int(g0.sum()), dtype=torch.float32)  # e^-1000: underflows
    x[1, ~g0] = -float("inf")  # row 1: G1 empty, so only normalised
    ids = np.array([[3], [4]])
    got = run(backend, x, ids, KEY, 0.2, 16.0, 1, 0.5)
    assert_matches(got, reference(x, ids, KEY, 0.2, 16.0, 1, 0.5), "float32")
    t = ref.times(KEY, ids[:1], 1)[0]
    assert abs(np.exp(got[0, g0.numpy()]).sum() - 0.2 * (1 + np.cos(16 * t)) / 1.4) < 1e-6


def test_cpu_group_flags_and_times_bit_exact():
    for simd in (True, False):
        _C.set_simd_enabled(simd)
        try:
            for vocab, frac in ((1, 0.5), (1019, 0.3), (50257, 0.5), (151936, 0.9)):
                thr = ref.fraction_threshold(frac)
                np.testing.assert_array_equal(
                    _C.ginsew_group_flags(KEY, thr, vocab), ref.group_flags(KEY, vocab, frac)
                )
        finally:
            _C.set_simd_enabled(True)
    rng = np.random.default_rng(0)
    ids = rng.integers(0, 2**31 - 1, size=(257, 9))
    for width, pos in ((1, -1), (4, -1), (9, -1), (10, -1), (1, 0), (1, 8), (1, 9)):
        for dt in (np.int32, np.int64):
            got = _C.ginsew_times(ids.astype(dt), KEY.reshape(1, 4), width, pos)
            want = ref.times(KEY, ids, width, None if pos < 0 else pos)
            np.testing.assert_array_equal(got, want)


def test_bad_input_names_the_argument():
    x = np.zeros((2, 8), dtype=np.float32)
    ids = np.array([[1], [2]])
    ok = dict(keys=KEY, epsilon=0.2, frequency=16.0, context_width=1, fraction=0.5)
    cases = [
        (dict(epsilon=float("nan")), ValueError, "epsilon"),
        (dict(epsilon=-0.1), ValueError, "epsilon"),
        (dict(frequency=float("inf")), ValueError, "frequency"),
        (dict(frequency=[1.0, float("nan")]), ValueError, "frequency"),
        (dict(fraction=0.0), ValueError, "fraction"),
        (dict(fraction=1.0), ValueError, "fraction"),
        (dict(context_width=0), ValueError, "context_width"),
        (dict(context_width=2000), ValueError, "context_width"),
        (dict(keys=KEY[:3]), TypeError, "keys"),
        (dict(epsilon=[0.1, 0.2, 0.3]), ValueError, "epsilon"),
        (dict(position=-2), ValueError, "position"),
        (dict(enabled=[1, 0, 1]), ValueError, "enabled"),
    ]
    for backend in ("cpu", "reference"):
        for bad, exc, name in cases:
            with pytest.raises(exc, match=name):
                tm.apply_ginsew_(x.copy(), ids, **{**ok, **bad}, backend=backend)
        with pytest.raises(TypeError, match="logits"):
            tm.apply_ginsew_(x.astype(np.float64), ids, **ok, backend=backend)
        with pytest.raises(ValueError, match="input_ids"):
            tm.apply_ginsew_(x.copy(), np.array([[1], [-3]]), **ok, backend=backend)
        with pytest.raises(ValueError, match="input_ids"):
            tm.apply_ginsew_(x.copy(), np.array([[1]]), **ok, backend=backend)
        with pytest.raises(TypeError, match="input_ids"):
            tm.apply_ginsew_(x.copy(), ids.astype(np.float32), **ok, backend=backend)
    # The binding's own checks, past the op's normalisation.
    c_ok = dict(
        logits=x, logits_dtype="float32", input_ids=ids, keys=KEY.reshape(1, 4),
        thresholds=np.array([1], np.uint32), epsilons=np.array([0.2]),
        frequencies=np.array([16.0]), enabled=None, width=1, position=-1,
    )  # fmt: skip
    _C.apply_ginsew_(**{**c_ok, "logits": x.copy()})  # valid: each case fails for its change
    for bad, exc, name in (
        (dict(logits=x.astype(np.float64)), TypeError, "logits"),
        (dict(thresholds=np.array([0], np.uint32)), ValueError, "thresholds"),
        (dict(epsilons=np.array([np.nan])), ValueError, "epsilon"),
    ):
        with pytest.raises(exc, match=name):
            _C.apply_ginsew_(**{**c_ok, **bad})


def test_scheme_validation_and_key_never_shown():
    for kw, name in (
        (dict(epsilon=float("nan")), "epsilon"),
        (dict(frequency=0.0), "frequency"),
        (dict(fraction=1.5), "fraction"),
        (dict(context_width=0), "context_width"),
        (dict(t_source="prompt"), "t_source"),
        (dict(prompt_position=-1), "prompt_position"),
    ):
        with pytest.raises(ValueError, match=name):
            tm.GINSEW(key=b"hunter2", **kw)
    with pytest.raises(TypeError, match="context_width"):
        tm.GINSEW(key=b"hunter2", context_width=1.5)
    wm = tm.GINSEW(key=b"hunter2")
    for text in (repr(wm), str(wm), wm.to_json(), repr(wm.logits_processor())):
        assert "hunter2" not in text and wm.key.to_hex() not in text
    back = tm.GINSEW.from_json(wm.to_json(include_key=True))
    assert back == wm
    with pytest.raises(ValueError, match="key"):
        tm.GINSEW.from_json(wm.to_json(), key=b"other")


@pytest.mark.parametrize("backend", ["cpu", "reference"] + (["triton"] if HAS_TRITON else []))
def test_precomputed_thresholds_equal_fraction(backend):
    dev = _device(backend) if backend == "triton" else "cpu"
    x = torch.randn(3, 257, generator=torch.Generator().manual_seed(3)).to(dev)
    ids = torch.tensor([[1, 2], [3, 4], [5, 6]]).to(dev)
    a, b = x.clone(), x.clone()
    common = dict(keys=KEY, epsilon=0.2, frequency=16.0, context_width=1, backend=backend)
    tm.apply_ginsew_(a, ids, fraction=0.3, **common)
    thr = np.array([ref.fraction_threshold(0.3)], dtype=np.uint32)
    tm.apply_ginsew_(b, ids, fraction=0.9, thresholds=thr, **common)  # thresholds win
    torch.testing.assert_close(a, b, rtol=0, atol=0)
    with pytest.raises(ValueError, match="thresholds"):
        tm.apply_ginsew_(x.clone(), ids, fraction=0.3, thresholds=np.zeros(1, np.uint32), **common)


@pytest.mark.parametrize("backend", _backends())
def test_non_finite_entries_keep_their_value(backend):
    x = torch.randn(4, 40, generator=torch.Generator().manual_seed(5))
    x[0, 3] = float("inf")
    x[1, :] = -float("inf")  # no finite logit: the row stays as it is
    x[2, :] = float("nan")
    x[3, ::2] = float("nan")
    ids = np.array([[1], [2], [3], [4]])
    got = run(backend, x, ids, KEY, 0.2, 16.0, 1, 0.5)
    assert_matches(got, reference(x, ids, KEY, 0.2, 16.0, 1, 0.5), "float32")
    assert got[0, 3] == np.inf and np.isneginf(got[1]).all() and np.isnan(got[2]).all()
    assert abs(np.exp(got[0][np.isfinite(got[0])]).sum() - 1) < 1e-5
