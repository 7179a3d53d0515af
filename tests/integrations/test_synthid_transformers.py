"""The SynthID processor: bit-exact with the reference given torch's draws, and inside
transformers' generate with a tiny randomly initialised Llama."""

import numpy as np
import pytest
import torch

transformers = pytest.importorskip("transformers")
import tokenmark as tm  # noqa: E402
from tiny_models import VOCAB, Recorder, tiny_llama  # noqa: E402
from tokenmark.reference import synthid as ref  # noqa: E402
from transformers import LogitsProcessorList, TemperatureLogitsWarper  # noqa: E402


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_processor_matches_reference_given_torch_draws(dtype):
    wm = tm.SynthID(key=b"proc", top_k=50)
    proc = wm.logits_processor()
    g = torch.Generator().manual_seed(3)
    scores = (torch.randn(5, 777, generator=g) * 3).to(dtype)
    ids = torch.randint(0, 777, (5, 9), generator=g)
    torch.manual_seed(42)
    out = proc(ids, scores.clone())
    torch.manual_seed(42)
    u = torch.rand(5, dtype=torch.float64).numpy()
    raw = scores.view(torch.int16).numpy() if dtype == torch.bfloat16 else scores.numpy()
    name = "bfloat16" if dtype == torch.bfloat16 else "float32"
    want, _ = ref.sample_synthid(raw, ids.numpy(), wm.key.words, u, None, 4, 0, 30, 50, 1024, name)
    assert (torch.isfinite(out).sum(dim=1) == 1).all()
    np.testing.assert_array_equal(out.argmax(dim=1).numpy(), want)


def test_generate_is_watermarked_and_reproducible():
    model = tiny_llama()
    wm = tm.SynthID(key=b"hf", context_width=2)
    prompts = torch.randint(3, VOCAB, (3, 6))
    outs = []
    for _ in range(2):
        rec = Recorder(wm.logits_processor())
        torch.manual_seed(9)
        outs.append(
            model.generate(
                prompts,
                attention_mask=torch.ones_like(prompts),
                logits_processor=LogitsProcessorList([TemperatureLogitsWarper(0.8), rec]),
                do_sample=True,
                max_new_tokens=60,
                min_new_tokens=60,
                pad_token_id=0,
                eos_token_id=None,
            )
        )
    assert torch.equal(outs[0], outs[1])  # torch's seed controls the draws
    for step, (_, before, after) in enumerate(rec.calls):
        tok = outs[1][:, prompts.shape[1] + step]
        assert (torch.isfinite(after).sum(dim=1) == 1).all()
        assert torch.equal(after.argmax(dim=1), tok)
        assert torch.isfinite(before[torch.arange(3), tok]).all()
    res = wm.detect(outs[0][:, prompts.shape[1] - 2 :])
    assert (res.n_scored > 40).all()
    assert (res.p_value < 1e-3).all(), res.p_value
