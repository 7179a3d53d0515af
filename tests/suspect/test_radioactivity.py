"""The radioactivity tests (Sander et al. 2024) of tokenmark.suspect.radioactivity.

- the tuple rules (tape, seen windows, prompt windows, data filter) against a plain restatement;
- exact p-values against scipy's distributions;
- calibration over keys on clean "models" reading / writing repetitive watermarked text, and
  what goes wrong without the tape and the window filters;
- a null and power on the bundled demo model (clean, and serving the watermark itself);
- bad input.
"""

from __future__ import annotations

import doctest

import numpy as np
import pytest
import tokenmark as tm
import torch
from scipy import stats
from tokenmark.reference.gumbel import score_term
from tokenmark.reference.kgw import green_mask
from tokenmark.reference.prf import DOMAIN_GUMBEL, context_hash, prf_word
from tokenmark.suspect import radioactivity as ra

V = 96  # synthetic vocabulary


def test_docstring_examples():
    assert doctest.testmod(ra, optionflags=doctest.ELLIPSIS).failed == 0


# -- a plain restatement of the rules --------------------------------------------------------------


def _tuple_score(scheme, window, token):
    ctx = int(context_hash(np.asarray(window, dtype=np.int64), scheme.seeding_code))
    if isinstance(scheme, tm.KGW):
        return float(green_mask(scheme.key.words, ctx, token, scheme.threshold))
    return float(score_term(prf_word(scheme.key.words, ctx, token, DOMAIN_GUMBEL)))


def _naive(scheme, docs, firsts, preds=None, prompts=None, phi=None, dedup=True, skip=True):
    """Loops and sets: position i of each doc from ``firsts[d]`` on; token = preds[d][i - 1]
    (open) or doc[i] (closed)."""
    w, seeding = scheme.context_width, scheme.seeding_code
    h = lambda win: int(context_hash(np.asarray(win, dtype=np.int64), seeding))  # noqa: E731
    tape, score, n = set(), 0.0, 0
    for d, doc in enumerate(docs):
        seen = set()
        if prompts is not None and skip:
            p = prompts[d]
            seen = {h(p[j - w : j]) for j in range(w, len(p))}
        stop = len(doc) + (1 if preds is not None else 0)
        for i in range(firsts[d], stop):
            win = doc[i - w : i]
            c = h(win)
            tok = int(preds[d][i - 1]) if preds is not None else int(doc[i])
            if preds is not None:
                earlier = {h(doc[j - w : j]) for j in range(w, i)}
                if skip and c in earlier:
                    continue
            elif c in seen:
                continue
            if phi is not None and c not in phi:
                continue
            if dedup and (c, tok) in tape:
                continue
            tape.add((c, tok))
            score += _tuple_score(scheme, win, tok)
            n += 1
    return score, n


def _schemes(width, seeding="prev"):
    return [
        tm.KGW(key=b"rules", gamma=0.3, context_width=width, seeding=seeding),
        tm.Gumbel(key=b"rules", context_width=width, seeding=seeding),
    ]


@pytest.mark.parametrize("width", [0, 1, 2, 3])
@pytest.mark.parametrize("seeding", ["prev", "minhash"])
def test_rules_match_a_plain_restatement(width, seeding):
    rng = np.random.default_rng(width * 10 + len(seeding))
    docs = [rng.integers(0, 6, n) for n in (0, 1, 2, 5, 17, 40, 33)]
    preds = [rng.integers(0, 6, len(x)) for x in docs]
    prompts = [rng.integers(0, 6, n) for n in (3, 0, 4, 9, 2, 6, 1)]
    phi_docs = [rng.integers(0, 6, 5)]
    for scheme in _schemes(width, seeding):
        for dedup, skip in ((True, True), (False, True), (True, False), (False, False)):
            got = ra.test_open(
                scheme, None, docs, predictions=preds, dedup=dedup, skip_seen_windows=skip
            )
            firsts = [max(width, 1)] * len(docs)
            want = _naive(scheme, docs, firsts, preds=preds, dedup=dedup, skip=skip)
            assert got.n_scored == want[1]
            assert got.score == pytest.approx(want[0], rel=1e-12)
            full = [np.concatenate([p, g]) for p, g in zip(prompts, docs)]
            got = ra.test_closed(
                scheme, docs, prompts=prompts, dedup=dedup, skip_prompt_windows=skip
            )
            firsts = [max(width, len(p)) for p in prompts]
            want = _naive(scheme, full, firsts, prompts=prompts if skip else None, dedup=dedup)
            assert got.n_scored == want[1]
            assert got.score == pytest.approx(want[0], rel=1e-12)
        # the data filter phi: windows of phi_docs only
        phi = {
            int(context_hash(np.asarray(x[j - width : j], dtype=np.int64), scheme.seeding_code))
            for x in phi_docs
            for j in range(width, len(x) + 1)
        }
        got = ra.test_open(scheme, None, docs, predictions=preds, data_filter=phi_docs)
        want = _naive(scheme, docs, [max(width, 1)] * len(docs), preds=preds, phi=phi)
        assert (got.n_scored, got.score) == (want[1], pytest.approx(want[0], rel=1e-12))
        assert got.n_filtered > 0 or width == 0


