"""The processors' decode step on host tensors by address (``_C.KGWStep``, ``GumbelStep``,
``SynthIDStep``, csrc/bindings/step_binding.cpp): the same bias or sample as the numpy bindings,
then each row with a token one-hot at it in place; the processors on the C++ backend against the
same processors on the numpy reference backend; the tensors the step path declines (bfloat16,
strided rows, autograd) take the numpy path to the same answer."""

import numpy as np
import pytest
import tokenmark as tm
import torch
from tokenmark import _C
from tokenmark.integrations import transformers as tm_transformers

KEYS = tm.Gumbel(key=b"fused").key.words.reshape(1, 4)  # the numpy bindings' keys [1, 4]
WORDS = KEYS[0]  # a step object's key
MINUS_INF_BITS = {torch.float16: 0xFC00}
NP_NAME = {torch.float32: "float32", torch.float16: "float16"}


def _expected_one_hot(before: torch.Tensor, tokens: np.ndarray) -> torch.Tensor:
    """Written independently of the kernel: bit patterns of -inf and +0 per dtype."""
    want = before.clone()
    for b, t in enumerate(tokens):
        if t < 0:
            continue
        if want.dtype == torch.float32:
            want[b] = -np.inf
        else:
            want[b].view(torch.int16).fill_(MINUS_INF_BITS[want.dtype] - 2**16)
        want[b, t] = 0
    return want


def _call_step(step, x: torch.Tensor, ids: torch.Tensor, *extra):
    half = x.dtype == torch.float16
    step(x.data_ptr(), half, x.shape[0], x.shape[1], ids.data_ptr(), ids.shape[1], *extra)


def _gumbel_case(x, ids):
    want = _C.sample_gumbel(
        x.numpy().copy(), NP_NAME[x.dtype], ids.numpy(), KEYS, np.zeros(1, np.uint32), None, 2,
        0, True,
    )  # fmt: skip
    return _expected_one_hot(x, want), lambda out: _call_step(
        _C.GumbelStep(WORDS, np.zeros(1, np.uint32), 2, 0, True), out, ids
    )


def _synthid_case(x, ids):
    u = torch.linspace(0.05, 0.95, x.shape[0], dtype=torch.float64)
    want, _ = _C.sample_synthid(
        x.numpy().copy(), NP_NAME[x.dtype], ids.numpy(), KEYS, u.numpy(), None, 2, 0, 30, 0, 1024
    )
    return _expected_one_hot(x, want), lambda out: _call_step(
        _C.SynthIDStep(WORDS, 2, 0, 30, 0, 1024), out, ids, u.data_ptr()
    )


def _kgw_case(x, ids):
    want = x.numpy().copy()
    thr, delta = np.array([2**30], np.uint32), np.array([1.5], np.float32)
    _C.apply_kgw_bias_(want, NP_NAME[x.dtype], ids.numpy(), KEYS, thr, delta, None, 2, 0)
    return torch.from_numpy(want), lambda out: _call_step(
        _C.KGWStep(WORDS, 2**30, 1.5, 2, 0), out, ids
    )


CASES = {"gumbel": _gumbel_case, "synthid": _synthid_case, "kgw": _kgw_case}


@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float16])
@pytest.mark.parametrize("batch,vocab", [(0, 17), (1, 1), (5, 1019)])
def test_step_matches_the_numpy_binding(case, dtype, batch, vocab):
    g = torch.Generator().manual_seed(batch + vocab)
    x = (torch.randn(batch, vocab, generator=g) * 3).to(dtype)
    ids = torch.randint(0, max(vocab, 2), (batch, 6), generator=g)
    ids[::3, -2:] = ids[::3, -3:-2]  # repeated contexts: rows Gumbel leaves alone
    want, run = CASES[case](x, ids)
    out = x.clone()
    run(out)
    assert out.numpy().tobytes() == want.numpy().tobytes()


@pytest.mark.parametrize("case", ["gumbel", "synthid"])
def test_step_row_without_finite_logit_writes_nothing(case):
    x = torch.randn(3, 64)
    x[1] = -np.inf
    ids = torch.arange(12).reshape(3, 4)  # no repeated context
    _, run = CASES[case](torch.zeros(3, 64), ids)
    before = x.clone()
    with pytest.raises(ValueError, match="row 1 has no finite entry"):
        run(x)
    assert torch.equal(x, before)


