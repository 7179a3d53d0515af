"""Unigram-Watermark against tm.dialects.unigram. Its reference code (github
XuandongZhao/Unigram-Watermark, gptwm.py at 3667ec1) is not a package; `theirs_mask` and
`theirs_z` below re-state its GPTWatermarkBase.__init__ / _hash_fn and GPTWatermarkDetector.detect
line for line, and the generation uses its warper's rule (scores + strength * mask)."""

from __future__ import annotations

import hashlib

import numpy as np
import pytest
from scipy import stats

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")

import tokenmark as tm  # noqa: E402


def theirs_mask(fraction, vocab_size, watermark_key):
    seed = int.from_bytes(hashlib.sha256(np.int64(watermark_key)).digest()[:4], "little")
    rng = np.random.default_rng(seed)
    mask = np.array(
        [True] * int(fraction * vocab_size) + [False] * (vocab_size - int(fraction * vocab_size))
    )
    rng.shuffle(mask)
    return torch.tensor(mask, dtype=torch.float32)


def theirs_z(mask, sequence, fraction):
    green_tokens = int(sum(mask[i] for i in sequence))
    total = len(sequence)
    return (green_tokens - fraction * total) / np.sqrt(fraction * (1 - fraction) * total)


@pytest.mark.parametrize("key,vocab,fraction", [(0, 50257, 0.5), (2**62, 1019, 0.25),
                                                (-7, 32000, 0.3)])  # fmt: skip
def test_mask_counts_and_z_match_theirs(key, vocab, fraction):
    wm = tm.dialects.unigram(key, vocab, fraction)
    mask = theirs_mask(fraction, vocab, key)
    np.testing.assert_array_equal(wm.green_mask, mask.numpy().astype(np.uint8))
    rng = np.random.default_rng(key % 97)
    docs = [rng.integers(0, vocab, size=n).tolist() for n in (1, 7, 100, 513)]
    res = wm.detect(docs)
    for d, doc in enumerate(docs):
        assert res.n_green[d] == int(sum(mask[i] for i in doc))
        assert res.z[d] == pytest.approx(theirs_z(mask, doc, fraction), rel=1e-12)
    p = wm.gamma_effective
    np.testing.assert_allclose(res.p_value, stats.binom.sf(res.n_green - 1, res.n_scored, p))


def test_their_generation_detected_and_dedup():
    torch.manual_seed(0)
    cfg = transformers.LlamaConfig(
        vocab_size=1031, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
        num_attention_heads=2, num_key_value_heads=2, max_position_embeddings=256,
        bos_token_id=1, eos_token_id=2, pad_token_id=2,
    )  # fmt: skip
    model = transformers.LlamaForCausalLM(cfg).eval()
    wm = tm.dialects.unigram(watermark_key=123, vocab_size=1031, strength=4.0)
    prompts = torch.randint(3, 1031, (3, 5), generator=torch.Generator().manual_seed(1))
    torch.manual_seed(1)
    out = model.generate(
        prompts, attention_mask=torch.ones_like(prompts), do_sample=True, max_new_tokens=40,
        logits_processor=[wm.logits_processor()], pad_token_id=2,
    )  # fmt: skip
    res = wm.detect(out, prefix_lengths=5)
    assert (res.n_scored == 40).all() and (res.p_value < 1e-6).all()
    rep = wm.detect([[5] * 50], dedup=True)
    assert rep.n_scored[0] == 1
    with pytest.raises(ValueError, match="scores"):
        wm.logits_processor()(prompts, torch.zeros(3, 1000))


def test_null_over_keys_and_tokens_past_vocab():
    rng = np.random.default_rng(4)
    p = np.array([
        tm.dialects.unigram(int(k), 1019, 0.5).detect(rng.integers(0, 1019, size=(1, 200)))
        .p_value[0]
        for k in rng.integers(0, 2**62, size=300)
    ])  # fmt: skip
    us = np.array([0.01, 0.05, 0.1, 0.25, 0.5])
    frac = (p[:, None] <= us).mean(0)
    assert (frac <= us + 3 * np.sqrt(us * (1 - us) / len(p))).all(), frac
    res = tm.dialects.unigram(1, 100).detect([[150, 160]], return_flags=True)
    assert res.n_green[0] == 0 and res.green[0].tolist() == [0, 0]


def test_key_secret_and_bad_config():
    key = 98765432123
    wm = tm.dialects.unigram(key, 1000)
    assert str(key) not in repr(wm)
    with pytest.raises(ValueError, match="watermark_key") as e:
        tm.dialects.unigram(2**64 + key, 1000)
    assert str(key) not in str(e.value)
    with pytest.raises(ValueError, match="fraction"):
        tm.dialects.unigram(1, 1000, fraction=1.5)
    with pytest.raises(ValueError, match="vocab_size"):
        tm.dialects.unigram(1, 0)
    with pytest.raises(TypeError, match="watermark_key"):
        tm.dialects.unigram("k", 10)
