"""SynthID-Text as transformers and synthid-text 0.2.1 make it, against tm.dialects.synthid_text:
their processors compute the g-values and masks in the test; their mean / weighted-mean scores
come from synthid_text/detector_mean.py (it imports jax, absent here: the test runs that file's
own functions with jax.numpy stood in by numpy, whose functions they use have the same
signatures). Those tests skip without the package; CI installs it (`pip install --no-deps
synthid-text==0.2.1`)."""

from __future__ import annotations

import importlib
import logging
import sys
import types

import numpy as np
import pytest
from scipy import stats

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")

import tokenmark as tm  # noqa: E402
from tokenmark.dialects import SynthIDText  # noqa: E402

Config = transformers.SynthIDTextWatermarkingConfig
KEYS9 = [654, 400, 836, 123, 340, 443, 597, 160, 57]  # the keys of their docs' example

CASES = [  # (keys, ngram_len, context_history_size, sampling_table_size, table seed)
    (KEYS9, 5, 1024, 2**16, 0),
    ([-5, 2**62 + 3, 7], 2, 3, 1000, 3),  # negative and huge keys, a non-power-of-2 table
    ([1], 1, 2, 17, 9),  # unigram: every context is empty, so all but the first repeat
    (list(range(100, 130)), 4, 16, 2**24, 2**40 + 1),
]


@pytest.fixture(autouse=True)
def _quiet_transformers():
    transformers.logging.set_verbosity_error()
    logging.getLogger("transformers").setLevel(logging.ERROR)


def their_mean_scores():
    """(mean_score, weighted_mean_score) from synthid-text's detector_mean.py, or None."""
    pytest.importorskip("synthid_text", reason="synthid-text not installed (pip --no-deps)")
    if "jax" not in sys.modules:
        fake = types.ModuleType("jax")
        fake.numpy = np
        sys.modules["jax"] = fake
        sys.modules["jax.numpy"] = np
    try:
        mod = importlib.import_module("synthid_text.detector_mean")
    finally:
        if isinstance(sys.modules.get("jax"), types.ModuleType) and sys.modules["jax"].numpy is np:
            del sys.modules["jax"], sys.modules["jax.numpy"]
    return mod.mean_score, mod.weighted_mean_score


@pytest.mark.parametrize("backend", ["cpu", "reference"])
@pytest.mark.parametrize("keys,ngram,hist,size,seed", CASES)
def test_g_values_and_masks_bit_exact_with_transformers(keys, ngram, hist, size, seed, backend):
    cfg = Config(keys=keys, ngram_len=ngram, context_history_size=hist,
                 sampling_table_size=size, sampling_table_seed=seed)  # fmt: skip
    proc = cfg.construct_processor(1000, "cpu")
    rng = np.random.default_rng(seed % 1000)
    x = rng.integers(0, 25, size=(4, 70))  # small alphabet: repeated contexts
    x[1, 50] = 2
    x[2, :3] = 2
    xt = torch.as_tensor(x)
    g = proc.compute_g_values(xt).numpy()
    mask = (
        proc.compute_context_repetition_mask(xt)
        * proc.compute_eos_token_mask(xt, 2)[:, ngram - 1 :]
    ).numpy()
    np.testing.assert_array_equal(
        SynthIDText.from_config(cfg).sampling_table, proc.sampling_table.numpy()
    )
    wm = SynthIDText.from_config(cfg, eos_token_id=2)
    res = wm.detect(x, return_g_values=True, backend=backend)
    np.testing.assert_array_equal(np.stack(res.g_values), g)
    np.testing.assert_array_equal(np.stack(res.mask), mask)
    np.testing.assert_array_equal(res.n_scored, mask.sum(1))
    np.testing.assert_array_equal(res.ones, (g * mask[:, :, None]).sum(1))
    # the exact p-value: binomial over n * depth g-values at the table's fraction of ones; a
    # table below 2^16 entries ties a position's layers: the n-fold sum of its position null
    q = proc.sampling_table.double().mean().item()
    want = stats.binom.sf(res.ones.sum(1) - 1, res.n_scored * len(keys), q)
    if size < 2**16:
        dists = [np.array([1.0])]
        for _ in range(res.n_scored.max()):
            dists.append(np.convolve(dists[-1], wm.position_null.pmf))
        want = [dists[n][k:].sum() for n, k in zip(res.n_scored, res.ones.sum(1))]
    np.testing.assert_allclose(res.p_value, np.where(res.n_scored > 0, want, 1.0), rtol=1e-12)


