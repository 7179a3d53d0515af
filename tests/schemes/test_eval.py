"""The evaluation harness's pieces: attacks do what they claim, the rates and intervals are
right on synthetic scores, the diversity and spike-entropy formulas on hand-computed cases, and the
scheme adapters give calibrated p-values on unwatermarked text and tiny ones on watermarked text."""

import dataclasses
import math

import numpy as np
import pytest
import torch
from scipy import stats
from tokenmark import KGW, Gumbel, SynthID
from tokenmark.evaluation import attacks, metrics
from tokenmark.evaluation.schemes import (
    EvalScheme,
    GumbelScheme,
    KGWScheme,
    NoWatermark,
    SynthIDScheme,
)
from tokenmark.integrations.transformers import GumbelLogitsProcessor, SynthIDLogitsProcessor


@pytest.mark.parametrize("rate", [0.05, 0.2, 0.5])
def test_substitution_changes_that_fraction(rate):
    rng = np.random.default_rng(1)
    x = rng.integers(0, 4096, 500)
    y = attacks.substitute(x, rate, 4096, rng)
    assert len(y) == len(x) and y.dtype == x.dtype
    assert int((y != x).sum()) == round(rate * 500)  # every chosen position really changes
    assert x.max() < 4096 and y.min() >= 0 and y.max() < 4096


def test_substitution_with_a_sampler_and_vocab_two():
    rng = np.random.default_rng(2)
    x = np.zeros(40, dtype=np.int64)
    y = attacks.substitute(x, 0.25, 2, rng)
    assert (y != 0).sum() == 10 and set(np.unique(y)) == {0, 1}
    z = attacks.substitute(x, 0.5, 100, rng, sampler=lambda pos: pos + 1000)
    changed = np.flatnonzero(z != x)
    assert len(changed) == 20 and np.array_equal(z[changed], changed + 1000)


@pytest.mark.parametrize("rate", [0.05, 0.3])
def test_insertion_and_deletion_keep_the_rest_in_order(rate):
    rng = np.random.default_rng(3)
    x = np.arange(10_000, 10_400)  # distinct ids above the attack's vocab, easy to trace
    k = round(rate * len(x))
    ins = attacks.insert(x, rate, 4096, rng)
    assert len(ins) == len(x) + k
    kept = ins[ins >= 10_000]
    assert np.array_equal(kept, x) and (ins[ins < 10_000] < 4096).all()
    dele = attacks.delete(x, rate, rng)
    assert len(dele) == len(x) - k
    assert np.all(np.diff(dele) > 0) and np.isin(dele, x).all()


def test_crop_and_copy_paste():
    rng = np.random.default_rng(4)
    x = np.arange(100)
    c = attacks.crop(x, 30, rng)
    assert len(c) == 30 and np.all(np.diff(c) == 1)
    assert np.array_equal(attacks.crop(x, 500, rng), x)
    host = np.full(200, -1)
    mixed, at = attacks.copy_paste(x, host, rng)
    assert len(mixed) == 300 and np.array_equal(mixed[at : at + 100], x)
    assert (np.delete(mixed, np.arange(at, at + 100)) == -1).all()


def test_attacks_reject_bad_input():
    rng = np.random.default_rng(0)
    with pytest.raises(ValueError, match="rate"):
        attacks.substitute(np.arange(5), 1.5, 10, rng)
    with pytest.raises(ValueError, match="tokens"):
        attacks.delete(np.zeros((2, 2)), 0.1, rng)
    with pytest.raises(ValueError, match="vocab"):
        attacks.substitute(np.arange(5), 0.5, 1, rng)


def test_rates_on_synthetic_scores():
    p = np.array([1e-5, 5e-4, 2e-3, 0.009, 0.011, 0.3, 0.9, 1.0])
    assert metrics.detection_rate(p, 1e-3) == 2 / 8
    assert metrics.detection_rate(p, 1e-2) == 4 / 8
    # Uniform null p-values: the empirical FPR is close to alpha.
    null = np.random.default_rng(5).random(200_000)
    assert abs(metrics.detection_rate(null, 0.01) - 0.01) < 0.001
    # Threshold set on negatives: 1000 negatives 0..999, FPR 1% -> 10 flagged (scores > 989).
    neg = np.arange(1000.0)
    pos = np.array([985.0, 989.0, 989.5, 2000.0])
    assert metrics.tpr_at_empirical_fpr(pos, neg, 0.01) == 0.5
    assert metrics.tpr_at_empirical_fpr(neg, neg, 0.01) == 0.01


def test_wilson_interval():
    lo, hi = metrics.wilson(50, 100)
    # Wilson 95% for 50/100: 0.5 +- 1.96*sqrt(0.25/100 + 1.96^2/40000)/(1 + 1.96^2/100).
    half = 1.96 * math.sqrt(0.0025 + 1.96**2 / 40000) / (1 + 1.96**2 / 100)
    assert lo == pytest.approx(0.5 - half) and hi == pytest.approx(0.5 + half)
    lo0, hi0 = metrics.wilson(0, 20)
    assert lo0 == 0.0 and hi0 == pytest.approx(3.8416 / (20 + 3.8416))
    with pytest.raises(ValueError, match="k, n"):
        metrics.wilson(3, 2)


def test_distinct_n():
    assert metrics.distinct_n([1, 2, 3, 4], 1) == 1.0
    assert metrics.distinct_n([7, 7, 7, 7], 1) == 0.25
    assert metrics.distinct_n([1, 2, 1, 2, 1], 2) == 2 / 4  # (1,2),(2,1),(1,2),(2,1)
    with pytest.raises(ValueError, match="tokens"):
        metrics.distinct_n([1, 2], 3)


