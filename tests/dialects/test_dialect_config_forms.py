"""Config forms the peers accept: vLLM's without ``algorithm`` (gumbel) or with ``context_width:
null`` (its default), SynthID-Text's without ``keys`` (an error naming them), transformers' KGW
with the vocabulary size given beside a model config that lacks it; and a flat keyless config
that could be a peer's or tokenmark's own KGW is refused, not taken as KGW silently."""

from __future__ import annotations

import json

import pytest
import tokenmark as tm
from tokenmark.cli import main
from tokenmark.dialects._keyless import dialect_of, from_keyless_config


def test_vllm_config_without_algorithm_is_gumbel():
    assert tm.dialects.from_config('{"key": 5, "context_width": 2}') == tm.dialects.vllm(
        5, "gumbel", 2
    )
    assert tm.dialects.from_config({"key": 5, "alpha": 0.2, "prf": "philox"}).algorithm == "gumbel"
    assert dialect_of({"deduplicate_contexts_max_history": 8192}) == "vllm"


def test_vllm_context_width_null_is_their_default():
    for cfg in ('{"key": 5, "algorithm": "gumbel", "context_width": null}',
                '{"key": 5, "algorithm": "dual_key_gumbel", "context_width": null}'):  # fmt: skip
        assert tm.dialects.VLLMWatermark.from_config(cfg).context_width == 4
        assert tm.dialects.from_config(cfg).context_width == 4
    wm = from_keyless_config({"algorithm": "gumbel", "context_width": None}, b"5")
    assert wm == tm.dialects.vllm(5, "gumbel", 4)


@pytest.mark.parametrize("cfg", [{"context_width": 2}, {}])
def test_flat_config_fitting_a_peer_and_tokenmark_kgw_is_refused(tmp_path, capsys, cfg):
    with pytest.raises(ValueError, match='"scheme": "kgw"'):
        dialect_of(cfg)
    (tmp_path / "in.jsonl").write_text(json.dumps({"tokens": [1, 2, 3, 4, 5, 6]}) + "\n")
    (tmp_path / "cfg.json").write_text(json.dumps(cfg))
    (tmp_path / "key").write_text("31415926\n")
    args = ["detect", str(tmp_path / "in.jsonl"), "--key-file", str(tmp_path / "key"),
            "--config", str(tmp_path / "cfg.json")]  # fmt: skip
    with pytest.raises(SystemExit) as e:
        main(args)
    out, err = capsys.readouterr()
    assert e.value.code == 2 and out == "" and "algorithm" in err and "31415926" not in err
    # said explicitly, each is taken
    for explicit, want in [({**cfg, "scheme": "kgw"}, "p_value"),
                           ({**cfg, "algorithm": "gumbel"}, "their_p_value")]:  # fmt: skip
        (tmp_path / "cfg.json").write_text(json.dumps(explicit))
        assert main(args) == 0
        assert want in json.loads(capsys.readouterr().out)


def test_synthid_config_without_keys_names_them():
    for cfg in ({"ngram_len": 5}, {"ngram_len": 5, "keys": None}):
        with pytest.raises(ValueError, match="config: has no keys"):
            tm.dialects.SynthIDText.from_config(cfg)


def test_transformers_kgw_vocab_size_given_beside_a_model_config_without_it():
    kgw = tm.dialects.TransformersKGW
    wm = kgw.from_config({}, model_config={"bos_token_id": 1}, vocab_size=32064)
    assert (wm.vocab_size, wm.bos_token_id) == (32064, 1)
    with pytest.raises(ValueError, match="model_config: has no vocab_size"):
        kgw.from_config({}, model_config={"bos_token_id": 1})
    transformers = pytest.importorskip("transformers")
    llava = transformers.LlavaConfig()  # composite: the vocabulary is its text config's
    assert not hasattr(llava, "vocab_size")
    text = llava.get_text_config()
    wm = kgw.from_config({}, model_config=llava, vocab_size=32064)
    assert (wm.vocab_size, wm.bos_token_id) == (32064, text.bos_token_id)
    assert kgw.from_config({}, model_config=llava).vocab_size == text.vocab_size