def test_synthid_text_package_g_values_agree():
    lp = pytest.importorskip("synthid_text.logits_processing",
                             reason="synthid-text not installed (pip --no-deps)")  # fmt: skip
    proc = lp.SynthIDLogitsProcessor(
        ngram_len=5, keys=KEYS9, sampling_table_size=2**16, sampling_table_seed=0,
        context_history_size=1024, temperature=0.7, top_k=40, device=torch.device("cpu"),
    )  # fmt: skip
    x = np.random.default_rng(3).integers(0, 40, size=(3, 80))
    xt = torch.as_tensor(x)
    g = proc.compute_g_values(xt).numpy()
    mask = proc.compute_context_repetition_mask(xt).numpy()
    mask = mask * proc.compute_eos_token_mask(xt, 1).numpy()[:, 4:]
    res = tm.dialects.synthid_text(KEYS9, 5, eos_token_id=1).detect(x, return_g_values=True)
    np.testing.assert_array_equal(np.stack(res.g_values), g)
    np.testing.assert_array_equal(np.stack(res.mask), mask)
    mean_score, weighted_mean_score = their_mean_scores()
    np.testing.assert_allclose(res.mean_score, mean_score(g.astype(float), mask), rtol=1e-12)
    np.testing.assert_allclose(
        res.weighted_score, weighted_mean_score(g.astype(float), mask), rtol=1e-12
    )


def tiny_llama(vocab: int):
    torch.manual_seed(0)
    cfg = transformers.LlamaConfig(
        vocab_size=vocab, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
        num_attention_heads=2, num_key_value_heads=2, max_position_embeddings=512,
        bos_token_id=1, eos_token_id=2, pad_token_id=2,
    )  # fmt: skip
    return transformers.LlamaForCausalLM(cfg).eval()


def test_their_generation_detected():
    vocab = 1031
    model = tiny_llama(vocab)
    cfg = Config(keys=KEYS9, ngram_len=4)
    prompts = torch.randint(3, vocab, (4, 5), generator=torch.Generator().manual_seed(2))
    torch.manual_seed(1)
    with torch.no_grad():
        out = model.generate(
            prompts, attention_mask=torch.ones_like(prompts), watermarking_config=cfg,
            do_sample=True, max_new_tokens=60, pad_token_id=2, temperature=1.0,
        )  # fmt: skip
        plain = model.generate(
            prompts, attention_mask=torch.ones_like(prompts), do_sample=True,
            max_new_tokens=60, pad_token_id=2,
        )  # fmt: skip
    proc = cfg.construct_processor(vocab, "cpu")
    g = proc.compute_g_values(out).numpy()
    mask = (
        proc.compute_context_repetition_mask(out) * proc.compute_eos_token_mask(out, 2)[:, 3:]
    ).numpy()
    wm = SynthIDText.from_config(cfg, eos_token_id=2)
    res = wm.detect(out, return_g_values=True)
    np.testing.assert_array_equal(np.stack(res.g_values), g)
    np.testing.assert_array_equal(np.stack(res.mask), mask)
    gen = wm.detect(out, prefix_lengths=prompts.shape[1])
    # a near-uniform random model: their tournament lifts the mean g-value well above 1/2
    assert (gen.mean_score > 0.6).all() and (gen.p_value < 1e-6).all(), gen.mean_score
    assert (wm.detect(plain, prefix_lengths=prompts.shape[1]).p_value > 1e-4).all()


def test_null_pvalues_valid_per_key_and_over_keys():
    """Tokens independent of the keys: P[p <= u] <= u (+ slack) per key (400 documents of 100
    uniform tokens) and over 20 keys. The binomial assumes independent g-values; the table
    (2^16 entries, indexed by the hash's low 16 bits) ties the layers of one position through
    one 16-bit number, which this checks does not break the test at these sizes."""
    rng = np.random.default_rng(21)
    us = np.array([0.01, 0.05, 0.1, 0.25, 0.5])
    all_p = []
    for key in range(20):
        keys = rng.integers(0, 2**62, size=10).tolist()
        wm = tm.dialects.synthid_text(keys, ngram_len=3, sampling_table_seed=key)
        p = wm.detect(rng.integers(0, 32000, size=(400, 100)), dedup=True).p_value
        frac = (p[:, None] <= us).mean(0)
        assert (frac <= us + 4 * np.sqrt(us * (1 - us) / 400)).all(), (key, frac)
        all_p.append(p)
    p = np.concatenate(all_p)
    frac = (p[:, None] <= us).mean(0)
    assert (frac <= us + 3 * np.sqrt(us * (1 - us) / len(p))).all(), frac
    assert frac[-1] > 0.4


