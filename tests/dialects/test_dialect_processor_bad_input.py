"""Hostile input to the vLLM and SGLang dialect processors: a TypeError / ValueError naming the
argument (and the row), never a silently unwatermarked row, a token chosen from a row without a
finite logit, hashed invalid ids, or an unpack / IndexError; valid input unchanged."""

import numpy as np
import pytest
import tokenmark as tm
import torch
from tokenmark.dialects.vllm_processor import vllm_gumbel_choice

VLLM = '{"key": 1234, "algorithm": "gumbel", "context_width": 1}'
VLLM_DUAL = '{"key": 1234, "algorithm": "dual_key_gumbel", "context_width": 2, "alpha": 0.4}'
SGLANG = '{"key": "0123abcd", "context_window": 1}'
IDS = torch.tensor([[3, 7, 1], [5, 2, 9]])


def _proc(dialect: str):
    if dialect == "sglang":
        return tm.dialects.SGLangWatermark.from_config(SGLANG).logits_processor()
    return tm.dialects.VLLMWatermark.from_config(VLLM).logits_processor()


DIALECTS = ["vllm", "sglang"]


@pytest.mark.parametrize("dialect", DIALECTS)
def test_batch_mismatch_is_refused(dialect):
    with pytest.raises(ValueError, match=r"input_ids: expected shape \[2, length\]"):
        _proc(dialect)(torch.tensor([[1, 2]]), torch.zeros(2, 8))


@pytest.mark.parametrize("dialect", DIALECTS)
@pytest.mark.parametrize("bad", [-5, 2**31, 2**40])
def test_ids_out_of_range_are_refused(dialect, bad):
    with pytest.raises(ValueError, match=r"input_ids: token ids must be in \[0, 2\^31\)"):
        _proc(dialect)(torch.tensor([[1, bad]]), torch.zeros(1, 8))


@pytest.mark.parametrize("dialect", DIALECTS)
@pytest.mark.parametrize("dtype", [torch.float32, torch.bool, torch.bfloat16])
def test_non_integer_ids_are_refused(dialect, dtype):
    with pytest.raises(TypeError, match="input_ids: expected integer token ids"):
        _proc(dialect)(torch.tensor([[1.0, 1.7]]).to(dtype), torch.zeros(1, 8))


@pytest.mark.parametrize("dialect", DIALECTS)
@pytest.mark.parametrize("shape", [(8,), (1, 1, 8), (1, 0)])
def test_scores_must_be_batch_by_vocab(dialect, shape):
    with pytest.raises(ValueError, match=r"scores: expected \[batch, vocab\]"):
        _proc(dialect)(torch.tensor([[1, 2]]), torch.zeros(shape))


@pytest.mark.parametrize("dialect", DIALECTS)
def test_argument_types_are_named(dialect):
    with pytest.raises(TypeError, match="scores: expected floating-point logits"):
        _proc(dialect)(torch.tensor([[1, 2]]), torch.zeros(1, 8, dtype=torch.int64))
    with pytest.raises(TypeError, match="scores: expected a torch tensor"):
        _proc(dialect)(torch.tensor([[1, 2]]), np.zeros((1, 8), np.float32))
    with pytest.raises(TypeError, match="input_ids: expected a torch tensor"):
        _proc(dialect)(np.array([[1, 2]]), torch.zeros(1, 8))


@pytest.mark.parametrize("dialect", DIALECTS)
@pytest.mark.parametrize("later", [1, 3])
def test_batch_size_change_between_steps(dialect, later):
    p = _proc(dialect)
    p(torch.tensor([[1, 2], [3, 4]]), torch.zeros(2, 8))
    ids = torch.arange(later * 3).reshape(later, 3)
    with pytest.raises(ValueError, match="input_ids: expected 2 rows, as at this processor's"):
        p(ids, torch.zeros(later, 8))


