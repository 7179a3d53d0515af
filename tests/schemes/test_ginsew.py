"""tm.GINSEW: the scheme config, its ops and its transformers processor with the demo model."""

from __future__ import annotations

import numpy as np
import pytest
import tokenmark as tm
import torch
from tokenmark.reference.prf import context_hash, prf_word


def test_scheme_matches_the_spec():
    """group_flags and times against docs/prf.md section 8 restated on the PRF (domain 4: token
    v under context 0, below floor(fraction 2^32); domain 5: token 0 under the prev hash of the
    window, over 2^32), not through the reference functions the methods call."""
    wm = tm.GINSEW(key=b"scheme", epsilon=0.1, frequency=12.0, context_width=2, fraction=0.3)
    k = wm.key.words
    expect = [int(prf_word(k, 0, v, 4)) < int(0.3 * 2**32) for v in range(1019)]
    assert wm.group_flags(1019).tolist() == expect
    ids = np.array([[1, 2, 3], [4, 5, 6], [7, 8, 9]])
    for b in range(3):
        window = context_hash(ids[b, 1:], 0)  # the last context_width = 2 ids
        assert wm.times(ids)[b] == int(prf_word(k, window, 0, 5)) / 2**32
        assert wm.times(ids[b]) == wm.times(torch.tensor(ids[b]))  # one row, numpy or torch
    official = tm.GINSEW(key=b"scheme", t_source="prompt_position", prompt_position=1)
    for b in range(3):
        window = context_hash(ids[b, 1:2], 0)  # the one id at prompt_position
        assert official.times(ids)[b] == int(prf_word(k, window, 0, 5)) / 2**32
    assert np.isnan(official.times(ids[:, :1])).all()  # no id at position 1 yet
    x = np.random.default_rng(0).normal(0, 2, (3, 1019)).astype(np.float32)
    a, b = x.copy(), x.copy()
    wm.apply_(a, ids)
    wm.apply_(b, ids, backend="reference")
    np.testing.assert_allclose(a, b, atol=4e-6 * (1 + np.abs(b).max()))
    assert wm.amplitude == pytest.approx(0.1 / 1.2)


def test_torch_logits_in_place_all_dtypes():
    wm = tm.GINSEW(key=b"scheme")
    ids = torch.tensor([[3, 4], [5, 6]])
    base = torch.randn(2, 100, generator=torch.Generator().manual_seed(0))
    for dtype in (torch.float32, torch.float16, torch.bfloat16):
        want = base.to(dtype).float()
        wm.apply_(want, ids, backend="reference")
        x = base.to(dtype)
        out = wm.apply_(x, ids)
        assert out is x and x.dtype == dtype
        # One rounding to the dtype (2^-10, 2^-7 relative) after float32 arithmetic.
        rel = {torch.float32: 1e-6, torch.float16: 2.0**-10, torch.bfloat16: 2.0**-7}[dtype]
        np.testing.assert_allclose(x.float().numpy(), want.numpy(), atol=2e-5, rtol=rel)


def test_processor_with_demo_model():
    torch.set_num_threads(1)
    from tokenmark import demo_model

    model, tok = demo_model.load()
    wm = tm.GINSEW(key=b"processor", epsilon=0.2)
    proc = wm.logits_processor()
    prompts = torch.tensor(demo_model.prompts(tok, 3, 12))
    with torch.no_grad():
        scores = model(input_ids=prompts).logits[:, -1, :]
    want = scores.clone().numpy()
    wm.apply_(want, prompts.numpy(), backend="reference")
    got = proc(prompts, scores.clone())
    np.testing.assert_allclose(got.numpy(), want, atol=4e-6 * (1 + np.abs(want).max()))
    # Left padding: a padded row's time comes from its last ids, as the unpadded row's does.
    padded = torch.cat([torch.zeros(1, 4, dtype=torch.long), prompts[:1]], dim=1)
    np.testing.assert_array_equal(wm.times(padded), wm.times(prompts[:1]))
    torch.manual_seed(0)
    out = model.generate(
        prompts,
        attention_mask=torch.ones_like(prompts),
        do_sample=True,
        max_new_tokens=8,
        logits_processor=[proc],
        pad_token_id=0,
    )
    assert out.shape == (3, 20)
    assert "processor" not in repr(proc)