@pytest.mark.skipif(torch.cuda.is_available(), reason="a GPU is present: the table is drawn")
def test_cuda_table_refused_without_a_gpu():
    with pytest.raises(ValueError, match="CUDA"):
        tm.dialects.synthid_text(KEYS9, device="cuda").detect([[1, 2, 3, 4, 5, 6]])


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")
def test_cuda_table_and_g_values_match_transformers_on_the_gpu():
    cfg = Config(keys=KEYS9, ngram_len=5)
    proc = cfg.construct_processor(1000, "cuda")
    wm = SynthIDText.from_config(cfg, device="cuda")
    np.testing.assert_array_equal(wm.sampling_table, proc.sampling_table.cpu().numpy())
    x = torch.randint(0, 50, (3, 60), generator=torch.Generator().manual_seed(0))
    g = proc.compute_g_values(x.cuda()).cpu().numpy()
    np.testing.assert_array_equal(np.stack(wm.detect(x.cuda(), return_g_values=True).g_values), g)


def test_keys_never_shown_and_config_roundtrip():
    keys = [987654321987, 123456789123]
    wm = tm.dialects.synthid_text(keys)
    assert all(str(k) not in repr(wm) for k in keys)
    d = wm.to_config_dict()
    assert "keys" not in d
    back = SynthIDText.from_config({**d, "keys": keys})
    assert back == wm
    assert SynthIDText.from_config(Config(keys=keys, ngram_len=5).to_dict()) == wm


@pytest.mark.parametrize(
    "kw,err,match",
    [
        (dict(keys=[]), ValueError, "keys"),
        (dict(keys="abc"), TypeError, "keys"),
        (dict(keys=[1.5]), TypeError, "keys"),
        (dict(keys=[2**63]), ValueError, "keys"),
        (dict(keys=[1], ngram_len=0), ValueError, "ngram_len"),
        (dict(keys=[1], sampling_table_size=2**24 + 1), ValueError, "sampling_table_size"),
        (dict(keys=[1], context_history_size=0), ValueError, "context_history_size"),
        (dict(keys=[1], device="tpu"), ValueError, "device"),
        (dict(keys=[1], eos_token_id=1.0), TypeError, "eos_token_id"),
    ],
)
def test_bad_config(kw, err, match):
    with pytest.raises(err, match=match):
        SynthIDText(**kw)


def test_bad_input_and_short_documents():
    wm = tm.dialects.synthid_text([1, 2, 3], ngram_len=3)
    res = wm.detect([[], [5], [5, 6], [5, 6, 7]])
    assert res.n_scored.tolist() == [0, 0, 0, 1]
    assert res.p_value[:3].tolist() == [1.0, 1.0, 1.0]
    with pytest.raises(ValueError, match="weights"):
        wm.detect([[1, 2, 3, 4]], weights=[1.0, 2.0])
    with pytest.raises(ValueError, match="token ids must be >= 0"):
        wm.detect([[1, -2, 3]])
    with pytest.raises(ValueError, match="backend"):
        wm.detect([[1, 2, 3, 4]], backend="cuda")
    with pytest.raises(ValueError, match="debug_mode"):
        SynthIDText.from_config(Config(keys=[1], ngram_len=2, debug_mode=True))


@pytest.mark.parametrize("backend", ["cpu", "reference"])
def test_fused_detector_matches_the_composed_g_values(backend):
    """The fused counts (ops.score_synthid_text) against the composed path (every n-gram's
    g-values, numpy masks) that return_g_values runs: same n_scored and ones, on repetitive
    documents with EOS, prompts, zero-length documents and tables of 2^k and other sizes."""
    rng = np.random.default_rng(11)
    docs = [rng.integers(0, hi, size=n).tolist() for hi, n in
            ((5, 0), (5, 3), (3, 40), (7, 200), (1000, 300), (4, 1100))]  # fmt: skip
    pre = [0, 1, 5, 0, 9, 2]
    for size, hist, n in ((2**10, 1024, 5), (1000, 3, 2), (2**16, 30, 4)):
        wm = tm.dialects.synthid_text(
            keys=list(range(1, 12)), ngram_len=n, eos_token_id=2, context_history_size=hist,
            sampling_table_size=size,
        )  # fmt: skip
        for mask in (True, False):
            a = wm.detect(docs, prefix_lengths=pre, mask_repeated_contexts=mask, backend=backend)
            b = wm.detect(docs, prefix_lengths=pre, mask_repeated_contexts=mask,
                          return_g_values=True, backend=backend)  # fmt: skip
            np.testing.assert_array_equal(a.n_scored, b.n_scored)
            np.testing.assert_array_equal(a.ones, b.ones)
            np.testing.assert_array_equal(a.p_value, b.p_value)
