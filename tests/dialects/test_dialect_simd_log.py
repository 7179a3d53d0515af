"""The per-token -log1p(-u) of the vLLM and SGLang dialects' C++ detectors, one token at a time.

Their AVX2 paths take the log with a vectorised fdlibm-method log (csrc/cpu/simd_avx2.h,
log_pd4) of 1 - u, which is exact in double (of a lane product of up to 24 such factors in long
documents: see the long-sum tests below); their scalar paths call std::log1p. Each document
here scores exactly one token, so the document's score is that token's term, and both paths are
compared with the numpy reference (np.log1p of the same uniform) within 1e-15 relative (about
4.5 ulp; fdlibm's bound is 1 ulp), on 10000 fresh uniforms per key, keys and widths mixed.
"""

from __future__ import annotations

import numpy as np
import tokenmark as tm

N = 10000
RTOL = 1e-15


def _rel_err(a, b):
    return np.max(np.abs(a - b) / np.abs(b))


def test_vllm_per_token_terms_match_numpy_log1p(simd, rng):
    tokens = rng.integers(0, 2**31 - 1, size=(N, 1))  # one scored token, context all -1
    for key, algorithm in ((2**64 - 3, "gumbel"), (12345, "dual_key_gumbel")):
        wm = tm.dialects.vllm(key=key, algorithm=algorithm, context_width=3, alpha=0.25)
        a = wm.detect(tokens, backend="cpu")
        b = wm.detect(tokens, backend="reference")
        np.testing.assert_array_equal(a.n_scored, 1)
        assert _rel_err(a.score, b.score) <= RTOL, (simd, algorithm)


def test_sglang_per_token_terms_match_numpy_log1p(simd, rng):
    # width 2, prompt of 2 random tokens: one scored token per document, a fresh context each
    docs = rng.integers(0, 2**31 - 1, size=(N, 3))
    for key, key_b in (("0123456789abcdef", None), ("5eee", "b0c")):
        wm = tm.dialects.sglang(key, 2, key_b=key_b, mixing_probability=0.4)
        a = wm.detect(docs, prefix_lengths=np.full(N, 2), backend="cpu")
        b = wm.detect(docs, prefix_lengths=np.full(N, 2), backend="reference")
        np.testing.assert_array_equal(a.n_scored, 1)
        np.testing.assert_array_equal(a.n_key_a, b.n_key_a)
        for f in ("score", "score_key_a_all") + (("score_key_b_all",) if key_b else ()):
            x, y = getattr(a, f), getattr(b, f)
            assert _rel_err(x, y) <= RTOL, (simd, f)


def test_batched_gamma_tails_equal_scipy_stats(rng):
    """The detectors take Q(n, score) from scipy.special.gammaincc in one call per batch: the
    same float64 values as scipy.stats.gamma.sf / logsf, watermarked and not, n = 0 included."""
    from scipy import stats

    docs = [rng.integers(0, 500, size=n).tolist() for n in (0, 1, 3, 40, 300, 700)]
    res = tm.dialects.vllm(key=9, context_width=2).detect(docs)
    want = np.where(res.n_scored > 0, stats.gamma.sf(res.score, np.maximum(res.n_scored, 1)), 1)
    np.testing.assert_array_equal(res.p_value, want)
    res = tm.dialects.sglang("abc", 2).detect(docs)
    with np.errstate(divide="ignore"):
        log_sf = stats.gamma.logsf(res.score, np.maximum(res.n_scored, 1))
    # numpy's log may round the last bit differently in its SIMD lanes and its scalar tail, and
    # scipy.stats logs a different subset of the array: 1e-15 relative, not bit-equal
    np.testing.assert_allclose(res.log_p_value, np.where(res.n_scored > 0, log_sf, 0.0),
                               rtol=1e-15, atol=0)  # fmt: skip
    np.testing.assert_array_equal(res.p_value, np.exp(res.log_p_value))


def test_dedup_gaps_and_runs_on_both_paths(simd, rng):
    """Repetitive documents (small alphabets) leave gaps between counted positions, so lane
    groups mix runs of consecutive positions (loaded as vectors) and gapped ones, and partial
    last groups; C++ against the reference on both paths, every width from 1 to 6."""
    docs = [rng.integers(0, hi, size=n).tolist() for hi, n in
            ((3, 17), (4, 64), (6, 200), (50, 333), (2**31 - 1, 40))]  # fmt: skip
    pre = [0, 2, 0, 9, 1]
    for width in range(1, 7):
        wm = tm.dialects.vllm(key=77 + width, algorithm="dual_key_gumbel", context_width=width)
        a = wm.detect(docs, prefix_lengths=pre, return_flags=True, backend="cpu")
        b = wm.detect(docs, prefix_lengths=pre, return_flags=True, backend="reference")
        np.testing.assert_array_equal(a.n_scored, b.n_scored)
        np.testing.assert_allclose(a.score, b.score, rtol=1e-13)
        for x, y in zip(a.counted, b.counted, strict=True):
            np.testing.assert_array_equal(x, y)
        sg = tm.dialects.sglang(2**63 + width, width, key_b=5, mixing_probability=0.3)
        a = sg.detect(docs, prefix_lengths=pre, return_flags=True, backend="cpu")
        b = sg.detect(docs, prefix_lengths=pre, return_flags=True, backend="reference")
        np.testing.assert_array_equal(a.n_scored, b.n_scored)
        np.testing.assert_array_equal(a.n_key_a, b.n_key_a)
        np.testing.assert_allclose(a.score, b.score, rtol=1e-13)
        for x, y in zip(a.counted, b.counted, strict=True):
            np.testing.assert_array_equal(x, y)