def test_vllm_ids_shorter_than_the_prompt():
    p = _proc("vllm")
    p(torch.tensor([[1, 2, 3]]), torch.zeros(1, 8))
    with pytest.raises(ValueError, match="input_ids: expected at least the 3 ids"):
        p(torch.tensor([[1, 2]]), torch.zeros(1, 8))


@pytest.mark.parametrize("dialect", DIALECTS)
def test_int32_ids_give_the_same_rows(dialect):
    g = torch.Generator().manual_seed(0)
    steps = [torch.randn(2, 32, generator=g) for _ in range(3)]
    ids = torch.randint(0, 32, (2, 4), generator=g)
    outs = []
    for dtype in (torch.int64, torch.int32):
        p, x, got = _proc(dialect), ids.to(dtype), []
        for s in steps:
            got.append(p(x, s.clone()))
            x = torch.cat([x, got[-1].argmax(-1, keepdim=True).to(dtype)], dim=1)
        outs.append(torch.stack(got))
    assert torch.equal(outs[0], outs[1])


def _masked(kind: str) -> torch.Tensor:
    x = torch.zeros(2, 8)
    if kind == "all -inf":
        x[1] = -torch.inf
    elif kind == "all nan":
        x[1] = torch.nan
    else:
        x[1, 5] = torch.nan
    return x


@pytest.mark.parametrize("kind", ["all -inf", "all nan", "one nan"])
def test_vllm_rows_without_a_finite_choice_are_refused(kind):
    x = _masked(kind)
    msg = "has no finite entry to sample" if kind == "all -inf" else "has a NaN entry"
    with pytest.raises(ValueError, match=f"scores: row 1 {msg}"):
        _proc("vllm")(torch.tensor([[1, 2], [3, 4]]), x.clone())
    with pytest.raises(ValueError, match=f"logits: row 1 {msg}"):
        vllm_gumbel_choice(5, x, np.zeros((2, 1), np.int64))


def test_vllm_refused_step_uses_no_context():
    """A refused row leaves the processor as it was: the step retried gives a fresh one's rows."""
    ids = torch.tensor([[1, 2], [3, 4]])
    p = _proc("vllm")
    with pytest.raises(ValueError, match="scores: row 1"):
        p(ids, _masked("all -inf"))
    assert torch.equal(p(ids, torch.zeros(2, 8)), _proc("vllm")(ids, torch.zeros(2, 8)))


def test_vllm_masked_entries_never_chosen():
    x = torch.zeros(3, 8)
    x[:, :7] = -torch.inf  # only token 7 allowed
    out = _proc("vllm")(torch.tensor([[1, 2], [3, 4], [5, 6]]), x)
    assert out.argmax(-1).tolist() == [7, 7, 7]


def test_vllm_gumbel_choice_shapes():
    with pytest.raises(ValueError, match=r"logits: expected \[batch, vocab\]"):
        vllm_gumbel_choice(5, torch.zeros(8), np.zeros((1, 1), np.int64))
    with pytest.raises(ValueError, match=r"contexts: expected \[2, width\]"):
        vllm_gumbel_choice(5, torch.zeros(2, 8), np.zeros((3, 1), np.int64))


@pytest.mark.parametrize("seed", [-1, 1.5, True, "x", None])
def test_vllm_seed_checked(seed):
    wm = tm.dialects.VLLMWatermark.from_config(VLLM_DUAL)
    with pytest.raises((TypeError, ValueError), match="seed: "):
        wm.logits_processor(seed=seed)


def test_vllm_seed_as_numpy_int_unchanged():
    wm = tm.dialects.VLLMWatermark.from_config(VLLM_DUAL)
    g = torch.Generator().manual_seed(4)
    scores, ids = torch.randn(6, 16, generator=g), torch.randint(0, 16, (6, 3), generator=g)
    a = wm.logits_processor(seed=7)(ids, scores.clone())
    b = wm.logits_processor(seed=np.int64(7))(ids, scores.clone())
    assert torch.equal(a, b)