def test_step_checks_ids_and_uniforms_and_parameters():
    x = torch.zeros(2, 8)
    bad_ids = torch.tensor([[1, 2, 3], [4, -5, 6]])
    with pytest.raises(ValueError, match="input_ids: token ids must be in"):
        _call_step(_C.KGWStep(WORDS, 2**30, 1.0, 2, 0), x, bad_ids)
    u = torch.tensor([0.5, 1.0], dtype=torch.float64)
    with pytest.raises(ValueError, match="uniforms: must be in"):
        _call_step(_C.SynthIDStep(WORDS, 2, 0, 30, 0, 0), x, torch.ones(2, 3, dtype=torch.int64),
                   u.data_ptr())  # fmt: skip
    for make, match in [
        (lambda: _C.KGWStep(WORDS, 0, 1.0, 2, 0), "threshold"),
        (lambda: _C.KGWStep(WORDS, 2**30, float("inf"), 2, 0), "delta"),
        (lambda: _C.GumbelStep(WORDS, np.zeros(1, np.uint32), 2000, 0, True), "context_width"),
        (lambda: _C.GumbelStep(WORDS, np.zeros(0, np.uint32), 2, 0, True), "salt"),
        (lambda: _C.SynthIDStep(WORDS, 2, 0, 0, 0, 0), "layers"),
        (lambda: _C.SynthIDStep(WORDS, 2, 0, 30, -1, 0), "top_k"),
        (lambda: _C.SynthIDStep(WORDS, 2, 9, 30, 0, 0), "seeding"),
        (lambda: _C.KGWStep(WORDS[:3].copy(), 2**30, 1.0, 2, 0), "key"),
    ]:
        with pytest.raises(ValueError, match=match):
            make()


def test_step_objects_do_not_show_the_key():
    words = [str(int(w)) for w in KEYS.ravel()] + [f"{int(w):x}" for w in KEYS.ravel()]
    steps = [
        tm.backends.cpu.kgw_step(KEYS, np.array([7], np.uint32), np.array([1.0], np.float32), 2, 0),
        tm.backends.cpu.gumbel_step(KEYS, np.zeros(1, np.uint32), 2, 0, True),
        tm.backends.cpu.synthid_step(KEYS, 2, 0, 30, 0, 0),
    ]
    for step in steps:
        assert not any(w in repr(step) for w in words)
    with pytest.raises(TypeError) as err:
        tm.backends.cpu.kgw_step(KEYS, np.array([7], np.uint32), np.ones(1), "2", 0)
    assert not any(w in str(err.value) for w in words)


@pytest.mark.parametrize("scheme", ["gumbel", "synthid", "kgw"])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float16, torch.bfloat16])
def test_processor_on_cpp_matches_reference_backend(scheme, dtype):
    make = {"gumbel": tm.Gumbel, "synthid": tm.SynthID, "kgw": tm.KGW}[scheme]
    wm = make(key=b"fused processors", context_width=2)
    g = torch.Generator().manual_seed(5)
    scores = (torch.randn(6, 333, generator=g) * 3).to(dtype)
    ids = torch.randint(0, 333, (6, 8), generator=g, dtype=torch.int64)
    ids[2, -3:] = ids[2, -1]  # a repeated context: an unwatermarked Gumbel row
    outs = []
    for backend in ("cpu", "reference"):
        torch.manual_seed(11)  # the SynthID draws
        outs.append(wm.logits_processor(backend=backend)(ids, scores.clone()))
    assert torch.equal(outs[0].view(torch.int16), outs[1].view(torch.int16))
    # int32 and non-contiguous ids take the same path to the same answer.
    torch.manual_seed(11)
    odd_ids = ids.to(torch.int32).t().contiguous().t()
    third = wm.logits_processor(backend="cpu")(odd_ids, scores.clone())
    assert torch.equal(third.view(torch.int16), outs[0].view(torch.int16))


@pytest.mark.parametrize("scheme", ["gumbel", "synthid", "kgw"])
def test_processor_takes_the_step_path_and_declines_what_it_cannot_address(scheme, monkeypatch):
    make = {"gumbel": tm.Gumbel, "synthid": tm.SynthID, "kgw": tm.KGW}[scheme]
    wm = make(key=b"step path", context_width=2)
    g = torch.Generator().manual_seed(3)
    wide = torch.randn(4, 300, generator=g) * 3
    ids = torch.randint(0, 256, (4, 7), generator=g)

    def run(scores, backend="cpu"):
        torch.manual_seed(2)
        return wm.logits_processor(backend=backend)(ids, scores)

    want = run(wide[:, :256].clone(), backend="reference")
    numpy_path = tm_transformers._host_rows
    # Contiguous float32 never reaches the numpy path...
    monkeypatch.setattr(tm_transformers, "_host_rows", None)
    assert torch.equal(run(wide[:, :256].clone()), want)
    monkeypatch.setattr(tm_transformers, "_host_rows", numpy_path)
    # ...strided rows and autograd do, to the same answer.
    strided = wide.clone()[:, :256]
    assert not strided.is_contiguous()
    assert torch.equal(run(strided), want)
    with torch.no_grad():
        graded = wide[:, :256].clone().requires_grad_(True)
        assert torch.equal(run(graded).detach(), want)
