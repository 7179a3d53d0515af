"""GINSEW's null with probes and prompts the watermarked teacher wrote.

The natural setup: serve with the GINSEW teacher, later probe a suspect with our own served
outputs. A clean model that copies from its context (an induction head) then reproduces the
teacher's time-dependent tokens; without the seen-window rule (probe mode) and the prompt rule
(text mode) such a model looks distilled. The teacher is a random bigram model; the suspect mixes
that clean bigram (key-independent) with copying, and never saw a key.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import tokenmark as tm
from scipy import stats

V, N_KEYS, COPY = 256, 60, 0.8
BIGRAM = np.random.default_rng(0).normal(size=(V, V))
CLEAN = np.exp(BIGRAM - BIGRAM.max(axis=1, keepdims=True))
CLEAN /= CLEAN.sum(axis=1, keepdims=True)


def sample(p, rng):
    """One id per row of probabilities ``p`` (inverse CDF)."""
    cdf = np.cumsum(p / p.sum(axis=1, keepdims=True), axis=1)
    return np.minimum((cdf < rng.random((len(p), 1))).sum(axis=1), p.shape[1] - 1)


def teacher_docs(wm, n_docs, length, rng):
    """Text the GINSEW teacher (the bigram model, watermarked) samples."""
    ids = rng.integers(0, V, (n_docs, 1))
    for _ in range(length - 1):
        x = BIGRAM[ids[:, -1]].astype(np.float32)
        wm.apply_(x, ids)
        nxt = sample(np.exp(x.astype(np.float64)), rng)
        ids = np.concatenate([ids, nxt[:, None]], axis=1)
    return ids


def copying_model(ids):
    """Clean suspect: mass COPY on the id that followed the last earlier occurrence of the last
    id (when there is one), the rest the clean bigram."""
    rows = np.asarray(ids)
    out = (1.0 - COPY) * CLEAN[rows[:, -1]]
    earlier = rows[:, :-1] == rows[:, -1:]
    last = np.where(earlier, np.arange(rows.shape[1] - 1), -1).max(axis=1, initial=-1)
    hit = last >= 0
    out[np.flatnonzero(hit), rows[hit, last[hit] + 1]] += COPY
    out[~hit] += COPY * CLEAN[rows[~hit, -1]]
    return out


def level(p):
    """(share of keys with p <= 0.01, KS p-value against uniform)."""
    p = np.asarray(p)
    return float(np.mean(p <= 0.01)), float(stats.kstest(p, "uniform").pvalue)


def not_calibrated(p) -> bool:
    share, ks = level(p)
    return share > 0.15 and ks < 1e-10


# Binomial bound on the count at alpha = 0.01: P[Binomial(60, 0.01) > 3] = 0.003.
MAX_HITS = 3


def test_probe_mode_null_with_teacher_written_probes():
    rng = np.random.default_rng(1)
    filtered, unfiltered = [], []
    for k in range(N_KEYS):
        wm = tm.GINSEW(key=f"copy-null-{k}", epsilon=0.2, context_width=1)
        probes = [d[: i + 1] for d in teacher_docs(wm, 6, 120, rng) for i in range(4, 120)]
        res = wm.detect_model(copying_model, probes)
        assert res.n_observations + res.n_seen_window == len(probes)
        assert res.n >= 100 and res.n_seen_window > 0
        filtered.append(res.p_value)
        unfiltered.append(wm.detect_model(copying_model, probes, skip_seen_windows=False).p_value)
    share, ks = level(filtered)
    assert share * N_KEYS <= MAX_HITS and ks > 1e-3, (share, ks)
    # The same suspect without the rule (the code before it): far from calibrated.
    assert not_calibrated(unfiltered)


def test_prompt_position_null_with_teacher_written_probes():
    """Every id after ``prompt_position`` was drawn with the time of the id there: only probes
    that end at it are scored (here, teacher texts cut there, which no time has shaped)."""
    rng = np.random.default_rng(3)
    filtered, unfiltered = [], []
    for k in range(N_KEYS):
        wm = tm.GINSEW(key=f"copy-pp-null-{k}", t_source="prompt_position", prompt_position=3)
        longer = [d[: i + 1] for d in teacher_docs(wm, 100, 60, rng) for i in range(4, 60)]
        ending = [d[:4] for d in teacher_docs(wm, 300, 4, rng)]
        res = wm.detect_model(copying_model, longer + ending)
        assert res.n_observations == len(ending) and res.n_seen_window == len(longer)
        filtered.append(res.p_value)
        unfiltered.append(wm.detect_model(copying_model, longer, skip_seen_windows=False).p_value)
    share, ks = level(filtered)
    assert share * N_KEYS <= MAX_HITS and ks > 1e-3, (share, ks)
    assert not_calibrated(unfiltered)


def test_text_mode_null_with_teacher_written_prompts():
    rng = np.random.default_rng(2)
    filtered, unfiltered = [], []
    for k in range(N_KEYS):
        wm = tm.GINSEW(key=f"copy-text-null-{k}", epsilon=0.2)
        seqs = teacher_docs(wm, 16, 80, rng)
        for _ in range(80):  # the clean suspect continues the teacher's text (sampling)
            seqs = np.concatenate([seqs, sample(copying_model(seqs), rng)[:, None]], axis=1)
        res = wm.detect(seqs, prefix_lengths=80)
        assert res.n_observations + res.n_seen_window == 16 * 80
        filtered.append(res.p_value)
        unfiltered.append(wm.detect(seqs, prefix_lengths=80, skip_prompt_windows=False).p_value)
    share, ks = level(filtered)
    assert share * N_KEYS <= MAX_HITS and ks > 1e-3, (share, ks)
    assert not_calibrated(unfiltered)


def test_nothing_left_to_score_warns():
    """prompt_position mode: every token of a prompt longer than the position shares one window,
    so the prompt-window rule drops them all; p = 1 then says nothing, and a warning says why."""
    wm = tm.GINSEW(key=b"k", epsilon=0.2, t_source="prompt_position", prompt_position=3)
    docs = np.random.default_rng(0).integers(0, 64, (4, 30))
    with pytest.warns(UserWarning, match="skip_prompt_windows=False"):
        r = wm.detect(docs, prefix_lengths=8)
    assert r.n_observations == 0 and r.n_seen_window > 0 and r.p_value == 1.0
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert wm.detect(docs, prefix_lengths=8, skip_prompt_windows=False).n_observations > 0
