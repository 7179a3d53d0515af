"""Hostile input to the transformers processors (KGW, Gumbel, SynthID) and to ``apply_ginsew_``'s
``position``: a TypeError / ValueError naming the argument, never truncated ids, a numpy or
torch internal error, or an AttributeError; valid input unchanged."""

import numpy as np
import pytest
import tokenmark as tm
import torch

SCHEMES = {"kgw": tm.KGW, "gumbel": tm.Gumbel, "synthid": tm.SynthID}
IDS = torch.tensor([[3, 7, 1], [5, 2, 9]])


def _proc(scheme: str):
    return SCHEMES[scheme](key=b"bad input", context_width=1).logits_processor()


def _run(scheme: str, ids, scores):
    torch.manual_seed(0)  # SynthID's draws
    return _proc(scheme)(ids, scores)


@pytest.mark.parametrize("scheme", list(SCHEMES))
@pytest.mark.parametrize("scores_dtype", [torch.float32, torch.float16, torch.bfloat16])
@pytest.mark.parametrize("ids_dtype", [torch.float32, torch.float64, torch.bfloat16, torch.bool])
def test_non_integer_ids_are_refused_not_truncated(scheme, scores_dtype, ids_dtype):
    ids = torch.tensor([[1.0, 1.7], [0.0, -0.5]]).to(ids_dtype)
    with pytest.raises(TypeError, match="input_ids: expected integer token ids"):
        _run(scheme, ids, torch.zeros(2, 16, dtype=scores_dtype))


@pytest.mark.parametrize("scheme", list(SCHEMES))
@pytest.mark.parametrize("ids_dtype", [torch.int32, torch.int16, torch.uint8])
def test_narrow_integer_ids_still_accepted(scheme, ids_dtype):
    scores = torch.randn(2, 16, generator=torch.Generator().manual_seed(1))
    want = _run(scheme, IDS, scores.clone())
    got = _run(scheme, IDS.to(ids_dtype), scores.clone())
    assert torch.equal(got, want)


@pytest.mark.parametrize("scheme", list(SCHEMES))
@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_scores_that_require_grad(scheme, dtype):
    scores = torch.randn(2, 16, generator=torch.Generator().manual_seed(2)).to(dtype)
    want = _run(scheme, IDS, scores.clone())
    graded = scores.clone().requires_grad_(True)
    got = _run(scheme, IDS, graded)
    assert torch.equal(got.detach().view(torch.int16), want.view(torch.int16))


@pytest.mark.parametrize("scheme", list(SCHEMES))
def test_numpy_arguments_are_named(scheme):
    with pytest.raises(TypeError, match="scores: expected a torch tensor"):
        _run(scheme, IDS, np.zeros((2, 16), np.float32))
    with pytest.raises(TypeError, match="input_ids: expected a torch tensor"):
        _run(scheme, IDS.numpy(), torch.zeros(2, 16))
    with pytest.raises(TypeError, match="input_ids: expected a torch tensor"):
        _run(scheme, [[3, 7, 1], [5, 2, 9]], torch.zeros(2, 16))


@pytest.mark.parametrize("position", [2**31, 2**40, 2**62])
def test_ginsew_position_bounded_by_the_binding(position):
    x = np.zeros((1, 8), np.float32)
    with pytest.raises(ValueError, match="position: must be in"):
        tm.apply_ginsew_(
            x, [[1, 2]], keys=tm.Key(b"k").words, epsilon=0.2, frequency=16.0,
            context_width=1, position=position,
        )  # fmt: skip
    assert not x.any()  # nothing written


def test_ginsew_position_in_range_unchanged():
    args = dict(keys=tm.Key(b"k").words, epsilon=0.2, frequency=16.0, context_width=1)
    a, b = np.zeros((1, 8), np.float32), np.zeros((1, 8), np.float32)
    tm.apply_ginsew_(a, [[1, 2]], position=1, **args)
    tm.apply_ginsew_(b, [[1, 2]], position=np.int64(1), **args)
    assert np.array_equal(a, b) and np.isfinite(a).all()


def test_ginsew_processor_names_its_arguments():
    """GINSEW's processor too (numpy scores were an AttributeError)."""
    proc = tm.GINSEW(key=b"bad input").logits_processor()
    with pytest.raises(TypeError, match="scores: expected a torch tensor"):
        proc(IDS, np.zeros((2, 16), np.float32))
    with pytest.raises(TypeError, match="input_ids: expected integer token ids"):
        proc(IDS.float(), torch.zeros(2, 16))