def test_counts_add_up():
    rng = np.random.default_rng(1)
    docs = [rng.integers(0, 5, 50) for _ in range(4)]
    res = ra.test_closed(_schemes(2)[0], docs, prompts=[d[:10] for d in docs])
    assert res.n_positions == 4 * 50 - 0  # every continuation position has a full window
    assert res.n_scored + res.n_seen_window + res.n_repeated + res.n_filtered == res.n_positions


# -- exact p-values -------------------------------------------------------------------------


@pytest.mark.parametrize("n", [1, 2, 10, 137, 5000])
def test_pvalues_are_the_exact_tails(n):
    for k in sorted({0, 1, n // 4, n // 2, n}):
        assert ra.kgw_pvalue(k, n, 0.25) == pytest.approx(stats.binom.sf(k - 1, n, 0.25), rel=1e-9)
    for s in (0.0, 0.5 * n, n, 1.3 * n + 3):
        assert ra.gumbel_pvalue(s, n) == pytest.approx(stats.gamma.sf(s, n), rel=1e-9, abs=1e-300)
    assert ra.kgw_pvalue(0, 0, 0.25) == 1.0 and ra.gumbel_pvalue(3.0, 0) == 1.0


# -- synthetic clean models and repetitive watermarked text ----------------------------------------


def _bigram(seed, temperature=0.35):
    """A peaked bigram table: its samples loop, like repetitive human text (dialogue, code)."""
    return np.random.default_rng(seed).normal(size=(V, V)).astype(np.float32) / temperature


def _write(bigram, scheme, n_docs, length, rng, prompts=None, copy=0.0):
    """Sample ``length`` tokens per doc from the bigram table, under ``scheme`` (KGW bias or
    Gumbel choice; None = clean). ``copy``: with this probability the writer repeats the token
    that followed the last earlier occurrence of its last token (repetitive text: dialogue,
    boilerplate, code)."""
    ids = (
        rng.integers(0, V, (n_docs, 1)) if prompts is None else np.asarray(prompts, dtype=np.int64)
    )
    for _ in range(length):
        logits = bigram[ids[:, -1]].copy()
        if isinstance(scheme, tm.KGW):
            scheme.apply_(logits, ids)
        if isinstance(scheme, tm.Gumbel):
            nxt = scheme.sample(logits, ids, rng=rng)
        else:
            p = np.exp(logits - logits.max(1, keepdims=True))
            p /= p.sum(1, keepdims=True)
            u = rng.random((n_docs, 1))
            nxt = np.minimum((p.cumsum(1) < u).sum(1), V - 1)
        if copy and ids.shape[1] >= 3:
            for b in range(n_docs):
                row = ids[b]
                hits = np.flatnonzero(row[:-1] == row[-1])
                if len(hits) and rng.random() < copy:
                    nxt[b] = row[hits[-1] + 1]
        ids = np.concatenate([ids, nxt[:, None]], 1)
    return ids


def _copy_model(bigram):
    """A clean model with an induction head: after each position, the token that followed the
    last earlier occurrence of the current two tokens, else of the current token, else the
    bigram argmax. Returns one-hot scores [b, s, V]."""

    def fn(ids):
        x = ids.numpy()
        out = np.zeros((*x.shape, V), dtype=np.float32)
        for b in range(x.shape[0]):
            last1: dict[int, int] = {}
            last2: dict[tuple[int, int], int] = {}
            for t in range(x.shape[1]):
                tok, pair = int(x[b, t]), (int(x[b, t - 1]), int(x[b, t])) if t else None
                if pair in last2:
                    pred = int(x[b, last2[pair] + 1])
                elif tok in last1:
                    pred = int(x[b, last1[tok] + 1])
                else:
                    pred = int(bigram[tok].argmax())
                out[b, t, pred] = 1.0
                last1[tok] = t
                if pair is not None:
                    last2[pair] = t
        return torch.from_numpy(out)

    return fn


def _key_schemes(i):
    key = f"calibration key {i}".encode()
    return (
        tm.KGW(key=key, gamma=0.25, delta=3.0, context_width=2),
        tm.Gumbel(key=key, context_width=2),
    )


def _fpr_bound(n, alpha):
    """An upper limit for the count of p <= alpha among n null p-values (binomial 1e-4 tail)."""
    return int(stats.binom.isf(1e-4, n, alpha))


@pytest.fixture(scope="module")
def open_mode_runs():
    """Per key: the open test on a clean copying model reading repetitive text watermarked with
    that key, with and without the tape and the seen-window filter."""
    bigram = _bigram(0)
    fn = _copy_model(bigram)
    rng = np.random.default_rng(0)
    out = {"kgw": [], "gumbel": [], "kgw_raw": [], "gumbel_raw": []}
    for i in range(120):
        for scheme in _key_schemes(i):
            texts = _write(bigram, scheme, 3, 60, rng, copy=0.7)
            preds = ra.predict_argmax(fn, texts)
            name = scheme.scheme_name
            out[name].append(ra.test_open(scheme, None, texts, predictions=preds))
            raw = ra.test_open(
                scheme, None, texts, predictions=preds, dedup=False, skip_seen_windows=False
            )
            out[f"{name}_raw"].append(raw)
    return out


def test_open_mode_null_is_calibrated_over_keys(open_mode_runs):
    for name in ("kgw", "gumbel"):
        p = np.array([r.p_value for r in open_mode_runs[name]])
        assert min(r.n_scored for r in open_mode_runs[name]) > 10
        for alpha in (0.05, 0.01):
            assert (p <= alpha).sum() <= _fpr_bound(len(p), alpha), (name, alpha)
    # Gumbel's score is continuous: its p-values are uniform (KGW's binomial ones are discrete).
    p = np.array([r.p_value for r in open_mode_runs["gumbel"]])
    assert stats.kstest(p, "uniform").pvalue > 1e-3
    mean = np.mean([r.mean_score for r in open_mode_runs["kgw"]])
    assert abs(mean - 0.25) < 0.03


def test_open_mode_without_the_rules_a_clean_model_looks_radioactive(open_mode_runs):
    for name in ("kgw", "gumbel"):
        raw = np.array([r.p_value for r in open_mode_runs[f"{name}_raw"]])
        # The clean model copies watermarked tokens that followed the same window earlier.
        assert np.median(raw) < 1e-3, name
        assert (raw <= 0.01).mean() > 0.6, name


def test_closed_mode_tape_and_prompt_filter():
    """A clean copy-prone writer continuing watermarked prompts: with the rules the p-values
    hold their level; without the tape its loops give tiny p-values to some keys, without the
    prompt filter the tokens it copies from the prompts make it look radioactive."""
    bigram = _bigram(1)
    rng = np.random.default_rng(1)
    p_ok, p_notape, p_noprompt = [], [], []
    n_keys = 120
    for i in range(n_keys):
        kgw, gumbel = _key_schemes(1000 + i)
        scheme = kgw if i % 2 else gumbel
        prompts = _write(bigram, scheme, 3, 40, rng)
        full = _write(bigram, None, 3, 60, rng, prompts=prompts, copy=0.9)
        gen = full[:, prompts.shape[1] :]
        p_ok.append(ra.test_closed(scheme, gen, prompts=prompts).p_value)
        p_notape.append(
            ra.test_closed(
                scheme, gen, prompts=prompts, dedup=False, skip_prompt_windows=True
            ).p_value
        )
        p_noprompt.append(
            ra.test_closed(scheme, gen, prompts=prompts, skip_prompt_windows=False).p_value
        )
    p_ok, p_notape, p_noprompt = map(np.asarray, (p_ok, p_notape, p_noprompt))
    for alpha in (0.05, 0.01):
        assert (p_ok <= alpha).sum() <= _fpr_bound(n_keys, alpha)
    assert (p_notape <= 0.01).mean() > 0.1  # ten times its level
    assert np.median(p_noprompt) < 0.01


# -- the demo model ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def demo():
    from tokenmark import demo_model

    torch.manual_seed(0)
    model, tok = demo_model.load()
    prompts = torch.tensor(demo_model.prompts(tok, 4, 16))
    return model, prompts


def _generate(model, prompts, processor, seed, new=48):
    torch.manual_seed(seed)
    return model.generate(
        prompts,
        attention_mask=torch.ones_like(prompts),
        do_sample=True,
        top_k=0,
        max_new_tokens=new,
        min_new_tokens=new,
        pad_token_id=0,
        eos_token_id=None,
        logits_processor=[processor],
    )


def _served_scores(model, scheme):
    """The watermarked teacher as a suspect: its next-token scores after every position, with
    the watermark applied (KGW bias; Gumbel: one-hot of its choice, -inf elsewhere)."""

    def fn(ids):
        with torch.inference_mode():
            logits = model(input_ids=ids).logits.float()
        out = logits.clone()
        for t in range(ids.shape[1]):
            row = out[:, t].contiguous()
            if isinstance(scheme, tm.KGW):
                scheme.apply_(row, ids[:, : t + 1])
            else:
                choice = scheme.choose(row.numpy(), ids[:, : t + 1].numpy())
                hot = np.full(row.shape, -np.inf, dtype=np.float32)
                # Unwatermarked steps (repeated context): the plain argmax.
                choice = np.where(choice < 0, row.numpy().argmax(1), choice)
                hot[np.arange(len(choice)), choice] = 0.0
                row = torch.from_numpy(hot)
            out[:, t] = row
        return out

    return fn


def test_demo_model_null_over_keys(demo):
    """The clean demo model reading (open) and writing (closed) after text it wrote under a key
    it never trained on: p-values at their level, key by key."""
    model, prompts = demo
    p_open, p_closed = [], []
    for i in range(8):
        kgw, gumbel = _key_schemes(5000 + i)
        scheme = kgw if i % 2 else gumbel
        marked = _generate(model, prompts, scheme.logits_processor(), seed=i, new=32)
        p_open.append(ra.test_open(scheme, model, marked).p_value)
        # closed: the clean model continues watermarked prompts
        plain = _generate(model, marked, _Identity(), seed=100 + i, new=24)
        p_closed.append(ra.test_closed(scheme, plain[:, marked.shape[1] :], prompts=marked).p_value)
    for p in (np.asarray(p_open), np.asarray(p_closed)):
        assert (p <= 0.05).sum() <= _fpr_bound(len(p), 0.05)
        assert p.min() > 1e-4


class _Identity:
    def __call__(self, input_ids, scores):
        return scores


@pytest.mark.parametrize("kind", ["kgw", "gumbel"])
def test_power_on_the_watermarked_teacher(demo, kind):
    """The teacher serving the watermark is the most radioactive model there is: both modes
    detect it on four short texts."""
    model, prompts = demo
    kgw, gumbel = _key_schemes(7)
    scheme = kgw if kind == "kgw" else gumbel
    marked = _generate(model, prompts, scheme.logits_processor(), seed=3)
    res = ra.test_open(scheme, _served_scores(model, scheme), marked)
    assert res.p_value < 1e-6 and res.z > 5
    more = _generate(model, marked[:, :20], scheme.logits_processor(), seed=4)
    res = ra.test_closed(scheme, more[:, 20:], prompts=marked[:, :20])
    assert res.p_value < 1e-6
    # and another key sees nothing
    other = _key_schemes(8)[0 if kind == "kgw" else 1]
    assert ra.test_closed(other, more[:, 20:], prompts=marked[:, :20]).p_value > 1e-3


# -- bad input -------------------------------------------------------------------------------------


def test_bad_input():
    kgw = tm.KGW(key=b"never print me", context_width=1)
    with pytest.raises(TypeError, match="scheme"):
        ra.test_closed(tm.SynthID(key=b"x"), [[1, 2, 3]])
    with pytest.raises(TypeError, match="scheme"):
        ra.test_open("kgw", lambda ids: ids, [[1, 2, 3]])
    with pytest.raises(ValueError, match="prompts"):
        ra.test_closed(kgw, [[1, 2, 3], [4, 5]], prompts=[[1]])
    with pytest.raises(ValueError, match="predictions"):
        ra.test_open(kgw, None, [[1, 2, 3]], predictions=[[1, 2]])
    with pytest.raises(ValueError, match="generated"):
        ra.test_closed(kgw, [[1, -2, 3]])
    with pytest.raises(TypeError, match="texts"):
        ra.test_open(kgw, lambda ids: ids, ["a string"])
    with pytest.raises(ValueError, match="model_or_fn"):
        ra.test_open(kgw, lambda ids: torch.zeros(1, 1, 5), [[1, 2, 3], [4, 5, 6]])
    with pytest.raises(TypeError, match="model_or_fn"):
        ra.test_open(kgw, 42, [[1, 2, 3]])
    with pytest.raises(ValueError, match="batch_size"):
        ra.test_open(kgw, lambda ids: ids, [[1, 2, 3]], batch_size=0)
    empty = ra.test_closed(kgw, [[], [7]])
    assert (empty.n_scored, empty.p_value, empty.z) == (0, 1.0, 0.0)
    res = ra.test_closed(kgw, [[1, 2, 3, 4]])
    assert "never print me" not in repr(res) and "never" not in str(res.__dict__)
