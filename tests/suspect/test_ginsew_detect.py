"""GINSEW detection as statistics: calibration on clean models, power on the watermarked teacher.

The suspect is the bundled demo model (clean) or the demo model watermarked with GINSEW (the
teacher itself). Next-token distributions after every prefix of held-out text come from one
forward pass over windows of it; the probes are those prefixes.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import tokenmark as tm
import torch
from scipy import stats
from tokenmark.reference import ginsew as ref
from tokenmark.suspect import ginsew as sus

WINDOW, FIRST = 64, 8


@pytest.fixture(scope="module")
def demo():
    torch.set_num_threads(1)
    from tokenmark import demo_model

    model, tok = demo_model.load()
    ids = tok.encode(demo_model.heldout_text())
    n_win = len(ids) // WINDOW
    windows = torch.tensor(ids[: n_win * WINDOW]).view(n_win, WINDOW)
    with torch.no_grad():
        logits = model(input_ids=windows).logits.double()
    # Probe (w, i) is windows[w, :i + 1]; its next-token logits are logits[w, i].
    probes, rows = [], []
    for w in range(n_win):
        for i in range(FIRST - 1, WINDOW):
            probes.append(windows[w, : i + 1].numpy().astype(np.int64))
            rows.append(logits[w, i].numpy())
    logits = np.stack(rows)
    probs = np.exp(logits - logits.max(axis=1, keepdims=True))
    probs /= probs.sum(axis=1, keepdims=True)
    return {"model": model, "probes": probes, "logits": logits, "probs": probs}


def lookup_fn(probes, probs):
    """A suspect callable answering from a table (the same distributions, no model call)."""
    index = {p.tobytes(): i for i, p in enumerate(probes)}

    def fn(ids):
        rows = [index[np.asarray(r, dtype=np.int64).tobytes()] for r in ids]
        return probs[rows]

    return fn


def last_ids(probes):
    return np.array([[p[-1]] for p in probes])


def teacher_probs(wm, probes, logits):
    """The watermarked teacher's next-token distributions (the op on the clean logits)."""
    x = logits.astype(np.float32)
    wm.apply_(x, last_ids(probes))  # the C++ kernel (tested against the reference elsewhere)
    return np.exp(x.astype(np.float64))


# -- the statistic alone ----------------------------------------------------------------------
def test_matched_filter_null_is_standard_normal():
    rng = np.random.default_rng(0)
    z = []
    for _ in range(2000):
        y = rng.beta(0.5, 0.5, 200)  # skewed, bounded, like group masses
        z.append(sus.matched_filter(y, rng.random(200), 16.0)[0])
    assert stats.kstest(z, "norm").pvalue > 1e-3


def test_cos_moments_match_quadrature():
    from scipy import integrate

    for f in (1.0, 16.0, 40.0, 2 * math.pi):
        m, v = sus.cos_moments(f)
        m_q = integrate.quad(lambda t, f=f: math.cos(f * t), 0, 1, limit=200)[0]
        s_q = integrate.quad(lambda t, f=f: math.cos(f * t) ** 2, 0, 1, limit=200)[0]
        assert abs(m - m_q) < 1e-10 and abs(v - (s_q - m_q**2)) < 1e-10


def test_lomb_scargle_peaks_at_frequency_in_radians():
    rng = np.random.default_rng(1)
    t = rng.random(3000)
    y = 0.5 + 0.05 * np.cos(16.0 * t) + rng.normal(0, 0.1, 3000)
    assert sus.lomb_scargle_snr(y, t, 16.0) > 5
    # The same data read as 16 cycles (100.5 rad) has no peak: the units matter.
    assert sus.lomb_scargle_snr(y, t, 16.0 * 2 * math.pi) < 2
    null = [sus.lomb_scargle_snr(rng.random(500), rng.random(500), 16.0) for _ in range(50)]
    assert 0.5 < np.median(null) < 1.6


def test_aggregation_by_time():
    y, t = sus.aggregate_by_time([1.0, 0.0, 0.5, 0.25], [0.3, 0.3, 0.1, 0.7])
    assert t.tolist() == [0.1, 0.3, 0.7] and y.tolist() == [0.5, 0.5, 0.25]


# -- calibration on the clean demo model ------------------------------------------------------
def test_clean_model_pvalues_uniform_over_keys(demo):
    probes, probs = demo["probes"], demo["probs"]
    last = last_ids(probes)
    p = []
    for k in range(300):
        key = tm.Key(f"null-key-{k}").words
        y = probs @ ref.group_flags(key, probs.shape[1], 0.5).astype(np.float64)
        # The matched filter alone (finish() adds the periodogram, slow at 300 keys).
        p.append(sus.matched_filter(*sus.aggregate_by_time(y, ref.times(key, last, 1)), 16.0)[1])
    assert stats.kstest(p, "uniform").pvalue > 1e-3
    assert np.mean(np.array(p) <= 0.05) < 0.1


