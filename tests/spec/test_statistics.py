"""Detection is statistics: null calibration, power, dedup and the windowed detector."""

import numpy as np
import pytest
import tokenmark as tm
from scipy import stats
from tokenmark import Ragged


def random_docs(rng, n_docs, length, vocab=32000):
    tokens = rng.integers(0, vocab, n_docs * length).astype(np.int32)
    return Ragged(tokens, np.arange(n_docs + 1, dtype=np.int64) * length)


@pytest.mark.parametrize("seeding", ["prev", "minhash"])
def test_null_pvalues_uniform_and_fpr_holds(seeding):
    rng = np.random.default_rng(7)
    wm = tm.KGW(key=b"null test", gamma=0.25, context_width=4, seeding=seeding)
    n_docs = 5000
    # Lengths vary so the discreteness of short documents is part of the test.
    lengths = rng.integers(50, 400, n_docs)
    offsets = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
    docs = Ragged(rng.integers(0, 32000, offsets[-1]).astype(np.int32), offsets)
    res = wm.detect(docs)
    # Exact binomial p-values of discrete counts are conservative (P[p <= a] <= a), not exactly
    # uniform: test uniformity with the randomised p-value, which IS exactly uniform under the
    # null, and test the plain p-value's false-positive rate against alpha directly.
    u = rng.random(n_docs)
    pmf = stats.binom.pmf(res.n_green, res.n_scored, res.gamma)
    p_rand = res.p_value - u * pmf
    assert stats.kstest(p_rand, "uniform").pvalue > 0.001
    alpha = 0.01
    fp = int((res.p_value <= alpha).sum())
    # One-sided binomial bound: the count of false positives must not exceed what alpha allows.
    assert stats.binom.sf(fp - 1, n_docs, alpha) > 0.001, fp


def test_null_on_repetitive_text_with_dedup():
    # Human text repeats itself; with dedup the repeats do not inflate the score.
    rng = np.random.default_rng(3)
    wm = tm.KGW(key=b"k", gamma=0.25, context_width=2)
    base = rng.integers(0, 500, (2000, 30))
    docs = np.concatenate([base] * 6, axis=1)  # every document says the same thing 6 times
    res = wm.detect(docs)
    assert (res.p_value <= 0.01).mean() < 0.02
    res_all = wm.detect(docs, dedup=False)
    # Without dedup the false-positive rate explodes: that is why dedup is the default.
    assert (res_all.p_value <= 0.01).mean() > 0.03


def test_repeated_watermarked_sentence_not_more_significant():
    # A document repeating one watermarked sentence 50 times is no more significant than once.
    rng = np.random.default_rng(5)
    wm = tm.KGW(key=b"k", gamma=0.25, delta=4.0, context_width=4)
    sentence = _generate_watermarked(wm, rng, 40)
    once = wm.detect([sentence])
    many = wm.detect([np.tile(sentence, 50)])
    assert once.p_value[0] < 1e-3
    # The repeats add at most the few pairs whose context spans the seam between two copies.
    assert many.n_scored[0] <= once.n_scored[0] + wm.context_width
    assert many.p_value[0] >= once.p_value[0] * 1e-3


def _generate_watermarked(wm, rng, n, vocab=1000, prompt=(1, 2, 3, 4)):
    """Sample n tokens from uniform logits with the watermark applied (a max-entropy model)."""
    ids = list(prompt)
    for _ in range(n):
        logits = np.zeros((1, vocab), dtype=np.float32)
        wm.apply_(logits, np.array([ids]))
        p = np.exp(logits[0] - logits[0].max())
        ids.append(int(rng.choice(vocab, p=p / p.sum())))
    return np.array(ids[len(prompt) :])


def test_power_matches_theory_on_uniform_model():
    # Uniform model over V tokens: after the bias a token is green with probability
    # gamma e^delta / (gamma e^delta + 1 - gamma). The measured fraction must match it.
    rng = np.random.default_rng(11)
    wm = tm.KGW(key=b"power", gamma=0.25, delta=2.0, context_width=1)
    docs = [_generate_watermarked(wm, rng, 200, prompt=(7,)) for _ in range(10)]
    res = wm.detect(docs, prefix_lengths=0)
    expected = 0.25 * np.e**2 / (0.25 * np.e**2 + 0.75)
    frac = res.n_green.sum() / res.n_scored.sum()
    se = np.sqrt(expected * (1 - expected) / res.n_scored.sum())
    assert abs(frac - expected) < 4 * se
    assert (res.p_value < 1e-6).all()


def test_window_finds_watermarked_span_in_human_text():
    rng = np.random.default_rng(2)
    wm = tm.KGW(key=b"k", gamma=0.25, delta=4.0, context_width=4)
    span = _generate_watermarked(wm, rng, 80)
    human = rng.integers(0, 1000, 2000)
    doc = np.concatenate([human[:1000], span, human[1000:]])
    res = wm.detect([doc], window=80)
    assert res.p_value[0] > 1e-4  # the whole document is diluted...
    assert res.window_p_value[0] < 1e-6  # ...but the span stands out, even after correction
    assert abs(res.window_start[0] - 1000) < 40
    null = wm.detect([human], window=80)
    assert null.window_p_value[0] > 0.01
