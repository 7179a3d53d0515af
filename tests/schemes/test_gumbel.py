"""The Gumbel-max watermark: C++ against the numpy reference bit for bit, unbiasedness, null
calibration, power against theory, bad input."""

import numpy as np
import pytest
import tokenmark as tm
from logit_helpers import DTYPES, as_dtype, edge_logits, softmax_fit_pvalue
from scipy import special, stats
from tokenmark import _C, Ragged
from tokenmark.reference import gumbel as ref
from tokenmark.reference.prf import DOMAIN_GUMBEL, context_hash, prf_word


def make_logits(rng, batch, vocab, dtype, scale=5.0):
    return as_dtype(edge_logits(rng, batch, vocab, scale), dtype)


def choose_both(logits, dtype, ids, keys, salts, enabled, width, seeding, skip):
    got = _C.sample_gumbel(logits, dtype, ids, keys, salts, enabled, width, seeding, skip)
    want = ref.sample_gumbel(logits, ids, keys, salts, enabled, width, seeding, skip, dtype)
    return got, want


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize(
    "batch,vocab", [(0, 17), (1, 1), (1, 17), (3, 1019), (37, 33), (3, 32000), (1, 50257)]
)
def test_sample_matches_reference(simd, rng, dtype, batch, vocab):
    logits = make_logits(rng, batch, vocab, dtype)
    # Few distinct ids, so some rows have repeated contexts.
    ids = rng.integers(0, 3, (batch, 9))
    keys = rng.integers(0, 2**32, (batch, 4), dtype=np.uint64).astype(np.uint32)
    salts = rng.integers(0, 2**32, batch, dtype=np.uint64).astype(np.uint32)
    enabled = (rng.random(batch) < 0.8).astype(np.uint8)
    for width, seeding, skip in [(4, 0, True), (1, 1, True), (0, 0, False), (9, 1, False)]:
        got, want = choose_both(logits, dtype, ids, keys, salts, enabled, width, seeding, skip)
        np.testing.assert_array_equal(got, want)
        if width == 0 and not skip:  # nothing to skip: every enabled row is watermarked
            assert (got[enabled == 1] >= 0).all()


@pytest.mark.parametrize("vocab", [128256, 151936])
def test_sample_large_vocab(rng, vocab):
    logits = make_logits(rng, 3, vocab, "bfloat16")
    ids = rng.integers(0, vocab, (3, 7)).astype(np.int32)
    key = tm.Key(b"k").words[None]
    salt = np.zeros(1, np.uint32)
    got, want = choose_both(logits, "bfloat16", ids, key, salt, None, 4, 0, True)
    np.testing.assert_array_equal(got, want)
    assert (got >= 0).all()


def test_sample_near_ties_match_reference(simd, rng):
    # Logits that cancel the noise make every score nearly equal: the pruning bounds are tight
    # everywhere and the winner is decided in the last bits of float64.
    vocab, key = 20000, tm.Key(b"ties").words
    ids = rng.integers(0, 1000, (4, 4))
    logits = np.empty((4, vocab), np.float32)
    for b in range(4):
        ctx = int(context_hash(ids[b], 0))
        words = prf_word(key, ctx, np.arange(vocab, dtype=np.uint32), DOMAIN_GUMBEL)
        logits[b] = -ref.noise(words)
    got, want = choose_both(
        logits, "float32", ids, key[None], np.zeros(1, np.uint32), None, 4, 0, False
    )
    np.testing.assert_array_equal(got, want)


def test_sample_infinite_logits(rng):
    x = np.zeros((2, 50), np.float32)
    x[0, [7, 30]] = np.inf  # +inf wins outright; ties go to the lowest id
    x[1, :] = -np.inf
    x[1, 44] = 0.0  # the only finite entry of row 1
    ids = rng.integers(0, 50, (2, 4))
    np.testing.assert_array_equal(tm.Gumbel(key=b"k").choose(x, ids), [7, 44])


def test_sample_row_without_finite_logit_raises(rng):
    x = np.full((2, 10), -np.inf, np.float32)
    x[0, 3] = np.nan
    with pytest.raises(ValueError, match="logits: row 0 has no finite entry"):
        tm.Gumbel(key=b"k").choose(x, rng.integers(0, 10, (2, 4)))


