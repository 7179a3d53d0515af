"""Key material given apart from a dialect's config (key file, environment, scan key file): each
dialect reads it as its peer does. SGLang's keys are hex strings, so a bare ``1234`` is SGLang's
0x1234 even though JSON would make it a number; vLLM, transformers' KGW and SynthID-Text take
integers, so ``1234`` is 1234 there."""

from __future__ import annotations

import json

import numpy as np
import pytest
import tokenmark as tm
from tokenmark.cli import main
from tokenmark.dialects._keyless import from_keyless_config
from tokenmark.reference.sglang import context_hash, token_hash


@pytest.mark.parametrize(
    "material,theirs",
    [
        (b"1234\n", "1234"),
        (b"1e5", "1e5"),
        (b"  0042 ", "0042"),
        (b'"1234"', "1234"),
        (b'{"key": "1234"}', "1234"),
        (b"0x1234", "0x1234"),
        (b"abc", "abc"),
    ],
)
def test_bare_sglang_key_is_their_hex_string(material, theirs):
    wm = from_keyless_config({"context_window": 4}, material)
    assert wm.key == int(theirs, 16)
    assert wm == tm.dialects.SGLangWatermark.from_config({"key": theirs, "context_window": 4})


@pytest.mark.parametrize("material", [b'{"key": 1234}', b'{"key": "ab", "key_b": 1234}'])
def test_sglang_integer_keys_are_refused_as_sglang_does(material):
    with pytest.raises(TypeError, match="hex string") as e:
        from_keyless_config({"context_window": 4}, material)
    assert "1234" not in str(e.value)
    with pytest.raises(TypeError, match="key"):
        tm.dialects.SGLangWatermark.from_config({"key": 1234, "context_window": 4})


@pytest.mark.parametrize(
    "cfg,material,field,want",
    [
        ({"algorithm": "gumbel"}, b"1234", "key", 1234),
        ({"greenlist_ratio": 0.25, "seeding_scheme": "lefthash"}, b"1234", "hashing_key", 1234),
        ({"ngram_len": 3}, b"[1234, 5]", "keys", (1234, 5)),
    ],
)
def test_integer_keyed_dialects_read_numbers(cfg, material, field, want):
    name = {"key": "vllm", "hashing_key": "transformers_kgw", "keys": "synthid_text"}[field]
    opts = {"vocab_size": 100} if name == "transformers_kgw" else {}
    wm = from_keyless_config({"dialect": name, "config": cfg, "options": opts}, material)
    got = getattr(wm, field)
    assert (tuple(int(k) for k in got) if field == "keys" else got) == want


def test_cli_detects_sglang_text_with_an_all_digit_key_file(tmp_path, capsys):
    """Text SGLang watermarked with key "1234" (each token the argmax of its uniforms, as its
    selector picks on a flat distribution) is found with a key file holding 1234."""
    wm = tm.dialects.SGLangWatermark.from_config({"key": "1234", "context_window": 4})
    doc, ids = [11, 22, 33, 44], np.arange(512, dtype=np.int64)
    for _ in range(40):
        h = context_hash(np.array([doc[-4:]]))
        doc.append(int(np.argmax(token_hash(0x1234, h[:, None], ids[None, :])[0])))
    (tmp_path / "in.jsonl").write_text(json.dumps({"tokens": doc}) + "\n")
    (tmp_path / "cfg.json").write_text('{"context_window": 4}')
    (tmp_path / "key").write_text("1234\n")
    code = main(["detect", str(tmp_path / "in.jsonl"), "--key-file", str(tmp_path / "key"),
                 "--config", str(tmp_path / "cfg.json")])  # fmt: skip
    out = capsys.readouterr().out
    rec = json.loads(out)
    want = wm.detect([doc])
    assert code == 0 and rec["watermarked"] is True
    assert rec["n_scored"] == int(want.n_scored[0])
    np.testing.assert_allclose(rec["score"], want.score[0], rtol=1e-12)
    assert rec["p_value"] < 1e-6


def test_scan_key_file_entry_of_digits_is_the_sglang_hex_key(tmp_path):
    from tokenmark.scan import load_watermarks

    (tmp_path / "keys.json").write_text(json.dumps({"sg": "1234"}))
    [w] = load_watermarks(
        [{"key_id": "sg", "dialect": "sglang", "config": {"context_window": 4}}],
        key_file=tmp_path / "keys.json",
    )
    assert w.scheme.key == 0x1234
