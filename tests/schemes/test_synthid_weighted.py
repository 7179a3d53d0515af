"""SynthID's weighted-mean score, its z and its p-value, computed independently of
``tokenmark.stats.weighted_mean_z``:

- by hand from the g-values themselves (the reference PRF's bits, dedup by (context, token)),
  with the null mean and variance summed over every scored g-value (each an independent fair
  coin, weighted by its layer's weight);
- exactly, by enumerating every assignment of g-values of small documents: the z-score has mean
  0 and variance 1;
- by Monte Carlo on random token sequences under several keys: the false-positive rate of
  ``weighted_p_value`` at alpha is alpha within an exact binomial bound.
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import tokenmark as tm
from scipy import stats
from tokenmark.reference.prf import DOMAIN_SYNTHID_G, context_hash, prf_word
from tokenmark.stats import weighted_mean_z

WEIGHTS = {
    "default": None,  # linear from 10 (layer 0) to 1 (the last layer), documented in detect()
    "uneven": np.array([0.0, 7.0, 1.0, 3.0, 0.5, 2.0]),
}


def default_weights(layers: int) -> np.ndarray:
    return np.linspace(10.0, 1.0, layers)


def g_values(doc, key: tm.Key, width: int, layers: int, prefix: int) -> np.ndarray:
    """[counted tokens, layers] g-values of one document: bit l of the PRF word of (context,
    token) in SynthID's domain, each (context hash, token) pair counted once."""
    rows, seen = [], set()
    for i in range(max(width, prefix), len(doc)):
        ctx = int(context_hash(np.asarray(doc[i - width : i]), 0))
        if (ctx, int(doc[i])) in seen:
            continue
        seen.add((ctx, int(doc[i])))
        word = int(prf_word(key.words, ctx, int(doc[i]), DOMAIN_SYNTHID_G))
        rows.append([(word >> layer) & 1 for layer in range(layers)])
    return np.array(rows, dtype=np.int64).reshape(-1, layers)


@pytest.mark.parametrize("weights", list(WEIGHTS))
@pytest.mark.parametrize("width", [0, 4])
def test_weighted_z_from_the_g_values(weights, width):
    """score = sum over the scored g-values of a[t, l] g[t, l] with a[t, l] = w_l / (n sum w);
    under the null its mean is sum a / 2 and its variance sum a^2 / 4 (independent fair coins)."""
    layers = 6
    rng = np.random.default_rng(width)
    lengths = [0, 1, 3, 5, 12, 40, 90, 200]
    docs = [rng.integers(0, 9, n) for n in lengths]  # 9 token ids: repeated pairs for dedup
    prefix = rng.integers(0, 6, len(docs))
    wm = tm.SynthID(key=b"weighted z", layers=layers, context_width=width)
    res = wm.detect(docs, prefix_lengths=prefix, weights=WEIGHTS[weights])
    w = default_weights(layers) if weights == "default" else WEIGHTS[weights]
    for d, doc in enumerate(docs):
        g = g_values(doc, wm.key, width, layers, int(prefix[d]))
        n = len(g)
        assert res.n_scored[d] == n
        np.testing.assert_array_equal(res.ones[d], g.sum(axis=0))
        if n == 0:
            assert np.isnan(res.weighted_score[d]) and res.weighted_z[d] == 0
            assert res.weighted_p_value[d] == 1
            continue
        a = np.broadcast_to(w / (n * w.sum()), g.shape)  # each g-value's coefficient
        score = (a * g).sum()
        z = (score - a.sum() / 2) / np.sqrt((a**2).sum() / 4)
        assert res.weighted_score[d] == pytest.approx(score, rel=1e-12)
        assert res.weighted_z[d] == pytest.approx(z, rel=1e-9, abs=1e-12)
        assert res.weighted_p_value[d] == pytest.approx(stats.norm.sf(z), rel=1e-9, abs=1e-300)
    assert (res.n_scored[3:] > 0).all() and np.ptp(res.weighted_z[3:]) > 1  # not all equal


@pytest.mark.parametrize("n", [1, 2, 3])
def test_weighted_z_is_standardised_over_every_g_assignment(n):
    """All 2^(n x layers) equally likely assignments of g-values to n tokens: over them the
    z-score (``weighted_mean_z``, behind ``SynthID.detect``) has mean 0 and variance 1, what
    standardising means, for uneven weights."""
    layers = 4
    w = np.array([5.0, 0.5, 2.0, 1.0])
    g = np.array(list(itertools.product([0, 1], repeat=n * layers))).reshape(-1, n, layers)
    ones = g.sum(axis=1).astype(np.float64)
    score, z, p = weighted_mean_z(ones, np.full(len(ones), n), w)
    assert z.mean() == pytest.approx(0, abs=1e-12)
    assert (z**2).mean() == pytest.approx(1, rel=1e-12)
    np.testing.assert_allclose(score, ones @ w / (n * w.sum()), rtol=1e-12)
    np.testing.assert_allclose(p, stats.norm.sf(z), rtol=1e-12)


def test_weighted_p_value_null_false_positive_rate_over_keys():
    """8 keys x 4000 random documents of 40-300 tokens (vocabulary 32000: repeated pairs are
    rare): the (key, document) tests are independent, so the number of p-values <= alpha is
    Binomial(32000, alpha) up to the normal approximation; it must not be in either 1e-3 tail.
    A variance 5% too small (z 5% too large) gives 0.0136 at 0.01: about 6 sd out."""
    rng = np.random.default_rng(17)
    counts = {0.05: 0, 0.01: 0}
    n_docs, n_keys = 4000, 8
    for k in range(n_keys):
        lengths = rng.integers(40, 300, n_docs)
        offsets = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
        tokens = rng.integers(0, 32000, offsets[-1]).astype(np.int32)
        p = tm.SynthID(key=f"weighted null {k}").detect(tm.Ragged(tokens, offsets)).weighted_p_value
        for alpha in counts:
            counts[alpha] += int((p <= alpha).sum())
    trials = n_docs * n_keys
    for alpha, fp in counts.items():
        assert stats.binom.sf(fp - 1, trials, alpha) > 1e-3, (alpha, fp / trials)
        assert stats.binom.cdf(fp, trials, alpha) > 1e-3, (alpha, fp / trials)
