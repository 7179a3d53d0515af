"""vLLM 0.33.0's native watermark (gumbel, dual_key_gumbel) against tm.dialects.vllm.

Expectations come from vLLM's own code: tests/data/vllm_golden.json was computed by vLLM
0.33.0's PhiloxPRF, detectors and GumbelWatermarker (tests/data/make_vllm_golden.py; vLLM does
not import on a CPU machine from `pip install --no-deps`, so its six watermarking files are run
from the wheel, see tests/dialects/vllm_source.py). With TOKENMARK_VLLM_WHEEL set, the same
comparisons also run live on fresh random inputs. Our exact dual-key p-value is checked against
Monte Carlo and closed forms, not against vLLM (whose Gamma moment match is an approximation)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import tokenmark as tm
from scipy import stats
from tokenmark.dialects import VLLMWatermark
from tokenmark.dialects.vllm import derive_key, dual_key_tail, philox_uniform

GOLDEN = json.loads((Path(__file__).parents[1] / "data" / "vllm_golden.json").read_text())


def test_golden_uniforms_bit_exact():
    for case in GOLDEN["uniforms"]:
        u = philox_uniform(int(case["key"]), np.array(case["contexts"]), np.array(case["tokens"]))
        assert u.dtype == np.float32
        np.testing.assert_array_equal(u.astype(np.float64), case["u"])


def test_golden_key_derivation():
    for case in GOLDEN["derive_watermark_key"]:
        assert derive_key(int(case["key"]), b"key_a") == int(case["key_a"])
        assert derive_key(int(case["key"]), b"key_b") == int(case["key_b"])


@pytest.mark.parametrize("backend", ["cpu", "reference"])
@pytest.mark.parametrize("i", range(len(GOLDEN["detections"]["cases"])))
def test_golden_detections(i, backend):
    case = GOLDEN["detections"]["cases"][i]
    wm = tm.dialects.vllm(
        key=int(case["key"]), algorithm=case["algorithm"], context_width=case["context_width"],
        alpha=case["alpha"], deduplicate_contexts=case["deduplicate_contexts"],
    )  # fmt: skip
    res = wm.detect(GOLDEN["detections"]["documents"], backend=backend)
    np.testing.assert_array_equal(res.n_scored, case["n_scored"])
    np.testing.assert_allclose(res.score, case["score"], rtol=1e-13, atol=0)  # sum order
    # their_p_value is their formula evaluated with scipy; their own series for the integer-shape
    # Gamma tail rounds differently (1e-9 relative at n = 300)
    np.testing.assert_allclose(res.their_p_value, case["p_value"], rtol=1e-7, atol=1e-300)
    if case["algorithm"] == "gumbel" or case["alpha"] == 0.5:  # theirs is exact there
        np.testing.assert_allclose(res.p_value, case["p_value"], rtol=1e-7, atol=1e-300)


def test_their_generation_detected():
    g = GOLDEN["generated"]
    wm = tm.dialects.vllm(key=int(g["key"]), algorithm=g["algorithm"], context_width=4)
    res = wm.detect(g["sequences"])
    np.testing.assert_allclose(res.p_value, g["p_value"], rtol=1e-7)
    assert (res.p_value < 1e-30).all()
    # with the prompt in front, prefix_lengths drops it: vLLM never hashes the prompt
    with_prompt = [[5, 6, 7] + s for s in g["sequences"]]
    np.testing.assert_allclose(wm.detect(with_prompt, prefix_lengths=3).p_value, res.p_value)
    other = tm.dialects.vllm(key=int(g["key"]) + 1, context_width=4)
    assert (other.detect(g["sequences"]).p_value > 1e-3).all()


@pytest.mark.parametrize("algorithm", ["gumbel", "dual_key_gumbel"])
@pytest.mark.parametrize("width", [1, 3, 4, 5, 9])
def test_cpp_matches_numpy_reference(algorithm, width):
    rng = np.random.default_rng(width)
    hi = {1: 4, 3: 6, 4: 30, 5: 1000, 9: 2**31 - 1}[width]  # small alphabets repeat contexts
    docs = [rng.integers(0, hi, size=n).tolist() for n in (0, 1, 2, 5, 40, 333)]
    pre = [0, 1, 5, 2, 7, 100]  # prefixes past a document's end mean the whole document
    for dedup in (True, False):
        wm = tm.dialects.vllm(key=2**63 + width, algorithm=algorithm, context_width=width,
                              alpha=0.3, deduplicate_contexts=dedup)  # fmt: skip
        a = wm.detect(docs, prefix_lengths=pre, return_flags=True, backend="cpu")
        b = wm.detect(docs, prefix_lengths=pre, return_flags=True, backend="reference")
        np.testing.assert_array_equal(a.n_scored, b.n_scored)
        np.testing.assert_allclose(a.score, b.score, rtol=1e-13)  # summation order
        for x, y in zip(a.counted, b.counted):
            np.testing.assert_array_equal(x, y)


def test_cpp_binding_bad_input():
    from tokenmark import _C

    tok, off = np.array([1, 2, 3], np.int32), np.array([0, 3], np.int64)
    ok = dict(starts=np.zeros(1, np.int64), width=2, keys=np.array([1], np.uint64),
              weights=np.ones(1), dedup=True, want_flags=False)  # fmt: skip
    for change, err, match in [
        (dict(starts=np.array([4])), ValueError, "starts"),
        (dict(starts=np.array([-1])), ValueError, "starts"),
        (dict(starts=np.zeros(2, np.int64)), ValueError, "starts"),
        (dict(width=0), ValueError, "width"),
        (dict(keys=np.array([1], np.int64)), TypeError, "keys"),
        (dict(keys=np.array([1, 2, 3], np.uint64), weights=np.ones(3)), ValueError, "keys"),
        (dict(weights=np.ones(2)), ValueError, "weights"),
    ]:
        with pytest.raises(err, match=match):
            _C.score_vllm_gumbel(tok, off, **{**ok, **change})
    with pytest.raises(ValueError, match="offsets"):
        _C.score_vllm_gumbel(tok, np.array([0, 2], np.int64), **ok)
    with pytest.raises(ValueError, match="backend"):
        tm.dialects.vllm(key=1).detect([[1, 2]], backend="cuda")


def test_op_refuses_bool_weights():
    # a bool weight was taken as 1.0 and scored
    with pytest.raises(TypeError, match="weights: expected float weights, got bool"):
        tm.ops.score_vllm(np.array([1, 2, 3], np.int32), np.array([0, 3]),
                          keys=np.array([7], np.uint64), weights=np.array([True]),
                          context_width=1)  # fmt: skip


def test_context_rule_minus_one_padding_and_dedup():
    wm = tm.dialects.vllm(key=5, context_width=2)
    res = wm.detect([[7, 8, 7, 8, 7, 8, 9]], return_flags=True)
    # contexts: (-1,-1) (-1,7) (7,8) (8,7) (7,8)rep (8,7)rep (7,8)rep -> 4 counted
    assert res.counted[0].tolist() == [1, 1, 1, 1, 0, 0, 0]
    u = philox_uniform(5, np.array([[-1, -1], [-1, 7], [7, 8], [8, 7]]), np.array([7, 8, 7, 8]))
    assert res.score[0] == pytest.approx(-np.log1p(-u.astype(np.float64)).sum(), rel=1e-15)
    nodedup = tm.dialects.vllm(key=5, context_width=2, deduplicate_contexts=False)
    assert nodedup.detect([[7, 8, 7, 8, 7, 8, 9]]).n_scored.tolist() == [7]


@pytest.mark.parametrize("alpha", [0.1, 0.3, 0.9])
def test_dual_key_exact_tail_against_monte_carlo(alpha):
    rng = np.random.default_rng(int(alpha * 100))
    n = 20
    draws = (1 - alpha) * rng.gamma(n, size=400_000) + alpha * rng.gamma(n, size=400_000)
    for q in (0.5, 0.9, 0.99, 0.999):
        s = float(np.quantile(draws, q))
        got = dual_key_tail(s, n, alpha)[0]
        se = np.sqrt(got * (1 - got) / len(draws))
        assert abs(got - (1 - q)) < 5 * se + 1e-12, (q, got)
    # closed forms at the ends and the middle
    assert dual_key_tail(30.0, 20, 0.5)[0] == pytest.approx(stats.gamma.sf(60.0, 40), rel=1e-12)
    assert dual_key_tail(30.0, 20, 0.0)[0] == pytest.approx(stats.gamma.sf(30.0, 20), rel=1e-12)
    assert dual_key_tail([5.0, 0.0], [0, 3], 0.3).tolist() == [1.0, 1.0]
    # tiny tails: between the bounds P[G_A >= s / big] and P[Gamma(2n) >= s / big], and equal
    # to a 50-digit integral (mpmath) of the same convolution
    big = max(alpha, 1 - alpha)
    small = dual_key_tail(120.0, n, alpha)[0]
    assert stats.gamma.sf(120.0 / big, n) <= small <= stats.gamma.sf(120.0 / big, 2 * n)
    mpmath = pytest.importorskip("mpmath")
    mpmath.mp.dps = 50
    lo = min(alpha, 1 - alpha)

    def f(x):
        inner = mpmath.gammainc(n, (120 - lo * x) / big, mpmath.inf, regularized=True)
        return x ** (n - 1) * mpmath.e ** (-x) / mpmath.factorial(n - 1) * inner

    edge = 120 / lo  # past it the inner tail is 1: the outer Gamma tail
    want = mpmath.quad(f, np.linspace(0, edge, 41).tolist())
    want += mpmath.gammainc(n, edge, mpmath.inf, regularized=True)
    assert small == pytest.approx(float(want), rel=1e-7)


@pytest.mark.parametrize("algorithm", ["gumbel", "dual_key_gumbel"])
def test_null_pvalues_uniform_over_keys_and_per_key(algorithm):
    """Tokens independent of the key: our p-values are continuous and exact, so KS-uniform,
    per key (300 documents) and over 20 keys. Uniform tokens over 32000 ids, 60 per document."""
    rng = np.random.default_rng(3)
    all_p = []
    for k in range(20):
        wm = tm.dialects.vllm(key=int(rng.integers(0, 2**63)), algorithm=algorithm, alpha=0.2)
        p = wm.detect(rng.integers(0, 32000, size=(300, 60))).p_value
        assert stats.kstest(p, "uniform").pvalue > 1e-4, k
        all_p.append(p)
    assert stats.kstest(np.concatenate(all_p), "uniform").pvalue > 1e-3


def test_from_config_forms_and_secrecy():
    key = 9876543210123
    js = json.dumps({"key": key, "algorithm": "dual_key_gumbel", "alpha": 0.25,
                     "context_width": 3, "deduplicate_contexts": "all"})  # fmt: skip
    wm = VLLMWatermark.from_config(js)
    assert (wm.algorithm, wm.alpha, wm.context_width) == ("dual_key_gumbel", 0.25, 3)
    assert VLLMWatermark.from_config(json.loads(js)) == wm

    class Cfg:  # vLLM's WatermarkConfig: attributes of these names
        algorithm, alpha, context_width, prf = "gumbel", 0.1, 4, "philox"

    Cfg.key = key

    assert VLLMWatermark.from_config(Cfg()).algorithm == "gumbel"
    assert str(key) not in repr(wm)
    for bad, match in [
        ('{"key": 1, "prf": "hmac_sha256"}', "prf"),
        ('{"algorithm": "gumbel"}', "no key"),
        ('{"key": 1, "colour": 2}', "unknown"),
        ("{not json " + str(key), "JSON"),
    ]:
        with pytest.raises(ValueError, match=match) as e:
            VLLMWatermark.from_config(bad)
        assert str(key) not in str(e.value)


@pytest.mark.parametrize(
    "kw,err,match",
    [
        (dict(key=-1), ValueError, "key"),
        (dict(key=2**64), ValueError, "key"),
        (dict(key="k"), TypeError, "key"),
        (dict(key=1, algorithm="kgw"), ValueError, "algorithm"),
        (dict(key=1, context_width=0), ValueError, "context_width"),
        (dict(key=1, alpha=1.5), ValueError, "alpha"),
    ],
)
def test_bad_config(kw, err, match):
    with pytest.raises(err, match=match):
        VLLMWatermark(**kw)


def test_bad_input_and_empty():
    wm = tm.dialects.vllm(key=1)
    res = wm.detect([[], [3]])
    assert res.n_scored.tolist() == [0, 1] and res.p_value[0] == 1.0
    with pytest.raises(ValueError, match="token ids must be >= 0"):
        wm.detect([[1, -1]])
    with pytest.raises(ValueError, match="prefix_lengths"):
        wm.detect([[1, 2]], prefix_lengths=[1, 2, 3])


# -- live, against vLLM's code from its wheel ----------------------------------------------
import vllm_source  # noqa: E402  (our helper: an import error fails, never skips)

torch = pytest.importorskip("torch")
live = pytest.mark.skipif(
    vllm_source.wheel_path() is None,
    reason="TOKENMARK_VLLM_WHEEL unset: vLLM's own code not available (golden vectors above)",
)


@live
def test_live_uniforms_and_detectors_match_vllm():
    v = vllm_source.load(vllm_source.wheel_path())
    rng = np.random.default_rng(99)
    for key in (3, 2**64 - 2):
        for width in (1, 2, 4, 7, 8):
            ctx = rng.integers(-1, 150000, size=(64, width))
            tok = rng.integers(0, 150000, size=64)
            want = v.PhiloxPRF(key).uniform(torch.tensor(ctx), torch.tensor(tok)[:, None])
            np.testing.assert_array_equal(philox_uniform(key, ctx, tok), want[:, 0].numpy())
    docs = [rng.integers(0, 20, size=n).tolist() for n in (1, 2, 9, 100, 257)]
    for alpha in (0.1, 0.5, 0.77):
        det = v.DualKeyGumbelWatermarkDetector(11, 3, alpha=alpha)
        res = tm.dialects.vllm(11, "dual_key_gumbel", 3, alpha=alpha).detect(docs)
        for d, doc in enumerate(docs):
            o = det.detect(doc)
            assert o.num_scored_tokens == res.n_scored[d]
            assert o.score == pytest.approx(res.score[d], rel=1e-13)
            assert o.p_value == pytest.approx(res.their_p_value[d], rel=1e-7)


@live
def test_live_detector_loads_without_pydantic(monkeypatch):
    """The GPU image lacks pydantic: the loader's stand-in for it (only the config class uses
    it) gives the same detector, and the real pydantic is back afterwards."""
    import sys

    real = sys.modules.get("pydantic")
    monkeypatch.setitem(sys.modules, "pydantic", None)  # import pydantic: ImportError
    v = vllm_source.load(vllm_source.wheel_path())
    assert v.pydantic_stand_in
    assert sys.modules["pydantic"] is None  # the stand-in left no trace
    doc = np.random.default_rng(4).integers(0, 50, size=300).tolist()
    o = v.GumbelWatermarkDetector(31337, 4).detect(doc)
    res = tm.dialects.vllm(31337, context_width=4).detect([doc])
    assert o.num_scored_tokens == res.n_scored[0]
    assert o.score == pytest.approx(res.score[0], rel=1e-13)
    monkeypatch.undo()
    assert sys.modules.get("pydantic") is real
    assert not vllm_source.load(vllm_source.wheel_path()).pydantic_stand_in


def test_golden_choices_our_sampler_picks_vllms_token():
    from tokenmark.dialects.vllm_processor import vllm_gumbel_choice

    for case in GOLDEN["choices"]:
        logits = torch.tensor(case["logits"], dtype=torch.float32)
        got = vllm_gumbel_choice(int(case["key"]), logits, np.array(case["contexts"]))
        assert got.tolist() == case["tokens"]


def tiny_llama(vocab: int):
    transformers = pytest.importorskip("transformers")
    torch.manual_seed(0)
    cfg = transformers.LlamaConfig(
        vocab_size=vocab, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
        num_attention_heads=2, num_key_value_heads=2, max_position_embeddings=256,
        bos_token_id=1, eos_token_id=2, pad_token_id=2,
    )  # fmt: skip
    return transformers.LlamaForCausalLM(cfg).eval()


@pytest.mark.parametrize("algorithm", ["gumbel", "dual_key_gumbel"])
def test_our_generation_detected_by_the_vllm_rule(algorithm):
    transformers = pytest.importorskip("transformers")
    model = tiny_llama(1031)
    wm = tm.dialects.vllm(key=4242, algorithm=algorithm, context_width=3, alpha=0.3)
    prompts = torch.randint(3, 1031, (3, 4), generator=torch.Generator().manual_seed(0))
    torch.manual_seed(0)
    procs = [transformers.TemperatureLogitsWarper(0.2), wm.logits_processor(seed=1)]
    with torch.no_grad():
        out = model.generate(
            prompts, attention_mask=torch.ones_like(prompts), do_sample=True,
            max_new_tokens=40, logits_processor=procs, pad_token_id=2, top_k=0,
        )  # fmt: skip
    res = wm.detect(out, prefix_lengths=4)
    assert (res.p_value < 1e-8).all(), res.p_value
    if vllm_source.wheel_path() is not None:  # and vLLM's own detector agrees
        v = vllm_source.load(vllm_source.wheel_path())
        det = (v.GumbelWatermarkDetector(4242, 3) if algorithm == "gumbel"
               else v.DualKeyGumbelWatermarkDetector(4242, 3, alpha=0.3))  # fmt: skip
        for d in range(3):
            o = det.detect(out[d, 4:].tolist())
            assert o.score == pytest.approx(res.score[d], rel=1e-12)


@pytest.mark.parametrize("simd", [True, False])
def test_cpp_simd_and_scalar_paths_match_the_reference(simd):
    """The C++ detector's AVX2 lanes and its scalar lanes (``_C.set_simd_enabled``) against the
    numpy spec: odd counts of counted positions (partial lane groups), widths past one block."""
    from tokenmark import _C

    rng = np.random.default_rng(5)
    docs = [rng.integers(0, 2**31 - 1, size=n).tolist() for n in (1, 7, 8, 9, 17, 130)]
    _C.set_simd_enabled(simd)
    try:
        for width, algorithm in ((1, "gumbel"), (4, "dual_key_gumbel"), (6, "gumbel")):
            wm = tm.dialects.vllm(key=2**64 - 7, algorithm=algorithm, context_width=width)
            a = wm.detect(docs, prefix_lengths=[0, 1, 0, 3, 0, 5], backend="cpu")
            b = wm.detect(docs, prefix_lengths=[0, 1, 0, 3, 0, 5], backend="reference")
            np.testing.assert_array_equal(a.n_scored, b.n_scored)
            np.testing.assert_allclose(a.score, b.score, rtol=1e-12)
    finally:
        _C.set_simd_enabled(True)