@pytest.mark.parametrize("shape", [(3, 10), (), (2, 2, 5)])
def test_distinct_n_refuses_anything_but_one_sequence(shape):
    with pytest.raises(ValueError, match=r"tokens: expected a 1-D sequence, got shape"):
        metrics.distinct_n(np.zeros(shape, dtype=np.int64), 2)


def test_spike_entropy_and_bound():
    z = metrics.spike_modulus(0.25, 2.0)
    a = math.exp(2.0)
    assert z == pytest.approx(0.75 * (a - 1) / (1 + 0.25 * (a - 1)))
    point = np.zeros(10)
    point[3] = 1.0
    uniform = np.full(1000, 1e-3)
    s_point = float(metrics.spike_entropy(point, z))
    assert s_point == pytest.approx(1 / (1 + z))
    assert metrics.spike_entropy(uniform, z) == pytest.approx(1 / (1 + z * 1e-3))
    # A point mass gets the green fraction gamma (green with prob. gamma, the bias cannot move
    # it): the bound there is gamma * a / (1 + (a-1) gamma) / (1 + z) = gamma exactly.
    assert metrics.kgw_green_bound(0.25, 2.0, s_point) == pytest.approx(0.25)


def test_kgw_adapter_matches_the_scheme():
    wm = KGW(key=b"eval key", gamma=0.25, delta=2.0)
    s = KGWScheme(wm)
    assert isinstance(s, EvalScheme) and isinstance(NoWatermark(s), EvalScheme)
    rng = np.random.default_rng(6)
    seqs = [rng.integers(0, 500, n) for n in (10, 50, 80)]
    assert np.array_equal(s.pvalues(seqs, 3), wm.detect(seqs, prefix_lengths=[3, 3, 3]).p_value)
    assert np.array_equal(NoWatermark(s).pvalues(seqs), wm.detect(seqs).p_value)
    assert np.array_equal(s.window_pvalues(seqs, 8), wm.detect(seqs, window=8).window_p_value)
    assert NoWatermark(s).processor() is None and s.processor() is not None


DISTORTION_FREE = [
    GumbelScheme(Gumbel(key=b"eval test", context_width=4)),
    SynthIDScheme(SynthID(key=b"eval test", layers=30, context_width=4, seeding="prev")),
]


def _sample(scheme, vocab: int, batch: int, steps: int, seed: int) -> list[np.ndarray]:
    """What generate does at temperature 1 with the scheme's processor last: random logits each
    step, processed, then a multinomial draw. The first 4 tokens are a random prompt."""
    g = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)  # SynthID's processor draws from torch's default generator
    ids = torch.randint(0, vocab, (batch, 4), generator=g)
    proc = scheme.processor()
    for _ in range(steps):
        logits = 2 * torch.randn(batch, vocab, generator=g)  # a few nats of entropy per step
        probs = torch.softmax(proc(ids, logits), -1)
        ids = torch.cat([ids, torch.multinomial(probs, 1, generator=g)], 1)
    return [row.numpy() for row in ids]


def test_distortion_free_adapters_conform_and_match_their_schemes():
    rng = np.random.default_rng(8)
    seqs = [rng.integers(0, 500, n) for n in (3, 40, 90)]
    for s, family, proc_type in zip(
        DISTORTION_FREE, ("gumbel", "synthid"), (GumbelLogitsProcessor, SynthIDLogitsProcessor)
    ):
        assert isinstance(s, EvalScheme) and isinstance(NoWatermark(s), EvalScheme)
        assert s.family == family and isinstance(s.processor(), proc_type)
        expect = s.wm.detect(seqs, prefix_lengths=[3, 3, 3]).p_value
        assert np.array_equal(s.pvalues(seqs, 3), expect)
        assert np.array_equal(NoWatermark(s).pvalues(seqs), s.wm.detect(seqs).p_value)
        # Neither scheme has a windowed detector: the harness must be told so, not given zeros.
        assert s.window_pvalues(seqs, 8) is None and NoWatermark(s).window_pvalues(seqs, 8) is None
        with pytest.raises(ValueError, match="prefix_lengths"):
            s.pvalues(seqs, -1)
    assert [s.name for s in DISTORTION_FREE] == ["Gumbel h=4", "SynthID l=30 h=4"]


@pytest.mark.parametrize("scheme", DISTORTION_FREE, ids=lambda s: s.family)
def test_distortion_free_pvalues_calibrated_on_unwatermarked_tokens(scheme):
    rng = np.random.default_rng(9)
    n = 2000
    p = scheme.pvalues([rng.integers(0, 1000, 60) for _ in range(n)], 4)
    for alpha in (0.05, 0.1, 0.5):
        # The rate of p <= alpha is Binomial(n, alpha) / n under the null: 4 standard errors.
        assert abs(np.mean(p <= alpha) - alpha) < 4 * math.sqrt(alpha * (1 - alpha) / n)
    if scheme.family == "gumbel":  # continuous (Gamma tail): uniform; SynthID's are discrete
        assert stats.kstest(p, "uniform").pvalue > 1e-3


@pytest.mark.parametrize("scheme", DISTORTION_FREE, ids=lambda s: s.family)
def test_distortion_free_pvalues_small_on_watermarked_tokens(scheme):
    seqs = _sample(scheme, vocab=101, batch=16, steps=32, seed=10)
    assert np.max(scheme.pvalues(seqs, 4)) < 1e-6
    # The same tokens scored with another key look unwatermarked.
    other = type(scheme)(dataclasses.replace(scheme.wm, key=b"another key"))
    assert np.median(other.pvalues(seqs, 4)) > 0.01