def test_synthid_text_weighted_p_value_equals_scipy_stats(rng):
    """weighted_p_value comes from scipy.special.ndtr(-z): scipy.stats.norm.sf's value."""
    from scipy import stats

    wm = tm.dialects.synthid_text(keys=list(range(3, 15)), ngram_len=3)
    res = wm.detect([rng.integers(0, 900, size=n).tolist() for n in (0, 2, 30, 400)])
    want = np.where(res.n_scored > 0, stats.norm.sf(res.weighted_z), 1.0)
    np.testing.assert_array_equal(res.weighted_p_value, want)


def test_green_lists_both_paths_match_torch_randperm(simd):
    """The KGW dialects' green lists (MT19937 outputs kMtN at a time, AVX2 twist and tempering on
    the simd path, scalar calls on the other) against torch.randperm itself, across several
    generator blocks (k up to 5000 > 624) and the whole-vocabulary case."""
    import torch
    from tokenmark import _C

    for vocab, k in ((1019, 1019), (1019, 1018), (5003, 1250), (7000, 5000), (32000, 700)):
        seeds = np.array([0, 1, 2**32 - 1, 123456789], dtype=np.uint32)
        bits = _C.torch_cpu_green_lists(seeds, vocab, k)
        for i, s in enumerate(seeds):
            perm = torch.randperm(vocab, generator=torch.Generator().manual_seed(int(s)))
            want = np.zeros(vocab, dtype=bool)
            want[perm[:k].numpy()] = True
            got = np.unpackbits(bits[i], bitorder="little")[:vocab].astype(bool)
            np.testing.assert_array_equal(got, want, err_msg=f"{simd} vocab {vocab} seed {s}")


def test_sglang_long_sums_match_the_reference(simd, rng):
    """SGLang's AVX2 path sums -log(1 - u) as -log of products of up to 24 factors per lane (one
    log per 24 terms), the scalar path term by term: both against the reference's pairwise sum
    of per-token log1p, within 1e-14 relative, for counted lengths around the product groups'
    edges (8 lanes x 12 groups = 96 and 192 positions) and long documents, one key and two."""
    lengths = (1, 7, 8, 9, 95, 96, 97, 191, 192, 193, 1000, 5000)
    docs = [rng.integers(0, 50_000, size=n + 4).tolist() for n in lengths]
    for key_b in (None, "b0c"):
        wm = tm.dialects.sglang("0123456789abcdef", 4, key_b=key_b, mixing_probability=0.3)
        a = wm.detect(docs, backend="cpu")
        b = wm.detect(docs, backend="reference")
        np.testing.assert_array_equal(a.n_scored, b.n_scored)
        np.testing.assert_array_equal(a.n_key_a, b.n_key_a)
        fields = ("score", "score_key_a_all")
        if key_b:
            fields += ("score_key_b_all", "score_partition_a", "score_partition_b")
        for f in fields:
            np.testing.assert_allclose(getattr(a, f), getattr(b, f), rtol=1e-14, err_msg=f)


def test_vllm_uniform_by_reciprocal_rounds_as_their_division():
    """vLLM's AVX2 path computes ((word >> 8) + 1) / (2^24 + 1) as a product with the rounded
    reciprocal before the float32 cast: for every one of the 2^24 numerators the float32 is the
    one their division gives."""
    num = np.arange(1, 2**24 + 1, dtype=np.float64)
    want = (num / 16777217.0).astype(np.float32)
    np.testing.assert_array_equal((num * (1.0 / 16777217.0)).astype(np.float32), want)


def test_vllm_long_sums_match_the_reference(simd, rng):
    """vLLM's AVX2 path, like SGLang's, sums -log1p(-u) as -log of lane products of up to 24
    factors: against the reference's sum of per-token terms within 1e-13 relative, at the group
    edges and on long documents, one key and two (weighted)."""
    lengths = (1, 7, 8, 9, 95, 96, 97, 191, 192, 193, 1000, 5000)
    docs = [rng.integers(0, 50_000, size=n).tolist() for n in lengths]
    for algorithm in ("gumbel", "dual_key_gumbel"):
        wm = tm.dialects.vllm(key=77, algorithm=algorithm, context_width=3, alpha=0.3)
        a = wm.detect(docs, backend="cpu")
        b = wm.detect(docs, backend="reference")
        np.testing.assert_array_equal(a.n_scored, b.n_scored)
        np.testing.assert_allclose(a.score, b.score, rtol=1e-13, err_msg=algorithm)
