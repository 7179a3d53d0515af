"""The transformers drop-in, with tiny randomly initialised models built from configs."""

import numpy as np
import pytest
import torch

transformers = pytest.importorskip("transformers")
import tokenmark as tm  # noqa: E402
from tiny_models import VOCAB, Recorder, tiny_gpt2, tiny_llama  # noqa: E402
from tokenmark.reference import kgw as ref  # noqa: E402
from transformers import LogitsProcessorList  # noqa: E402

GEN = dict(do_sample=True, max_new_tokens=40, min_new_tokens=40, pad_token_id=0, eos_token_id=None)


@pytest.mark.parametrize("make_model", [tiny_llama, tiny_gpt2])
def test_processor_applies_reference_bias_in_generate(make_model):
    model = make_model()
    wm = tm.KGW(key=b"hf", delta=3.0)
    rec = Recorder(wm.logits_processor())
    prompts = torch.randint(3, VOCAB, (3, 6))
    model.generate(
        prompts,
        attention_mask=torch.ones_like(prompts),
        logits_processor=LogitsProcessorList([rec]),
        **GEN,
    )
    assert len(rec.calls) == 40
    for ids, before, after in rec.calls[:5]:
        want = ref.apply_kgw_bias(
            before.numpy(), ids.numpy(), wm.key.words[None], [wm.threshold], [wm.delta], None, 4, 0
        )
        assert np.array_equal(after.numpy().view(np.uint32), want.view(np.uint32))


def test_generated_text_is_detected_and_plain_text_is_not():
    model = tiny_llama()
    wm = tm.KGW(key=b"hf", delta=4.0)
    prompts = torch.randint(3, VOCAB, (6, 8))
    torch.manual_seed(1)
    marked = model.generate(
        prompts,
        attention_mask=torch.ones_like(prompts),
        logits_processor=[wm.logits_processor()],
        **GEN,
    )
    plain = model.generate(prompts, attention_mask=torch.ones_like(prompts), **GEN)
    res_m = wm.detect(marked[:, 8:])
    res_p = wm.detect(plain[:, 8:])
    assert (res_m.p_value < 1e-4).all(), res_m.z
    assert (res_p.p_value > 1e-3).all(), res_p.z
    # With the prompt as known context, the first generated tokens are scored too.
    with_prompt = wm.detect(marked, prefix_lengths=8)
    assert (with_prompt.n_scored >= res_m.n_scored).all()


def test_left_padding_gives_each_row_its_own_context():
    model = tiny_llama()
    wm = tm.KGW(key=b"hf", delta=4.0)
    rec = Recorder(wm.logits_processor())
    prompts = torch.randint(3, VOCAB, (2, 8))
    prompts[0, :3] = 0  # left padding in row 0
    mask = (prompts != 0).long()
    model.generate(
        prompts,
        attention_mask=mask,
        logits_processor=LogitsProcessorList([rec]),
        **{**GEN, "max_new_tokens": 3, "min_new_tokens": 3},
    )
    ids, before, after = rec.calls[0]
    for row in range(2):
        single = before[row : row + 1].clone()
        wm.apply_(single, ids[row : row + 1, -4:])  # only the last 4 ids matter
        assert torch.equal(single, after[row : row + 1])


def test_beam_search():
    model = tiny_llama()
    wm = tm.KGW(key=b"hf", delta=6.0)
    prompts = torch.randint(3, VOCAB, (2, 8))
    out = model.generate(
        prompts,
        attention_mask=torch.ones_like(prompts),
        num_beams=3,
        do_sample=False,
        max_new_tokens=30,
        min_new_tokens=30,
        pad_token_id=0,
        eos_token_id=None,
        logits_processor=[wm.logits_processor()],
    )
    assert out.shape == (2, 38)
    assert (wm.detect(out[:, 8:]).p_value < 1e-3).all()


def test_logits_wider_than_vocabulary():
    # Models often pad the output layer beyond the tokenizer's vocabulary: membership needs no
    # vocabulary size, so the green list of the real ids is the same whatever the width.
    wm = tm.KGW(key=b"hf")
    ids = torch.randint(0, 1000, (2, 6))
    narrow = torch.randn(2, 1000)
    wide = torch.cat([narrow, torch.full((2, 24), -float("inf"))], dim=1)
    proc = wm.logits_processor()
    out_n = proc(ids, narrow.clone())
    out_w = proc(ids, wide.clone())
    assert torch.equal(out_n, out_w[:, :1000])
    assert torch.isneginf(out_w[:, 1000:]).all()


def test_processor_handles_non_contiguous_scores_and_half_precision():
    wm = tm.KGW(key=b"hf")
    ids = torch.randint(0, 100, (3, 6))
    base = torch.randn(100, 3).t()  # non-contiguous [3, 100]
    out = wm.logits_processor()(ids, base)
    want = base.contiguous().clone()
    wm.apply_(want, ids, backend="reference")
    assert torch.equal(out, want)
    half = torch.randn(3, 100).to(torch.bfloat16)
    out = wm.logits_processor()(ids, half.clone())
    want = half.clone()
    wm.apply_(want, ids, backend="reference")
    assert torch.equal(out.view(torch.int16), want.view(torch.int16))
