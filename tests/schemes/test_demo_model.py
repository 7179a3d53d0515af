"""The bundled demo model loads offline with plain transformers, generates, and predicts held-out
Shakespeare about as well as when it was trained (python/tokenmark/demo_model/training.json)."""

import json
import math

import numpy as np
import pytest
import torch
from tokenmark import demo_model

# Measured on the stored weights at training time (training.json); the test allows a margin
# for float differences across machines and torch versions, far below what a broken model gives.
PPL_MARGIN = 1.10


@pytest.fixture(scope="module")
def loaded():
    return demo_model.load()


def test_files_and_offline_load(loaded, monkeypatch):
    from transformers import AutoModelForCausalLM

    for name in ("config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json"):
        assert (demo_model.PATH / name).is_file(), name
    assert (demo_model.PATH / "model.safetensors").stat().st_size < 8 * 2**20
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    model = AutoModelForCausalLM.from_pretrained(demo_model.PATH)
    assert model.config.model_type == "llama"
    ref, _ = loaded
    for a, b in zip(model.parameters(), ref.parameters()):
        assert torch.equal(a.float(), b)


def test_generates_text(loaded):
    model, tok = loaded
    prompt = torch.tensor(demo_model.prompts(tok, 1, 16))
    torch.manual_seed(0)
    out = model.generate(
        prompt,
        attention_mask=torch.ones_like(prompt),
        do_sample=True,
        top_k=0,
        max_new_tokens=40,
        min_new_tokens=40,
        pad_token_id=tok.pad_token_id,
        eos_token_id=None,
    )
    assert out.shape == (1, 56) and torch.equal(out[0, :16], prompt[0])
    text = tok.decode(out[0, 16:])
    letters = sum(c.isalpha() for c in text)
    assert letters > 0.5 * len(text)  # words, not byte soup


def test_heldout_perplexity(loaded):
    model, tok = loaded
    stats = json.loads((demo_model.PATH / "training.json").read_text())
    ids = tok.encode(demo_model.heldout_text(), add_special_tokens=False)
    ctx = stats["context"]
    x = torch.tensor(np.asarray(ids[: 8 * ctx]).reshape(8, ctx))
    with torch.no_grad():
        loss = model(input_ids=x, labels=x).loss
    ppl = math.exp(float(loss))
    # Same 8 windows as training measured on the stored float16 weights (95.5 at training time).
    assert ppl < PPL_MARGIN * stats["heldout_txt_perplexity_8_windows"], ppl
    # The bound stated in the README (measured 95.5, with margin).
    assert ppl < 110, ppl


def test_prompts_come_from_held_out_text(loaded):
    _, tok = loaded
    ps = demo_model.prompts(tok, 5, 24)
    assert len(ps) == 5 and all(len(p) == 24 for p in ps)
    text = demo_model.heldout_text()
    assert all(tok.decode(p) in text for p in ps)
    with pytest.raises(ValueError, match="n"):
        demo_model.prompts(tok, 10_000, 24)