def test_logits_not_modified_and_torch_input(rng):
    torch = pytest.importorskip("torch")
    x = make_logits(rng, 5, 1019, "float32")
    before = x.copy()
    ids = rng.integers(0, 1019, (5, 6))
    wm = tm.Gumbel(key=b"k")
    a = wm.choose(x, ids)
    np.testing.assert_array_equal(x.view(np.uint32), before.view(np.uint32))
    np.testing.assert_array_equal(wm.choose(torch.from_numpy(x), torch.from_numpy(ids)), a)
    bf = torch.from_numpy(x).to(torch.bfloat16)
    np.testing.assert_array_equal(wm.choose(bf, ids), wm.choose(bf, ids, backend="reference"))


@pytest.mark.parametrize("dedup", [True, False])
def test_score_matches_reference(simd, rng, dedup):
    lengths = [0, 1, 4, 5, 37, 300, 700]
    docs = [rng.integers(0, 40, n) for n in lengths]  # small alphabet: repeated pairs
    rag = tm.Ragged.from_sequences(docs)
    prefix = np.array([0, 0, 2, 9, 0, 10, 3], np.int64)
    salts = rng.integers(0, 2**32, len(docs), dtype=np.uint64).astype(np.uint32)
    key = tm.Key(b"score").words
    for width, seeding in [(4, 0), (1, 1), (0, 0)]:
        for pre in (None, prefix):
            n, s, c = _C.score_gumbel(
                rag.tokens, rag.offsets, pre, key, salts, width, seeding, dedup, True, False
            )
            wn, ws, wc = ref.score_gumbel(
                rag.tokens, rag.offsets, pre, key, salts, width, seeding, dedup
            )
            np.testing.assert_array_equal(n, wn)
            np.testing.assert_array_equal(c, wc)
            # Same terms, same order, float64: the sums agree to the last bits.
            np.testing.assert_allclose(s, ws, rtol=1e-13, atol=0)


def test_detect_sees_the_generation_context():
    # Tokens chosen by the sampler score as chosen: the detector recomputes the same u.
    rng = np.random.default_rng(5)
    wm = tm.Gumbel(key=b"loop", context_width=3)
    vocab, n = 500, 300
    seq = list(rng.integers(0, vocab, 3))
    for _ in range(n):
        x = (rng.standard_normal((1, vocab)) * 2).astype(np.float32)
        seq.append(int(wm.sample(x, np.array([seq]), salt=77, rng=rng)[0]))
    res = wm.detect([seq], salt=77)
    assert res.p_value[0] < 1e-6
    assert wm.detect([seq], salt=78).p_value[0] > 1e-3  # a wrong salt is another key


def test_unbiased_over_keys():
    # Over salts (equivalently keys), the Gumbel choice is an exact sample of softmax(logits)
    # restricted to the finite entries.
    rng = np.random.default_rng(11)
    x = np.array([2.0, 1.0, 0.5, -np.inf, 0.0, -1.0, 1.5, -np.inf, 0.3, -0.5], np.float32)
    n = 40000
    logits = np.repeat(x[None], n, axis=0)
    ids = rng.integers(0, 1000, (n, 4))
    tokens = tm.Gumbel(key=b"unbiased", skip_repeated=False).choose(
        logits, ids, salt=np.arange(n, dtype=np.uint32)
    )
    assert softmax_fit_pvalue(tokens, x) > 1e-3


def test_null_pvalues_uniform_and_fpr_holds():
    rng = np.random.default_rng(7)
    wm = tm.Gumbel(key=b"null test")
    n_docs = 5000
    lengths = rng.integers(20, 300, n_docs)
    offsets = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
    docs = Ragged(rng.integers(0, 32000, offsets[-1]).astype(np.int32), offsets)
    res = wm.detect(docs)
    # Gamma(n, 1) is continuous: the p-values themselves are uniform under the null.
    assert stats.kstest(res.p_value, "uniform").pvalue > 1e-3
    # Exact and continuous: the false-positive count is Binomial(n_docs, alpha), two-sided.
    fp = int((res.p_value <= 0.01).sum())
    assert stats.binomtest(fp, n_docs, 0.01).pvalue > 1e-3, fp