def test_clean_model_per_key_over_probe_sets(demo):
    """One key, disjoint probe sets (contiguous chunks of the text): no key makes the clean
    model look watermarked. Pooled p-values uniform; each key's mean z near 0."""
    probes, probs = demo["probes"], demo["probs"]
    last = last_ids(probes)
    chunks = np.array_split(np.arange(len(probes)), 8)
    pooled, means = [], []
    for k in range(25):
        key = tm.Key(k).words
        y = probs @ ref.group_flags(key, probs.shape[1], 0.5).astype(np.float64)
        t = ref.times(key, last, 1)
        z = [sus.finish(y[c], t[c], 16.0, len(c)).z for c in chunks]
        pooled += [float(stats.norm.sf(v)) for v in z]
        means.append(np.mean(z))
    assert stats.kstest(pooled, "uniform").pvalue > 1e-3
    # Chunks of one key share contexts (so share times): their z's are correlated, and a key's
    # mean z has sd at most 1. None may be far out.
    assert max(abs(m) for m in means) < 3.5, means


def test_detect_model_transformers_path_equals_callable(demo):
    wm = tm.GINSEW(key=b"path")
    probes = demo["probes"][:300]
    a = wm.detect_model(demo["model"], probes, batch_size=37)
    b = wm.detect_model(lookup_fn(demo["probes"], demo["probs"]), probes)
    assert a.n == b.n and a.n_observations + a.n_seen_window == 300
    assert a.n_seen_window == b.n_seen_window > 0
    assert abs(a.z - b.z) < 1e-4 and abs(a.amplitude - b.amplitude) < 1e-6


# -- power on the watermarked teacher ---------------------------------------------------------
@pytest.mark.parametrize("eps", [0.05, 0.2])
def test_teacher_probe_mode_z_matches_theory(demo, eps):
    probes, logits, probs = demo["probes"], demo["logits"], demo["probs"]
    m, v = sus.cos_moments(16.0)
    diffs = []
    for k in range(6):
        wm = tm.GINSEW(key=f"teacher-{k}", epsilon=eps)
        teacher = lookup_fn(probes, teacher_probs(wm, probes, logits))
        # The default skips probes whose last id occurred earlier in them; it still detects.
        filtered = wm.detect_model(teacher, probes)
        assert filtered.n_seen_window > 0 and filtered.p_value < 1e-6
        # Held-out human text (not written by the teacher): every probe may be scored.
        res = wm.detect_model(teacher, probes, skip_seen_windows=False)
        # Theory: y = (q + eps(1 + c)) / (1 + 2 eps) with q the clean G0 mass (averaged per
        # time); z -> sqrt(n) corr(y, c) = sqrt(n) eps sqrt(v) / sqrt(eps^2 v + var(q)).
        g0 = wm.group_flags(probs.shape[1]).astype(np.float64)
        q, _ = sus.aggregate_by_time(probs @ g0, wm.times(last_ids(probes)))
        z_theory = math.sqrt(res.n) * eps * math.sqrt(v) / math.sqrt(eps**2 * v + q.var())
        assert res.p_value < 1e-6 and res.p_snr > 3
        assert abs(res.z - z_theory) < 4.5, (res.z, z_theory)
        se = q.std() / (math.sqrt(res.n) * math.sqrt(v)) / (1 + 2 * eps)
        assert abs(res.amplitude - wm.amplitude) < 5 * se + 1e-9
        diffs.append(res.z - z_theory)
    assert abs(np.mean(diffs)) < 2.0, diffs


def test_prompt_position_signal_vanishes_under_a_fixed_template(demo):
    probes, logits = demo["probes"], demo["logits"]
    wm = tm.GINSEW(key=b"official", t_source="prompt_position", prompt_position=5)
    # A chat template: every probe starts with the same 6 ids, so id 5 is the same everywhere.
    template = np.array([0, 11, 12, 13, 14, 15])
    templated = [np.concatenate([template, p]) for p in probes]
    x = logits.astype(np.float32)
    wm.apply_(x, np.tile(template, (len(probes), 1)))
    teacher = lookup_fn(templated, np.exp(x.astype(np.float64)))
    res = wm.detect_model(teacher, templated, skip_seen_windows=False)
    assert res.n == 1 and res.p_value == 1.0
    # Without the template (the prompts' own id 5 varies) the same mode is detected.
    x = logits.astype(np.float32)
    wm.apply_(x, np.stack([p[:6] for p in probes]))
    # Every probe is longer than 6 ids: the default scores none of them (the teacher wrote every
    # id after id 5 with its time); these probes are human text, so all may be scored.
    teacher = lookup_fn(probes, np.exp(x.astype(np.float64)))
    with pytest.warns(UserWarning, match="skip_seen_windows=False"):
        assert wm.detect_model(teacher, probes).n_observations == 0
    res = wm.detect_model(teacher, probes, skip_seen_windows=False)
    assert res.p_value < 1e-6


