"""tm.dialects.from_config: each peer's own config object, its dict and its JSON."""

from __future__ import annotations

import json

import pytest

transformers = pytest.importorskip("transformers")

import tokenmark as tm  # noqa: E402


def test_transformers_configs():
    kgw = transformers.WatermarkingConfig(seeding_scheme="selfhash", context_width=3)
    for c in (kgw, kgw.to_dict(), json.dumps(kgw.to_dict())):
        wm = tm.dialects.from_config(c, vocab_size=1000)
        assert isinstance(wm, tm.dialects.TransformersKGW) and wm.context_width == 3
    sid = transformers.SynthIDTextWatermarkingConfig(keys=[5, 6, 7], ngram_len=3)
    for c in (sid, sid.to_dict(), json.dumps(sid.to_dict())):
        wm = tm.dialects.from_config(c, eos_token_id=2)
        assert isinstance(wm, tm.dialects.SynthIDText) and wm.depth == 3


def test_vllm_configs():
    js = '{"key": 99, "algorithm": "dual_key_gumbel", "alpha": 0.2}'

    class WatermarkConfig:  # the attributes of vLLM's WatermarkConfig
        key, algorithm, alpha, context_width, prf = 99, "dual_key_gumbel", 0.2, 4, "philox"

    for c in (js, json.loads(js), WatermarkConfig()):
        wm = tm.dialects.from_config(c)
        assert wm == tm.dialects.vllm(99, "dual_key_gumbel", alpha=0.2)


def test_unknown_configs():
    with pytest.raises(ValueError, match="no dialect"):
        tm.dialects.from_config({"colour": "green"})
    with pytest.raises(TypeError, match="config"):
        tm.dialects.from_config(3.5)
    with pytest.raises(ValueError, match="JSON") as e:
        tm.dialects.from_config('{"key": 123456789, ')
    assert "123456789" not in str(e.value)


def test_dialects_run_on_the_host_whatever_tokenmark_backend_says(monkeypatch):
    """TOKENMARK_BACKEND=cuda/triton steers our schemes' auto backend; the dialects' operations
    exist on the host backends only, so their auto stays on the CPU, and an explicit GPU backend
    is refused by name."""
    import numpy as np
    import tokenmark as tm

    docs = [[5, 6, 7, 8, 9, 10]]
    want = tm.dialects.sglang("ab", 2).detect(docs).score
    for env in ("cuda", "triton", "reference"):
        monkeypatch.setenv("TOKENMARK_BACKEND", env)
        np.testing.assert_allclose(tm.dialects.sglang("ab", 2).detect(docs).score, want)
        assert tm.dialects.vllm(3).detect(docs).n_scored.tolist() == [6]
    monkeypatch.delenv("TOKENMARK_BACKEND")
    with pytest.raises(ValueError, match="triton"):
        tm.ops.score_vllm(np.array([1, 2], np.int32), np.array([0, 2]),
                          keys=np.array([1], np.uint64), weights=np.ones(1), context_width=1,
                          backend="triton")  # fmt: skip
