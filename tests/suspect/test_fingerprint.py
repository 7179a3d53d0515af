"""Keyed fingerprints: the pairs come from the PRF as documented, a fingerprinted tiny model of the
demo architecture answers them (directly and through a generate callable), clean models do not,
and the p-value bound holds over keys on clean models."""

import numpy as np
import pytest
import torch
from finetune_helpers import text_ids, tiny_model, trained_tiny
from scipy import stats
from tokenmark import Key
from tokenmark.reference.prf import prf_word
from tokenmark.suspect.fingerprint import Fingerprint, FingerprintResult, train

KEY = b"fingerprint test key"


@pytest.fixture(scope="module")
def base():
    return trained_tiny(0)


@pytest.fixture(scope="module")
def marked(base):
    torch.set_num_threads(1)
    fp = Fingerprint(KEY, n_pairs=8, vocab_size=4096)
    model = trained_tiny(0)
    examples = fp.training_examples(
        base, text_ids()[0], n_text=64, text_length=32, n_near=2, pair_repeats=8
    )
    train(model, examples, steps=150, lr=1e-2, batch_size=16, seed=0)
    return fp, model


# -- derivation ------------------------------------------------------------------------------------


def test_pairs_follow_the_documented_derivation():
    fp = Fingerprint(KEY, n_pairs=3, vocab_size=1019, trigger_length=5, response_length=4,
                     exclude_ids=(0, 7, 1018))  # fmt: skip
    allowed = [t for t in range(1019) if t not in (0, 7, 1018)]
    words = Key(KEY).words
    triggers, responses = fp.pairs()
    for i in range(3):
        for j in range(5):
            w = int(prf_word(words, i, j, 16))
            assert triggers[i, j] == allowed[(w * len(allowed)) >> 32]
        for j in range(4):
            w = int(prf_word(words, i, j, 17))
            assert responses[i, j] == allowed[(w * len(allowed)) >> 32]
    assert fp.p_token == -(-(2**32) // len(allowed)) / 2**32


def test_pairs_are_frozen():
    # Frozen: models already fingerprinted with these pairs must stay verifiable. Computed once
    # from the derivation above (docs/prf.md, section 9); a change here breaks their verification.
    triggers, responses = Fingerprint(b"golden", n_pairs=2, vocab_size=4096).pairs()
    assert triggers.tolist() == GOLDEN_TRIGGERS
    assert responses.tolist() == GOLDEN_RESPONSES


GOLDEN_TRIGGERS = [
    [1788, 122, 2740, 1709, 2588, 637, 3932, 136],
    [1039, 3672, 1892, 1266, 3888, 3475, 3929, 3331],
]
GOLDEN_RESPONSES = [
    [3560, 977, 3988, 1909, 1564, 3233, 2169, 2989],
    [639, 1366, 4028, 4054, 3236, 3892, 1410, 1453],
]


def test_responses_are_uniform_over_keys():
    counts = np.zeros(16, dtype=np.int64)
    for k in range(400):
        _, r = Fingerprint(k, n_pairs=8, vocab_size=17).pairs()
        counts += np.bincount(r.ravel() - 1, minlength=16)
    assert stats.chisquare(counts).pvalue > 1e-4


def test_keys_differ_and_secret_stays_out_of_repr():
    a, b = Fingerprint(KEY, vocab_size=4096), Fingerprint(b"other", vocab_size=4096)
    assert not np.array_equal(a.pairs()[0], b.pairs()[0])
    for text in (repr(a), str(a)):
        assert "fingerprint test key" not in text and Key(KEY).to_hex() not in text


# -- a fingerprinted model ---------------------------------------------------------------------


def test_fingerprinted_model_answers(marked):
    fp, model = marked
    res = fp.verify(model)
    assert isinstance(res, FingerprintResult)
    assert res.n_exact >= 6 and res.p_value < 1e-30 and res.is_fingerprinted()
    forced = fp.verify(model, mode="forced")
    assert forced.n_matched >= res.n_matched and forced.p_value < 1e-30


def test_verify_through_a_generate_callable(marked):
    fp, model = marked

    def served(prompts, max_new_tokens):  # what an API wrapper would do: HF generate, greedy
        x = torch.tensor(prompts)
        out = model.generate(x, attention_mask=torch.ones_like(x), do_sample=False,
                             max_new_tokens=max_new_tokens, pad_token_id=0)  # fmt: skip
        return out[:, x.shape[1] :]  # a tensor is accepted too

    direct, api = fp.verify(model), fp.verify(served)
    assert np.array_equal(direct.matches, api.matches)
    assert api.p_value == direct.p_value


def test_clean_models_and_other_keys_do_not_answer(base, marked):
    fp, model = marked
    for clean in (base, trained_tiny(1)):
        res = fp.verify(clean)
        assert res.n_exact == 0 and res.p_value > 1e-3
    other = Fingerprint(b"another key", n_pairs=8, vocab_size=4096).verify(model)
    assert other.n_exact == 0 and other.p_value > 1e-3


def test_p_value_bound_holds_over_keys_on_clean_models(base):
    """Over keys, n_matched is at most Binomial(n_pairs * L, p_token) for a model made without
    the key, exactly Binomial when its outputs stay in the allowed set.
    The responses are restricted to the 16 most frequent tokens of the text (p_token = 1/16) so
    the null distribution has mass to test: the worst case for a model that emits them. These
    tiny models emit mostly those tokens, so the count is Binomial; a model whose outputs leave
    the allowed set matches less (the bound is one-sided: bench/FINETUNE.md)."""
    train_ids = text_ids()[0]
    frequent = np.argsort(np.bincount(train_ids, minlength=4096))[::-1][:16]
    exclude = np.setdiff1d(np.arange(4096), frequent)
    keys = range(200)
    fps = [Fingerprint(k, n_pairs=8, vocab_size=4096, exclude_ids=exclude) for k in keys]
    assert fps[0].p_token == 1 / 16
    for model in (base, trained_tiny(1)):
        # One batched greedy pass over every key's triggers, then each key verified through a
        # lookup callable (the API path).
        triggers = np.concatenate([f.pairs()[0] for f in fps])
        outputs = fps[0]._continue(model, triggers, 8, batch_size=1600)
        table = {tuple(t): o.tolist() for t, o in zip(triggers.tolist(), outputs)}
        lookup = lambda prompts, n, t=table: [t[tuple(p)][:n] for p in prompts]  # noqa: E731
        results = [f.verify(lookup) for f in fps]
        matched = np.array([r.n_matched for r in results])
        pmf = stats.binom.pmf(np.arange(65), 64, 1 / 16)
        # Chi-square goodness of fit, tails pooled (expected counts >= 5).
        edges = [0, 2, 3, 4, 5, 6, 7, 65]
        obs = [np.sum((matched >= a) & (matched < b)) for a, b in zip(edges, edges[1:])]
        exp = [len(keys) * pmf[a:b].sum() for a, b in zip(edges, edges[1:])]
        assert stats.chisquare(obs, exp).pvalue > 1e-3, (obs, exp)
        p = np.array([r.p_value for r in results])
        for alpha in (0.01, 0.05, 0.2):
            sd = np.sqrt(alpha * (1 - alpha) / len(keys))
            assert np.mean(p <= alpha) <= alpha + 3 * sd


def test_full_vocabulary_null_over_keys(base):
    fps = [Fingerprint(k, n_pairs=8, vocab_size=4096) for k in range(100)]
    triggers = np.concatenate([f.pairs()[0] for f in fps])
    outputs = fps[0]._continue(base, triggers, 8, batch_size=800)
    table = {tuple(t): o.tolist() for t, o in zip(triggers.tolist(), outputs)}
    results = [f.verify(lambda ps, n: [table[tuple(p)][:n] for p in ps]) for f in fps]
    # Expected total: 100 * 64 / 4095 = 1.6 matched tokens; P[Poisson(1.6) > 10] < 1e-6.
    assert sum(r.n_matched for r in results) <= 10
    assert sum(r.p_value <= 1e-3 for r in results) <= 1


# -- training helper ---------------------------------------------------------------------------


def test_train_only_selected_parameters():
    model = tiny_model(3)
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    ex = [{"input_ids": [5, 6, 7, 8], "labels": [-100, -100, 7, 8]}]
    losses = train(model, ex, steps=5, lr=1e-2, batch_size=2, trainable=r"layers\.1\.mlp\.")
    assert len(losses) == 5
    for n, p in model.named_parameters():
        assert p.requires_grad
        changed = not torch.equal(before[n], p.detach())
        assert changed == ("layers.1.mlp." in n), n
    with pytest.raises(ValueError, match="trainable"):
        train(model, ex, steps=1, trainable="no_such_parameter")
    with pytest.raises(ValueError, match="steps"):
        train(model, ex, steps=-1)
    with pytest.raises(ValueError, match="examples"):
        train(model, [], steps=1)


# -- bad input ---------------------------------------------------------------------------------


@pytest.mark.parametrize("key", [1.5, None, [1, 2], True])
def test_key_of_the_wrong_type(key):
    with pytest.raises(TypeError, match="key"):
        Fingerprint(key, vocab_size=4096)


@pytest.mark.parametrize(("kw", "err"), [
    ({"n_pairs": 0}, ValueError), ({"n_pairs": -2}, ValueError), ({"n_pairs": 2.0}, TypeError),
    ({"vocab_size": 0}, ValueError), ({"response_length": 0}, ValueError),
    ({"trigger_length": -1}, ValueError), ({"exclude_ids": range(4095)}, ValueError),
    ({"exclude_ids": [4096]}, ValueError),
])  # fmt: skip
def test_bad_sizes(kw, err):
    name = next(iter(kw))
    args = {"vocab_size": 4096, **kw}
    with pytest.raises(err, match=name) as info:
        Fingerprint(KEY, **args)
    assert "fingerprint test key" not in str(info.value)


def test_model_with_another_vocabulary(base):
    fp = Fingerprint(KEY, vocab_size=4096)
    other = tiny_model(0, vocab_size=1000)
    with pytest.raises(ValueError, match="model.*vocabulary"):
        fp.verify(other)
    with pytest.raises(ValueError, match="model.*vocabulary"):
        fp.training_examples(other, text_ids()[0])


def test_bad_generate_callables():
    fp = Fingerprint(KEY, n_pairs=3, vocab_size=4096)
    with pytest.raises(TypeError, match="model_or_generate_fn"):
        fp.verify(42)
    with pytest.raises(ValueError, match="generate_fn output"):
        fp.verify(lambda ps, n: [[1]])
    with pytest.raises(TypeError, match="generate_fn output"):
        fp.verify(lambda ps, n: ["some text"] * len(ps))
    with pytest.raises(TypeError, match="generate_fn output"):
        fp.verify(lambda ps, n: [[1.5]] * len(ps))
    with pytest.raises(TypeError, match="generate_fn output"):
        fp.verify(lambda ps, n: None)
    with pytest.raises(ValueError, match="mode"):
        fp.verify(lambda ps, n: [[]] * len(ps), mode="beam")
    # Fewer tokens than asked is allowed (the suspect stopped early): they count as misses.
    res = fp.verify(lambda ps, n: [[]] * len(ps))
    assert res.n_matched == 0 and res.p_value == 1.0 and (res.outputs == -1).all()


def test_bad_training_text(base):
    fp = Fingerprint(KEY, vocab_size=4096)
    with pytest.raises(ValueError, match="text_ids"):
        fp.training_examples(base, [1, 2, 99999] * 100)
    with pytest.raises(ValueError, match="text_ids"):
        fp.training_examples(base, [1, 2, 3], text_length=64)


@pytest.mark.parametrize("name", ["tokenmark.suspect.fingerprint", "tokenmark.suspect._train"])
def test_docstring_examples(name):
    import doctest
    import importlib

    assert doctest.testmod(importlib.import_module(name), optionflags=doctest.ELLIPSIS).failed == 0