# -- text-only mode ---------------------------------------------------------------------------
def _generate(demo, processor, n_prompts=48, new_tokens=64, seed=0):
    from tokenmark import demo_model

    model = demo["model"]
    _, tok = demo_model.load()
    prompts = torch.tensor(demo_model.prompts(tok, n_prompts, 8))
    torch.manual_seed(seed)
    out = model.generate(
        prompts,
        attention_mask=torch.ones_like(prompts),
        do_sample=True,
        top_k=0,
        max_new_tokens=new_tokens,
        min_new_tokens=new_tokens,
        logits_processor=[] if processor is None else [processor],
        pad_token_id=0,
    )
    return out.numpy(), prompts.shape[1]


def test_text_mode_detects_teacher_and_is_calibrated_on_clean_text(demo):
    wm = tm.GINSEW(key=b"text-mode", epsilon=0.2)
    marked, plen = _generate(demo, wm.logits_processor())
    # The default skips tokens whose window occurs in the prompt followed by an id; it still
    # detects. The prompts are human text, so all tokens may be scored (the theory below).
    filtered = wm.detect(marked, prefix_lengths=plen)
    total = marked.shape[0] * (marked.shape[1] - plen)
    assert filtered.n_observations + filtered.n_seen_window == total
    assert filtered.n_seen_window > 0 and filtered.p_value < 1e-4, filtered
    res = wm.detect(marked, prefix_lengths=plen, skip_prompt_windows=False)
    assert res.n_observations == total
    assert res.p_value < 1e-4, res
    # Theory, given the contexts the teacher wrote after: y_i ~ Bernoulli(Q0'_i), Q0'_i the
    # teacher's G0 mass there (EOS masked, as generate's min_new_tokens did). The numerator
    # N = sum_j ybar_j (c_j - mean c) over distinct times has mean sum_j E[ybar_j](c_j - mean c)
    # and variance sum_j var(ybar_j)(c_j - mean c)^2; z = N / D with D from the data.
    with torch.no_grad():
        logits = demo["model"](input_ids=torch.from_numpy(marked)).logits
    x = logits[:, plen - 1 : -1, :].reshape(-1, logits.shape[-1]).clone()
    x[:, 0] = -float("inf")
    ctx = torch.from_numpy(marked[:, plen - 1 : -1].reshape(-1, 1))
    wm.apply_(x, ctx)
    q = np.exp(x.double().numpy())[:, wm.group_flags(x.shape[1])].sum(axis=1)
    t = wm.times(ctx.numpy())
    t_u, inv = np.unique(t, return_inverse=True)
    counts = np.bincount(inv)
    mean_y = np.bincount(inv, weights=q) / counts
    var_y = np.bincount(inv, weights=q * (1 - q)) / counts**2
    c = np.cos(16.0 * t_u)
    y_obs, _ = sus.aggregate_by_time(
        wm.group_flags(4096)[marked[:, plen:].reshape(-1)].astype(float), t
    )
    m, v = sus.cos_moments(16.0)
    d = math.sqrt(v * ((y_obs - y_obs.mean()) ** 2).sum())
    z_theory = float(mean_y @ (c - c.mean())) / d
    sd = math.sqrt(float(var_y @ (c - c.mean()) ** 2)) / d
    assert abs(res.z - z_theory) < 4 * sd, (res.z, z_theory, sd)
    clean, plen = _generate(demo, None, seed=1)
    p = []
    for k in range(200):
        key = tm.Key(f"text-null-{k}").words
        y, t = sus.text_observations(
            clean.reshape(-1),
            np.arange(0, clean.size + 1, clean.shape[1]),
            np.full(len(clean), plen),
            key_words=key,
            fraction=0.5,
            context_width=1,
        )
        p.append(sus.matched_filter(*sus.aggregate_by_time(y, t), 16.0)[1])
    assert tm.GINSEW(key=b"text-null-0").detect(clean, prefix_lengths=plen).p_value == p[0]
    assert stats.kstest(p, "uniform").pvalue > 1e-3