def test_mean_score_matches_theory():
    # For a watermarked token drawn from p, E[-log(1 - u)] = sum_v p_v (psi(1 + 1/p_v) - psi(1))
    # (Fernandez et al. 2023); one scored token per document, many contexts.
    rng = np.random.default_rng(2)
    vocab, n = 200, 20000
    x = (rng.standard_normal(vocab) * 1.5).astype(np.float32)
    p = special.softmax(x.astype(np.float64))
    theory = float(np.sum(p * (special.digamma(1 + 1 / p) - special.digamma(1))))
    wm = tm.Gumbel(key=b"power", context_width=4, skip_repeated=False)
    ids = rng.integers(0, 30000, (n, 4))
    tokens = wm.choose(np.repeat(x[None], n, axis=0), ids)
    res = wm.detect(np.concatenate([ids, tokens[:, None]], axis=1))
    assert (res.n_scored == 1).all()
    se = res.score.std() / np.sqrt(n)
    assert abs(res.score.mean() - theory) < 4 * se, (res.score.mean(), theory, se)


def test_config_roundtrip_and_secret():
    wm = tm.Gumbel(key=b"very secret", context_width=2, seeding="minhash", skip_repeated=False)
    assert "very secret" not in repr(wm) and wm.key.to_hex() not in wm.to_json()
    assert tm.Gumbel.from_json(wm.to_json(), key=b"very secret") == wm
    assert tm.Gumbel.from_json(wm.to_json(include_key=True)) == wm
    with pytest.raises(ValueError, match="key"):
        tm.Gumbel.from_json(wm.to_json(), key=b"other")
    with pytest.raises(ValueError, match="scheme"):
        tm.Gumbel.from_dict(tm.KGW(key=b"k").to_dict(), key=b"k")


def test_sample_falls_back_to_softmax_where_not_watermarked():
    torch = pytest.importorskip("torch")
    wm = tm.Gumbel(key=b"fallback")
    x = np.full((2, 6), -np.inf, np.float32)
    x[:, [1, 4]] = [0.0, np.log(3.0)]  # softmax over the finite entries: 1/4, 3/4
    ids = np.array([[7, 8, 9, 10], [7, 8, 9, 10]])
    on = np.array([0, 1], np.uint8)
    rng = np.random.default_rng(0)
    draws = np.array([wm.sample(x, ids, enabled=on, rng=rng)[0] for _ in range(2000)])
    assert set(draws.tolist()) <= {1, 4}
    assert stats.binomtest(int((draws == 4).sum()), 2000, 0.75).pvalue > 1e-3
    # The enabled row is the Gumbel choice every time; torch bfloat16 input takes the same path.
    chosen = wm.choose(x, ids)[1]
    bf = torch.from_numpy(x).to(torch.bfloat16)
    assert wm.sample(bf, torch.from_numpy(ids), enabled=on, rng=rng)[1] == chosen


def test_sample_edge_values_past_the_first_chunk(simd, rng):
    # The AVX2 path screens whole 32-token chunks once a best score exists, so NaN, -inf, +inf,
    # -0.0 and a late maximum are placed after the first chunk, at every lane position.
    vocab = 32 * 40
    logits = make_logits(rng, 6, vocab, "float32", scale=2.0)
    specials = np.array([np.nan, -np.inf, -0.0, 0.0, 1e-40, -3e38], np.float32)
    for b in range(6):
        pos = rng.choice(np.arange(32, vocab), size=120, replace=False)
        logits[b, pos] = specials[rng.integers(0, len(specials), pos.size)]
    logits[3, 32 * 39 + 5] = 40.0  # a late winner: every earlier candidate is overtaken
    logits[4, 32 * 20 + 31] = np.inf  # +inf in the last lane of a chunk
    logits[5, 33:] = np.nan  # one finite chunk, then NaN only
    ids = rng.integers(0, 1000, (6, 6))
    key = tm.Key(b"edges").words[None]
    got, want = choose_both(logits, "float32", ids, key, np.zeros(1, np.uint32), None, 4, 0, False)
    np.testing.assert_array_equal(got, want)
    assert got[3] == 32 * 39 + 5 and got[4] == 32 * 20 + 31
