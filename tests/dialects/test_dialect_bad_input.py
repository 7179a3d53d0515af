"""Bad input to the dialects' constructors, configs and results gets a clear error that names
the argument (found by a hostile-input audit): each case here was an unrelated internal error, a
traceback on the CLI, or a silently wrong verdict before."""

from __future__ import annotations

import json

import numpy as np
import pytest
import tokenmark as tm
from tokenmark.dialects._keyless import dialect_of

DEEP = "[" * 100_000 + "]" * 100_000  # json.loads: RecursionError


@pytest.mark.parametrize(
    "result",
    [
        lambda: tm.dialects.vllm(key=5, context_width=2).detect([[1, 2, 3, 4]]),
        lambda: tm.dialects.sglang("7a69", 2).detect([[1, 2, 3, 4]]),
    ],
)
@pytest.mark.parametrize(("alpha", "err"), [(float("nan"), ValueError), (2.0, ValueError),
                                            ("0.01", TypeError)])  # fmt: skip
def test_is_watermarked_checks_alpha(result, alpha, err):
    """alpha = nan flagged nothing and 2 flagged everything, silently."""
    with pytest.raises(err, match="alpha"):
        result().is_watermarked(alpha)


def test_transformers_configs_as_json_dicts_or_objects_only():
    kgw = tm.dialects.TransformersKGW
    a = kgw.from_config('{"greenlist_ratio": 0.25}', vocab_size=100)
    assert a == kgw.from_config({"greenlist_ratio": 0.25}, vocab_size=100)
    b = kgw.from_config({}, model_config={"vocab_size": 77, "bos_token_id": 3})
    assert (b.vocab_size, b.bos_token_id) == (77, 3)
    with pytest.raises(TypeError, match="config: expected a WatermarkingConfig"):
        kgw.from_config(None, vocab_size=100)
    with pytest.raises(TypeError, match="model_config: expected a transformers PretrainedConfig"):
        kgw.from_config({}, model_config=[1, 2])
    with pytest.raises(ValueError, match="model_config: has no vocab_size"):
        kgw.from_config({}, model_config={"bos_token_id": 1})
    st = tm.dialects.SynthIDText.from_config('{"keys": [1, 2]}')
    assert st.keys == (1, 2)
    with pytest.raises(TypeError, match="config: expected a SynthIDTextWatermarkingConfig"):
        tm.dialects.SynthIDText.from_config(["keys"])


@pytest.mark.parametrize(
    "make",
    [
        tm.dialects.VLLMWatermark.from_config,
        tm.dialects.SGLangWatermark.from_config,
        tm.dialects.from_config,
        lambda c: tm.dialects.TransformersKGW.from_config(c, vocab_size=10),
    ],
)
def test_deeply_nested_json_is_refused_as_json(make):
    with pytest.raises(ValueError, match="config: not valid JSON"):
        make(DEEP)


def test_synthid_text_eos_token_id_range_at_construction():
    """-7 and 2^63 were accepted, then refused (C++) or ignored (numpy) at detect time."""
    for bad in (-7, 2**63):
        with pytest.raises(ValueError, match=r"eos_token_id: must be in \[-1, 2147483647\]"):
            tm.dialects.synthid_text(keys=[1, 2], eos_token_id=bad)
    assert tm.dialects.synthid_text(keys=[1, 2], eos_token_id=-1).eos_token_id == -1


def test_keyless_dialect_name_must_be_a_string():
    with pytest.raises(ValueError, match="dialect: expected one of"):
        dialect_of({"dialect": ["vllm"]})


def test_unigram_green_mask_is_theirs_and_scales():
    """Their mask comes from a list of bools; ours from a numpy array of the same bools, which
    the generator shuffles the same way (a shuffle depends on the length only): equal, and a
    vocabulary of 2^31 - 1 no longer builds a 17 GB list."""
    from tokenmark.dialects.unigram import unigram_seed

    wm = tm.dialects.unigram(watermark_key=9, vocab_size=5003, fraction=0.3)
    theirs = np.array([True] * wm.green_size + [False] * (wm.vocab_size - wm.green_size))
    np.random.default_rng(unigram_seed(9)).shuffle(theirs)
    np.testing.assert_array_equal(wm.green_mask, theirs.astype(np.uint8))


def test_scan_config_with_a_non_string_scheme_or_deep_json(tmp_path):
    from tokenmark.scan.watermarks import ScanConfigError, load_keys, load_watermarks

    with pytest.raises(ScanConfigError, match=r"unknown scheme \['kgw'\]"):
        load_watermarks([{"key_id": "k", "scheme": ["kgw"]}])
    (tmp_path / "deep.json").write_text(DEEP)
    with pytest.raises(ScanConfigError, match="config: not valid JSON"):
        load_watermarks(str(tmp_path / "deep.json"))
    with pytest.raises(ScanConfigError, match="key_file: not valid JSON"):
        load_keys(str(tmp_path / "deep.json"))
    (tmp_path / "ok.json").write_text(json.dumps({"k": "secret"}))
    assert set(load_keys(str(tmp_path / "ok.json"))) == {"k"}
