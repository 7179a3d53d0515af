"""transformers' KGW (WatermarkLogitsProcessor / WatermarkDetector) against tm.dialects: their
own detector and their own generation are the expectations, computed in the test."""

from __future__ import annotations

import logging

import numpy as np
import pytest
from scipy import stats

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")

import tokenmark as tm  # noqa: E402
from tokenmark.dialects import TransformersKGW  # noqa: E402

WatermarkDetector = transformers.WatermarkDetector
WatermarkingConfig = transformers.WatermarkingConfig

KEYS = [15485863, 7, 2**62 + 12345, 2**63 - 1]  # large keys wrap int64 in selfhash's products


@pytest.fixture(autouse=True)
def _quiet_transformers():
    transformers.logging.set_verbosity_error()
    logging.getLogger("transformers").setLevel(logging.ERROR)


def model_config(vocab: int, bos: int = 0):
    return transformers.GPT2Config(vocab_size=vocab, bos_token_id=bos, eos_token_id=bos)


def theirs(cfg, vocab, x, ignore=False, bos=0):
    det = WatermarkDetector(
        model_config=model_config(vocab, bos), device="cpu", watermarking_config=cfg,
        ignore_repeated_ngrams=ignore,
    )  # fmt: skip
    return det(torch.as_tensor(x), return_dict=True)