def test_detect_input_validation():
    wm = tm.GINSEW(key=b"v")
    flat = lambda ids: np.full((len(ids), 5), 0.2)  # noqa: E731
    with pytest.raises(ValueError, match="probes"):
        wm.detect_model(flat, [])
    with pytest.raises(ValueError, match="probes"):
        wm.detect_model(flat, [[1, 2], [-1]])
    with pytest.raises(ValueError, match="model_or_fn"):
        wm.detect_model(lambda ids: np.zeros((len(ids), 5)), [[1], [2]])
    with pytest.raises(ValueError, match="model_or_fn"):
        wm.detect_model(lambda ids: np.zeros((1, 5)) + 0.2, [[1], [2]])
    with pytest.raises(ValueError, match="batch_size"):
        wm.detect_model(flat, [[1]], batch_size=0)
    with pytest.raises(TypeError, match="model_or_fn"):
        wm.detect_model(3, [[1]])
    with pytest.raises(ValueError, match="prefix_lengths"):
        wm.detect([[1, 2, 3]], prefix_lengths=[-1])
    res = wm.detect([[1, 2, 3]], prefix_lengths=[5])
    assert res.n_observations == 0 and res.p_value == 1.0


@pytest.mark.parametrize("skip", [True, False])
@pytest.mark.parametrize("width, position", [(1, None), (3, None), (1, 2)])
def test_text_observations_match_a_plain_loop(width, position, skip):
    rng = np.random.default_rng(width)
    docs = [rng.integers(0, 3000, n) for n in (0, 1, 3, 4, 9, 40)] + [rng.integers(0, 3, 30)]
    prefix = np.array([0, 5, 1, 0, 6, 2, 12])
    wm = tm.GINSEW(
        key=b"loop",
        context_width=width,
        t_source="context" if position is None else "prompt_position",
        prompt_position=2 if position is None else position,
    )
    rag = tm.Ragged.from_sequences(docs)
    y, t = sus.text_observations(
        rag.tokens.astype(np.int64),
        rag.offsets,
        prefix,
        key_words=wm.key.words,
        fraction=0.5,
        context_width=width,
        position=position,
        skip_prompt_windows=skip,
    )
    g0 = wm.group_flags(3000)
    ys, ts = [], []
    n_skipped = 0
    for d, doc in enumerate(docs):
        first = width if position is None else position + 1
        n = min(prefix[d], len(doc))
        # The prompt's windows that a prompt id follows, as tuples of ids.
        if position is None:
            followed = {tuple(doc[j - width : j]) for j in range(width, n)}
        else:
            followed = {tuple(doc[position : position + 1])} if n > position + 1 else set()
        for i in range(max(first, prefix[d]), len(doc)):
            window = doc[i - width : i] if position is None else doc[position : position + 1]
            if skip and tuple(window) in followed:
                n_skipped += 1
                continue
            ys.append(float(g0[doc[i]]))
            ts.append(wm.times(doc[None, :i])[0])
    np.testing.assert_array_equal(y, ys)
    np.testing.assert_array_equal(t, ts)
    res = wm.detect(docs, prefix_lengths=prefix, skip_prompt_windows=skip)
    assert res.n_observations == len(ys) and res.n_seen_window == n_skipped
    assert (n_skipped > 0) == skip


def test_probe_times_and_batching_by_length():
    wm = tm.GINSEW(key=b"probe-times", context_width=3)
    rng = np.random.default_rng(0)
    probes = [rng.integers(0, 50, n) for n in (3, 5, 3, 8, 5, 3)]
    t = sus.probe_times(wm.key.words, probes, 3, None)
    assert t.tolist() == [wm.times(p[None, :])[0] for p in probes]
    calls = []

    def fn(ids):
        calls.append(tuple(ids.shape))
        # A distribution that depends on the last id, so each probe's y is its own.
        p = np.full((len(ids), 50), 1.0)
        p[np.arange(len(ids)), np.asarray(ids)[:, -1]] = 20.0
        return p / p.sum(axis=1, keepdims=True)

    g0 = wm.group_flags(50)
    y = sus.probe_group_masses(fn, probes, lambda v: wm.group_flags(v), batch_size=2)
    want = [(g0.sum() + 19.0 * g0[p[-1]]) / 69.0 for p in probes]
    np.testing.assert_allclose(y, want, rtol=1e-12)
    assert sorted(calls) == [(1, 3), (1, 8), (2, 3), (2, 5)]
    with pytest.raises(ValueError, match="probes"):
        wm.detect_model(fn, [[1, 2]])  # shorter than context_width
