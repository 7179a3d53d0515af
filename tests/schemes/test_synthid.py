"""SynthID-Text: C++ against the numpy reference bit for bit (tokens, g-bits, counts), the
tournament's unbiasedness, null calibration, power against theory, bad input."""

import itertools

import numpy as np
import pytest
import tokenmark as tm
from logit_helpers import DTYPES, as_dtype, edge_logits, softmax_fit_pvalue
from scipy import special, stats
from tokenmark import _C, Ragged
from tokenmark import synthid as synthid_module
from tokenmark.reference import synthid as ref
from tokenmark.reference.prf import DOMAIN_SYNTHID_G, context_hash, prf_word


def make_logits(rng, batch, vocab, dtype, scale=3.0):
    x = edge_logits(rng, batch, vocab, scale)
    if batch > 3 and vocab > 5:
        x[3, 5] = np.inf
    if batch > 4 and vocab:
        x[4, :] = np.round(x[4, :])  # many equal logits: top-k ties
    return as_dtype(x, dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize(
    "batch,vocab", [(0, 17), (1, 1), (1, 17), (6, 1019), (37, 33), (2, 32000), (1, 50257)]
)
def test_sample_matches_reference(simd, rng, dtype, batch, vocab):
    logits = make_logits(rng, batch, vocab, dtype)
    ids = rng.integers(0, 3, (batch, 12))  # few distinct ids: repeated contexts occur
    keys = rng.integers(0, 2**32, (batch, 4), dtype=np.uint64).astype(np.uint32)
    u = rng.random(batch)
    enabled = (rng.random(batch) < 0.8).astype(np.uint8)
    cases = [(4, 0, 30, 0, 1024), (1, 1, 32, 5, 3), (0, 0, 1, 1, 0), (2, 0, 7, vocab, 0)]
    for width, seeding, layers, top_k, history in cases:
        args = (width, seeding, layers, top_k, history)
        got, gm = _C.sample_synthid(logits, dtype, ids, keys, u, enabled, *args)
        want, wm = ref.sample_synthid(logits, ids, keys, u, enabled, *args, dtype)
        np.testing.assert_array_equal(got, want)
        np.testing.assert_array_equal(gm, wm)
    if batch > 3 and vocab > 5 and dtype != "float16":
        assert got[3] == 5  # a +inf logit takes all the mass


def test_sample_large_vocab(rng):
    logits = make_logits(rng, 2, 151936, "bfloat16")
    ids = rng.integers(0, 151936, (2, 9)).astype(np.int32)
    key = tm.Key(b"k").words[None]
    for u in (np.array([0.0, 0.999999]), rng.random(2)):
        got = _C.sample_synthid(logits, "bfloat16", ids, key, u, None, 4, 0, 30, 0, 1024)
        want = ref.sample_synthid(logits, ids, key, u, None, 4, 0, 30, 0, 1024, "bfloat16")
        np.testing.assert_array_equal(got[0], want[0])
        assert got[1].all()


def test_g_bits_are_prf_bits():
    # g_l(ctx, token) is bit l of the domain-2 PRF word: the counts per layer say so.
    key = tm.Key(b"gbits").words
    doc = np.array([11, 22, 33, 44, 55, 66, 77], np.int32)
    n, ones, _ = _C.score_synthid(doc, np.array([0, 7]), None, key, 3, 0, 32, False, False, False)
    want = np.zeros(32, np.int64)
    for i in range(3, 7):
        w = int(prf_word(key, int(context_hash(doc[i - 3 : i], 0)), doc[i], DOMAIN_SYNTHID_G))
        want += [(w >> layer) & 1 for layer in range(32)]
    assert n[0] == 4
    np.testing.assert_array_equal(ones[0], want)


@pytest.mark.parametrize("dedup", [True, False])
def test_score_matches_reference(simd, rng, dedup):
    lengths = [0, 1, 4, 5, 37, 300, 700]
    docs = [rng.integers(0, 40, n) for n in lengths]
    rag = tm.Ragged.from_sequences(docs)
    prefix = np.array([0, 0, 2, 9, 0, 10, 3], np.int64)
    key = tm.Key(b"score").words
    for width, seeding, layers in [(4, 0, 30), (1, 1, 32), (0, 0, 3)]:
        for pre in (None, prefix):
            got = _C.score_synthid(
                rag.tokens, rag.offsets, pre, key, width, seeding, layers, dedup, True, False
            )
            want = ref.score_synthid(
                rag.tokens, rag.offsets, pre, key, width, seeding, layers, dedup
            )
            for g, w in zip(got, want):
                np.testing.assert_array_equal(g, w)


def test_tournament_preserves_the_distribution_exactly():
    # Averaged over every assignment of g-values (fair, independent coins), the closed-form
    # tournament returns the input distribution: enumerate all 2^(vocab * layers) of them.
    vocab, layers = 4, 3
    p = np.array([0.5, 0.25, 0.15, 0.1])
    acc = np.zeros(vocab)
    patterns = list(itertools.product([0, 1], repeat=vocab * layers))
    for bits in patterns:
        g = np.array(bits, np.uint32).reshape(layers, vocab)
        words = (g << np.arange(layers, dtype=np.uint32)[:, None]).sum(axis=0).astype(np.uint32)
        w = ref.tournament(p, words, layers)
        acc += w / w.sum()
    np.testing.assert_allclose(acc / len(patterns), p, rtol=0, atol=1e-14)


def test_unbiased_over_keys():
    # The C++ sampler over many keys: token frequencies match softmax over the finite logits.
    rng = np.random.default_rng(11)
    x = np.array([2.0, 1.0, 0.5, -np.inf, 0.0, -1.0, 1.5, -np.inf, 0.3, -0.5], np.float32)
    n = 40000
    keys = rng.integers(0, 2**32, (n, 4), dtype=np.uint64).astype(np.uint32)
    ids = rng.integers(0, 1000, (n, 4))
    tokens, marked = _C.sample_synthid(
        np.repeat(x[None], n, axis=0), "float32", ids, keys, rng.random(n), None, 4, 0, 30, 0, 0
    )
    assert marked.all()
    assert softmax_fit_pvalue(tokens, x) > 1e-3


def test_null_calibration():
    rng = np.random.default_rng(7)
    wm = tm.SynthID(key=b"null test")
    n_docs = 4000
    lengths = rng.integers(20, 300, n_docs)
    offsets = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
    res = wm.detect(Ragged(rng.integers(0, 32000, offsets[-1]).astype(np.int32), offsets))
    # Exact binomial p-values of counts: test the randomised p-value for uniformity.
    bits, ones = res.n_scored * 30, res.ones.sum(axis=1)
    p_rand = res.p_value - rng.random(n_docs) * stats.binom.pmf(ones, bits, 0.5)
    assert stats.kstest(p_rand, "uniform").pvalue > 1e-3
    for p in (res.p_value, res.weighted_p_value):
        fp = int((p <= 0.01).sum())
        assert stats.binom.sf(fp - 1, n_docs, 0.01) > 1e-3, fp
    assert stats.kstest(res.weighted_p_value, "uniform").pvalue > 1e-3


def test_one_layer_mean_g_matches_theory():
    # One layer: the chosen token's g is 1 with probability 1/2 + (1 - sum p^2) / 4.
    rng = np.random.default_rng(2)
    vocab, n = 50, 40000
    x = (rng.standard_normal(vocab) * 1.5).astype(np.float32)
    p = special.softmax(x.astype(np.float64))
    theory = 0.5 + (1 - np.sum(p**2)) / 4
    wm = tm.SynthID(key=b"power", layers=1, context_history=0)
    ids = rng.integers(0, 30000, (n, 4))
    tokens = wm.sample(np.repeat(x[None], n, axis=0), ids, rng=rng)
    res = wm.detect(np.concatenate([ids, tokens[:, None]], axis=1))
    assert (res.n_scored == 1).all()
    g = res.ones[:, 0]
    se = g.std() / np.sqrt(n)
    assert abs(g.mean() - theory) < 4 * se, (g.mean(), theory, se)


def _generated(wm, n, seed=5, vocab=500):
    """A prompt of 3 ids and ``n`` ids sampled under ``wm``, never the eos id 2."""
    rng = np.random.default_rng(seed)
    seq = [int(t) for t in rng.integers(3, vocab, 3)]
    for _ in range(n):
        x = (rng.standard_normal((1, vocab)) * 2).astype(np.float32)
        x[0, 2] = -np.inf  # never emits the eos id 2 itself
        seq.append(int(wm.sample(x, np.array([seq]), rng=rng)[0]))
    return seq


def test_generation_loop_is_detected_and_eos_truncates():
    wm = tm.SynthID(key=b"loop", context_width=3)
    seq = _generated(wm, 150)
    res = wm.detect([seq])
    assert res.p_value[0] < 1e-6 and res.weighted_p_value[0] < 1e-6
    assert tm.SynthID(key=b"other", context_width=3).detect([seq]).p_value[0] > 1e-3
    padded = wm.detect([seq + [2] + [7] * 40], eos_token_id=2)
    assert padded.n_scored[0] == res.n_scored[0] and padded.p_value[0] == res.p_value[0]


def test_eos_cut_follows_left_padding_and_the_prefix():
    """The eos that ends a document is the first one after its prefix and after a leading run
    of eos (left padding where pad = eos): a left-padded row was cut to nothing (n_scored 0)."""
    rng = np.random.default_rng(6)

    def cut(seq, eos, prefix):  # the rule, one document at a time
        lead = next((i for i, t in enumerate(seq) if t != eos), 0)  # all eos: none generated
        start = max(prefix, lead)
        ends = [i for i in range(start, len(seq)) if seq[i] == eos]
        return seq[: ends[0]] if ends else seq

    seqs = [rng.integers(0, 4, int(rng.integers(0, 12))).tolist() for _ in range(300)]
    prefix = rng.integers(0, 6, len(seqs))
    for pre in (None, prefix):
        got = synthid_module._truncate_at_eos(Ragged.from_sequences(seqs), 0, pre)
        want = [cut(s, 0, 0 if pre is None else int(pre[d])) for d, s in enumerate(seqs)]
        assert [x.tolist() for x in np.split(got.tokens, got.offsets[1:-1])] == want

    wm = tm.SynthID(key=b"loop", context_width=3)
    seq = _generated(wm, 80)
    clean = wm.detect([seq], prefix_lengths=3)
    left = wm.detect([[2] * 6 + seq + [2] * 9], eos_token_id=2, prefix_lengths=9)
    assert left.n_scored[0] == clean.n_scored[0] and left.p_value[0] == clean.p_value[0]
    assert wm.detect([[2] * 6 + seq + [2] * 9], eos_token_id=2).p_value[0] < 1e-6


def test_config_roundtrip_and_secret():
    wm = tm.SynthID(key=b"very secret", layers=20, top_k=40, context_history=16)
    assert "very secret" not in repr(wm) and wm.key.to_hex() not in wm.to_json()
    assert tm.SynthID.from_json(wm.to_json(), key=b"very secret") == wm
    assert tm.SynthID.from_json(wm.to_json(include_key=True)) == wm
    with pytest.raises(ValueError, match="scheme"):
        tm.SynthID.from_dict(tm.Gumbel(key=b"k").to_dict(), key=b"k")


def test_spec_exp_is_exp():
    # The spec's own exp (identical bits on every backend) is within an ulp or two of exp.
    y = np.concatenate([-np.random.default_rng(0).random(100000) * 700, [0.0, -1e-300, -700.0]])
    np.testing.assert_allclose(ref.spec_exp(y), np.exp(y), rtol=5e-16, atol=0)
    assert ref.spec_exp(np.array([-700.5, -np.inf])).tolist() == [0.0, 0.0]


def _histograms(rng):
    """Phase histograms of every size a tournament makes, with edge contents: random weights of
    a row's scale, a single heavy bin, empty bins, bins near the 2^62 bound, all equal."""
    for bits in range(1, 11):
        n = 1 << bits
        yield rng.integers(0, 2**52, n, dtype=np.uint64)
        yield rng.integers(0, 2**62 // n, n, dtype=np.uint64)
        one = np.zeros(n, np.uint64)
        one[rng.integers(n)] = 2**61 + 12345
        yield one
        sparse = rng.integers(0, 2**40, n, dtype=np.uint64) * (rng.random(n) < 0.1)
        yield sparse.astype(np.uint64)
        yield np.full(n, 3**30, np.uint64)


def test_phase_factors_are_the_spec(simd, rng):
    """The tournament's factors bit for bit (the drawn tokens alone would hide an ulp: a factor's
    rounding moves a fixed-point weight by a unit, which rarely changes the draw)."""
    for hist in _histograms(rng):
        got = _C.synthid_phase_factors(hist)
        want = ref.phase_factors(hist)
        np.testing.assert_array_equal(got.view(np.uint64), want.view(np.uint64), err_msg=len(hist))


def test_phase_factors_reject_bad_histograms():
    for bad, exc, match in [
        (np.zeros(3, np.uint64), ValueError, "hist: expected 2\\^b bins"),
        (np.zeros(1, np.uint64), ValueError, "hist: expected 2\\^b bins"),
        (np.zeros(2048, np.uint64), ValueError, "hist: expected 2\\^b bins"),
        (np.zeros(4, np.int64), TypeError, "hist: expected dtype uint64"),
        (np.zeros((2, 2), np.uint64), ValueError, "hist"),
        (np.array([2**62, 0], np.uint64), ValueError, "below 2\\^62"),
    ]:
        with pytest.raises(exc, match=match):
            _C.synthid_phase_factors(bad)