def random_docs(rng, n_docs, length, hi, lo=1):
    x = rng.integers(lo, hi, size=(n_docs, length))
    x[:, length // 2 : length // 2 + 10] = x[:, :10]  # repeated n-grams
    return x


@pytest.mark.parametrize("scheme", ["lefthash", "selfhash"])
@pytest.mark.parametrize("width", [1, 2, 4])
@pytest.mark.parametrize("ignore", [False, True])
def test_same_counts_and_z_as_their_detector(scheme, width, ignore):
    rng = np.random.default_rng(width * 10 + ignore)
    for key, vocab in zip(KEYS, [1019, 50257, 32000, 1019]):
        cfg = WatermarkingConfig(
            seeding_scheme=scheme, context_width=width, hashing_key=key, greenlist_ratio=0.3
        )
        # small alphabets repeat n-grams; ids past vocab_size (wider logits) are never green
        x = random_docs(rng, 4, 37, hi=min(vocab + 30, 60 if ignore else vocab + 30))
        x[0, 5] = vocab + 3
        want = theirs(cfg, vocab, x, ignore)
        wm = TransformersKGW.from_config(
            cfg, model_config=model_config(vocab), ignore_repeated_ngrams=ignore
        )
        for backend in ("cpu", "reference"):
            got = wm.detect(x, backend=backend)
            np.testing.assert_array_equal(got.n_scored, want.num_tokens_scored)
            np.testing.assert_array_equal(got.n_green, want.num_green_tokens)
            np.testing.assert_array_equal(got.z, want.z_score)  # same float operations
        p = wm.gamma_effective
        np.testing.assert_allclose(
            got.p_value, stats.binom.sf(got.n_green - 1, got.n_scored, p), rtol=1e-12
        )


def test_ragged_documents_and_bos_match_one_by_one():
    rng = np.random.default_rng(5)
    cfg = WatermarkingConfig(seeding_scheme="selfhash", context_width=3, hashing_key=99)
    vocab = 1019
    docs = [rng.integers(1, vocab, size=n).tolist() for n in (3, 4, 5, 20, 64)]
    docs[3] = [0] + docs[3]  # a leading BOS is removed first, as theirs does
    wm = TransformersKGW.from_config(cfg, model_config=model_config(vocab))
    got = wm.detect(docs)
    for d, doc in enumerate(docs):
        if len(doc) <= 3:  # theirs refuses any sequence not longer than context_width, though
            with pytest.raises(ValueError, match="at least"):  # selfhash scores one here
                theirs(cfg, vocab, [doc])
            assert got.n_scored[d] == len(doc) - 2
            continue
        want = theirs(cfg, vocab, [doc])
        assert got.n_scored[d] == want.num_tokens_scored[0]
        assert got.n_green[d] == want.num_green_tokens[0]
    short = wm.detect([[5], [0, 5], []])  # nothing to score: theirs raises, ours says so
    assert short.n_scored.tolist() == [0, 0, 0]
    assert short.p_value.tolist() == [1.0, 1.0, 1.0] and short.z.tolist() == [0.0, 0.0, 0.0]


def test_prefix_lengths_and_flags():
    rng = np.random.default_rng(6)
    wm = tm.dialects.transformers_kgw(hashing_key=3, vocab_size=1019, context_width=2)
    x = rng.integers(0, 1019, size=(3, 30))
    full = wm.detect(x, return_flags=True)
    pre = wm.detect(x, prefix_lengths=[0, 10, 40], return_flags=True)
    for d, p in enumerate([0, 10, 40]):
        g = full.green[d].copy()
        g[:p] = -1
        np.testing.assert_array_equal(pre.green[d], g)
        assert pre.n_scored[d] == (g >= 0).sum() and pre.n_green[d] == (g == 1).sum()
    assert (full.green[0][:2] == -1).all() and (full.green[0][2:] >= 0).all()


def tiny_llama(vocab: int, seed: int):
    torch.manual_seed(seed)
    cfg = transformers.LlamaConfig(
        vocab_size=vocab, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
        num_attention_heads=2, num_key_value_heads=2, max_position_embeddings=256,
        bos_token_id=1, eos_token_id=2, pad_token_id=2,
    )  # fmt: skip
    return transformers.LlamaForCausalLM(cfg).eval()


@pytest.mark.parametrize(
    "scheme,width,key,vocab",
    [("lefthash", 1, 15485863, 1031), ("lefthash", 3, 2**62 + 1, 4096),
     ("selfhash", 2, 424242, 1031)],
)  # fmt: skip
def test_their_generation_detected_with_same_counts(scheme, width, key, vocab):
    model = tiny_llama(vocab, seed=width)
    wcfg = WatermarkingConfig(bias=6.0, seeding_scheme=scheme, context_width=width, hashing_key=key)
    prompts = torch.randint(3, vocab, (3, 6), generator=torch.Generator().manual_seed(1))
    prompts[:, 0] = 1  # BOS
    torch.manual_seed(0)
    with torch.no_grad():
        out = model.generate(
            prompts, attention_mask=torch.ones_like(prompts), watermarking_config=wcfg,
            do_sample=True, max_new_tokens=40, pad_token_id=2,
        )  # fmt: skip
    want = theirs(wcfg, vocab, out, bos=1)
    wm = TransformersKGW.from_config(wcfg, model_config=model.config)
    got = wm.detect(out)
    np.testing.assert_array_equal(got.n_scored, want.num_tokens_scored)
    np.testing.assert_array_equal(got.n_green, want.num_green_tokens)
    # the generated part (the prompt as context) carries the watermark: bias 6 on a near-flat
    # random model makes almost every generated token green
    gen = wm.detect(out, prefix_lengths=prompts.shape[1])
    assert (gen.n_green >= 0.8 * gen.n_scored).all()
    assert (gen.p_value < 1e-10).all()
    plain = model.generate(
        prompts, attention_mask=torch.ones_like(prompts), do_sample=True, max_new_tokens=40,
        pad_token_id=2,
    )  # fmt: skip
    assert (wm.detect(plain, prefix_lengths=prompts.shape[1]).p_value > 1e-4).all()


def test_our_processor_is_theirs_and_biases_their_green_list():
    wm = tm.dialects.transformers_kgw(hashing_key=11, vocab_size=1019, bias=1.5)
    proc = wm.logits_processor()
    ids = torch.tensor([[5, 9, 700]])
    scores = torch.zeros(1, 1019)
    biased = proc(ids, scores.clone())
    green = np.flatnonzero(biased[0].numpy() == 1.5)
    assert len(green) == wm.green_size
    # each biased token, appended, is green to our detector (its seed is 11 * 700)
    res = wm.detect([[700, int(t)] for t in green[:50]], return_flags=True)
    assert res.n_green.tolist() == [1] * 50


US = np.array([0.01, 0.05, 0.1, 0.25, 0.5])


def _super_uniform(p, slack_se):
    """P[p <= u] <= u (+ slack standard errors) at several u: the p-value is discrete, so a KS
    test of uniformity would reject for the wrong reason."""
    frac = (p[:, None] <= US).mean(axis=0)
    return (frac <= US + slack_se * np.sqrt(US * (1 - US) / len(p))).all(), frac


def test_null_pvalues_lefthash_valid_per_key_and_over_keys():
    """Tokens drawn independently of the key (uniform over 1019 ids, 400 documents x 100
    tokens, 20 keys): lefthash's lists have exactly green_size tokens, so every key's null green
    rate is gamma_effective and the exact p-value is valid key by key."""
    rng = np.random.default_rng(11)
    all_p = []
    for key in range(20):
        wm = tm.dialects.transformers_kgw(hashing_key=1000 + key, vocab_size=1019,
                                          context_width=1 + key % 2,
                                          ignore_repeated_ngrams=True)  # fmt: skip
        p = wm.detect(rng.integers(0, 1019, size=(400, 100))).p_value
        ok, frac = _super_uniform(p, 4)
        assert ok, (key, frac)
        all_p.append(p)
    ok, frac = _super_uniform(np.concatenate(all_p), 3)
    assert ok, frac
    assert frac[-1] > 0.4  # and not grossly conservative


def test_selfhash_null_is_valid_over_keys_but_biased_per_key():
    """selfhash seeds a token's list with the token itself: with context_width 1 the token t is
    green iff t is in its own list, a fixed set S per key, so one key's null green rate is
    |S| / vocab, not gamma (their scheme's property, measured here: the p-value is exact over
    random keys only). Over 20 keys the p-values are valid; per key the rate is |S| / vocab."""
    rng = np.random.default_rng(12)
    vocab, rates = 1019, []
    for key in range(20):
        wm = tm.dialects.transformers_kgw(hashing_key=2000 + key, vocab_size=vocab,
                                          seeding_scheme="selfhash")  # fmt: skip
        res = wm.detect(rng.integers(0, vocab, size=(200, 100)))
        ids = np.arange(vocab)
        s_rate = wm.detect(np.stack([ids, ids], axis=1)).n_green.sum() / (2 * vocab)
        rate = res.n_green.sum() / res.n_scored.sum()
        assert abs(rate - s_rate) < 4 * np.sqrt(s_rate * (1 - s_rate) / res.n_scored.sum())
        rates.append(s_rate)
    # over keys: one document per key, so the p-values are independent
    p = np.array([
        tm.dialects.transformers_kgw(hashing_key=3000 + key, vocab_size=vocab,
                                     seeding_scheme="selfhash")
        .detect(rng.integers(0, vocab, size=(1, 100))).p_value[0]
        for key in range(300)
    ])  # fmt: skip
    ok, frac = _super_uniform(p, 3)
    assert ok, frac
    assert np.std(rates) > 0.005  # the per-key spread is real (binomial: ~0.0136)


@pytest.mark.skipif(torch.cuda.is_available(), reason="a GPU is present: the lists are drawn")
def test_cuda_lists_refused_without_a_gpu():
    wm = tm.dialects.transformers_kgw(hashing_key=5, vocab_size=1019, device="cuda")
    with pytest.raises(ValueError, match="CUDA generator"):
        wm.detect([[1, 2, 3, 4]])


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")
@pytest.mark.parametrize("scheme", ["lefthash", "selfhash"])
def test_cuda_lists_match_their_detector_on_the_gpu(scheme):
    cfg = WatermarkingConfig(hashing_key=5, seeding_scheme=scheme, context_width=2)
    x = np.random.default_rng(0).integers(0, 1019, size=(3, 40))
    det = WatermarkDetector(model_config=model_config(1019), device="cuda",
                            watermarking_config=cfg)  # fmt: skip
    want = det(torch.as_tensor(x).cuda(), return_dict=True)
    wm = TransformersKGW.from_config(cfg, model_config=model_config(1019), device="cuda")
    got = wm.detect(torch.as_tensor(x).cuda())
    np.testing.assert_array_equal(got.n_green, want.num_green_tokens)
    np.testing.assert_array_equal(got.n_scored, want.num_tokens_scored)


def test_key_never_shown():
    key = 987654321987
    wm = tm.dialects.transformers_kgw(hashing_key=key, vocab_size=1019)
    assert str(key) not in repr(wm) and str(key) not in str(wm)
    assert "hashing_key" not in wm.to_config_dict()
    assert wm.to_config_dict(include_key=True)["hashing_key"] == key
    with pytest.raises(ValueError) as e:
        tm.dialects.transformers_kgw(hashing_key=-key, vocab_size=1019)
    assert str(key) not in str(e.value)


@pytest.mark.parametrize(
    "kw,err,match",
    [
        (dict(seeding_scheme="minhash"), ValueError, "seeding_scheme"),
        (dict(greenlist_ratio=1.0), ValueError, "greenlist_ratio"),
        (dict(greenlist_ratio=float("nan")), ValueError, "greenlist_ratio"),
        (dict(greenlist_ratio=1e-6), ValueError, "greenlist_ratio"),
        (dict(vocab_size=0), ValueError, "vocab_size"),
        (dict(vocab_size=10.5), TypeError, "vocab_size"),
        (dict(context_width=0), ValueError, "context_width"),
        (dict(hashing_key="abc"), TypeError, "hashing_key"),
        (dict(hashing_key=2**63), ValueError, "hashing_key"),
        (dict(device="tpu"), ValueError, "device"),
        (dict(bias=float("inf")), ValueError, "bias"),
    ],
)
def test_bad_config(kw, err, match):
    with pytest.raises(err, match=match):
        tm.dialects.transformers_kgw(**{"vocab_size": 1019, **kw})


def test_bad_input():
    wm = tm.dialects.transformers_kgw(vocab_size=1019)
    with pytest.raises(ValueError, match="token ids must be >= 0"):
        wm.detect([[1, -2, 3]])
    with pytest.raises(TypeError, match="string"):
        wm.detect("some text")
    with pytest.raises(ValueError, match="prefix_lengths"):
        wm.detect([[1, 2, 3]], prefix_lengths=[-1])
    with pytest.raises(ValueError, match="backend"):
        wm.detect([[1, 2, 3]], backend="cuda")
    with pytest.raises(ValueError, match="vocab_size"):
        TransformersKGW.from_config(WatermarkingConfig())
    with pytest.raises(ValueError, match="not a KGW"):
        TransformersKGW.from_config({"ngram_len": 5, "keys": [1, 2]}, vocab_size=10)