def test_prompt_position_processor_reads_left_padded_rows_as_unpadded():
    wm = tm.GINSEW(key=b"padded", t_source="prompt_position", prompt_position=3)
    proc = wm.logits_processor(pad_token_id=0)
    rng = np.random.default_rng(5)
    # The 3-id prompt is too short for a time; the last row is all padding.
    prompts = [rng.integers(1, 300, n) for n in (9, 5, 3, 4, 0)]
    width = max(len(p) for p in prompts)
    batch = torch.zeros(len(prompts), width, dtype=torch.long)
    for i, p in enumerate(prompts):
        batch[i, width - len(p) :] = torch.from_numpy(p)
    scores = torch.randn(len(prompts), 301, generator=torch.Generator().manual_seed(1))
    got = proc(batch, scores.clone())
    for i, p in enumerate(prompts):
        want = scores[i : i + 1].clone()
        wm.apply_(want, p[None, :])  # the same prompt alone, unpadded
        assert torch.equal(got[i : i + 1], want), i
    times = wm.times(batch)  # times() reads rows as they are: the padded rows' differ
    assert [wm.times(p[None, :])[0] for p in prompts[:2]] != times[:2].tolist()
    with pytest.raises(ValueError, match="pad_token_id"):
        wm.logits_processor(pad_token_id=-1)
    with pytest.raises(TypeError, match="pad_token_id"):
        wm.logits_processor(pad_token_id="0")
    assert "pad_token_id=0" in repr(proc) and "padded" not in repr(proc)


@pytest.mark.parametrize(
    "kw, error, name",
    [
        (dict(frequency="a"), TypeError, "frequency"),
        (dict(frequency=None), TypeError, "frequency"),
        (dict(epsilon=None), TypeError, "epsilon"),
        (dict(epsilon="0.2"), TypeError, "epsilon"),
        (dict(fraction=[0.5]), TypeError, "fraction"),
        (dict(frequency=1e400), ValueError, "frequency"),
    ],
)
def test_config_refuses_non_numbers_by_name(kw, error, name):
    with pytest.raises(error, match=name):
        tm.GINSEW(key=b"config", **kw)


def test_helpers_refuse_bad_ids_by_name():
    wm = tm.GINSEW(key=b"helpers", context_width=2)
    for bad in (None, "3", 2.5):
        with pytest.raises(TypeError, match="vocab_size"):
            wm.group_flags(bad)
    with pytest.raises(ValueError, match="vocab_size"):
        wm.group_flags(-1)
    with pytest.raises(ValueError, match="input_ids.*lengths"):
        wm.times([[1, 2], [3]])
    for bad in ([[1, -2]], np.array([[1, 2**31]]), torch.tensor([[-1, 5]])):
        with pytest.raises(ValueError, match=r"input_ids: token ids must be in \[0, 2\^31\)"):
            wm.times(bad)
    # apply_sequence_ takes ids as a list too, and an empty sequence is a no-op.
    x = np.random.default_rng(0).normal(size=(1, 3, 7)).astype(np.float32)
    want = x.copy()
    wm.apply_sequence_(want, np.array([[1, 2, 3]]))
    got = x.copy()
    wm.apply_sequence_(got, [[1, 2, 3]])
    np.testing.assert_array_equal(got, want)
    with pytest.raises(ValueError, match="input_ids.*lengths"):
        wm.apply_sequence_(x.copy(), [[1, 2, 3], [4]])
    for empty in (np.zeros((2, 0, 7), np.float32), torch.zeros(2, 0, 7)):
        ids = np.zeros((2, 0), np.int64)
        assert (
            wm.apply_sequence_(empty, ids if isinstance(empty, np.ndarray) else torch.tensor(ids))
            is empty
        )


@pytest.mark.parametrize(
    "name",
    [
        "tokenmark.ginsew",
        "tokenmark.ops.ginsew",
        "tokenmark.suspect.ginsew",
        "tokenmark.integrations.ginsew_transformers",
    ],
)
def test_docstring_examples(name):
    import doctest
    import importlib

    result = doctest.testmod(importlib.import_module(name), optionflags=doctest.ELLIPSIS)
    assert result.failed == 0 and result.attempted > 0


@pytest.mark.parametrize(
    "kw",
    [
        dict(context_width=1),
        dict(context_width=3),
        dict(t_source="prompt_position", prompt_position=2),
    ],
)
@pytest.mark.parametrize("as_torch", [False, True])
def test_apply_sequence_equals_apply_per_prefix(kw, as_torch):
    wm = tm.GINSEW(key=b"sequence", **kw)
    rng = np.random.default_rng(0)
    ids = rng.integers(0, 500, (2, 6))
    x = rng.normal(0, 2, (2, 6, 57)).astype(np.float32)
    want = x.copy()
    for i in range(6):
        row = want[:, i].copy()
        wm.apply_(row, ids[:, : i + 1])
        want[:, i] = row
    if as_torch:
        got = torch.from_numpy(x.copy())
        out = wm.apply_sequence_(got, torch.from_numpy(ids))
        assert out is got
        got = got.numpy()
    else:
        got = x.copy()
        wm.apply_sequence_(got, ids)
    np.testing.assert_array_equal(got, want)
    # Non-contiguous logits (a transposed view) are written back too.
    xt = np.ascontiguousarray(x.transpose(1, 0, 2)).transpose(1, 0, 2)
    wm.apply_sequence_(xt, ids)
    np.testing.assert_array_equal(xt, want)
