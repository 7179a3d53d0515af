"""Dialects on the command line (``tokenmark detect --config``) and in the scan's watermarks
config: the peers' own configs with their keys removed, the keys from a key file or the
environment. Scores must equal the dialect's ``detect()``; keys never appear in any output."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import tokenmark as tm
from tokenmark._inputs import Ragged
from tokenmark.cli import main
from tokenmark.scan import load_watermarks, score_batch

DATA = Path(__file__).parents[1] / "data"
SGLANG = json.loads((DATA / "sglang_golden.json").read_text())["generated"][1]  # dual key
VLLM = json.loads((DATA / "vllm_golden.json").read_text())["generated"]


def _run(tmp_path, capsys, docs, config, key: str):
    (tmp_path / "in.jsonl").write_text("".join(json.dumps({"tokens": d}) + "\n" for d in docs))
    (tmp_path / "cfg.json").write_text(json.dumps(config))
    (tmp_path / "key").write_text(key + "\n")
    args = ["detect", str(tmp_path / "in.jsonl"), "--key-file", str(tmp_path / "key"),
            "--config", str(tmp_path / "cfg.json")]  # fmt: skip
    try:
        code = main(args)
    except SystemExit as e:
        code = e.code
    out, err = capsys.readouterr()
    assert key not in out and key not in err
    return code, [json.loads(x) for x in out.splitlines()], err


def test_cli_vllm_watermark_config(tmp_path, capsys):
    docs = VLLM["sequences"] + [[1, 2, 3, 4, 5, 6]]
    code, recs, _ = _run(tmp_path, capsys, docs, {"algorithm": "gumbel", "context_width": 4},
                         str(VLLM["key"]))  # fmt: skip
    assert code == 0
    want = tm.dialects.vllm(int(VLLM["key"]), "gumbel", 4).detect(docs)
    assert [r["n_scored"] for r in recs] == want.n_scored.tolist()
    np.testing.assert_allclose([r["p_value"] for r in recs], want.p_value, rtol=1e-12)
    assert [r["watermarked"] for r in recs] == [True] * len(VLLM["sequences"]) + [False]


def test_cli_sglang_config_two_keys(tmp_path, capsys):
    docs = [s["tokens"] for s in SGLANG["sequences"]]
    key = json.dumps({"key": SGLANG["key"], "key_b": SGLANG["key_b"]})
    cfg = {"context_window": SGLANG["context_window"], "mixing_probability": 0.5}
    code, recs, _ = _run(tmp_path, capsys, docs, cfg, key)
    assert code == 0
    want = tm.dialects.sglang(SGLANG["key"], SGLANG["context_window"], key_b=SGLANG["key_b"])
    want = want.detect(docs)  # no prompt on the command line: the first tokens are context only
    np.testing.assert_allclose([r["score"] for r in recs], want.score, rtol=1e-12)
    assert all(r["watermarked"] for r in recs)


def test_cli_transformers_configs_with_options(tmp_path, capsys):
    docs = [[5, 6, 7, 8, 9, 10, 11, 12], [40, 41, 40, 41, 40]]
    kgw = {"greenlist_ratio": 0.25, "bias": 2.0, "seeding_scheme": "selfhash", "context_width": 4}
    cfg = {"dialect": "transformers_kgw", "config": kgw, "options": {"vocab_size": 1000}}
    code, recs, _ = _run(tmp_path, capsys, docs, cfg, "15485863")
    assert code == 0
    want = tm.dialects.transformers_kgw(hashing_key=15485863, vocab_size=1000,
                                        greenlist_ratio=0.25, seeding_scheme="selfhash",
                                        context_width=4).detect(docs)  # fmt: skip
    assert [r["n_green"] for r in recs] == want.n_green.tolist()
    synthid = {"ngram_len": 3, "sampling_table_seed": 0, "sampling_table_size": 2**16,
               "context_history_size": 1024, "skip_first_ngram_calls": False}  # fmt: skip
    code, recs, _ = _run(tmp_path, capsys, docs, synthid, "[654, 400, 836, 123]")
    assert code == 0
    want = tm.dialects.synthid_text(keys=[654, 400, 836, 123], ngram_len=3).detect(docs)
    np.testing.assert_allclose([r["p_value"] for r in recs], want.p_value, rtol=1e-12)


@pytest.mark.parametrize(
    "cfg,key,match",
    [
        ({"algorithm": "gumbel", "key": 1234567}, "1234567", "keys stay out of configs"),
        ({"context_window": 4, "key_b": "abcdef"}, "abcdef", "keys stay out of configs"),
        ({"algorithm": "gumbel"}, "not a number 98765", "key"),
        ({"dialect": "nope"}, "31415926", "dialect"),
        ({"context_window": 4}, '{"key": "abc", "colour": "98765"}', "colour"),
    ],
)
def test_cli_bad_dialect_configs_exit_2_without_the_key(tmp_path, capsys, cfg, key, match):
    code, recs, err = _run(tmp_path, capsys, [[1, 2, 3]], cfg, key)
    assert code == 2 and recs == [] and match in err
    for secret in ("1234567", "abcdef", "98765"):
        assert secret not in err


def test_scan_watermarks_config_takes_dialects(tmp_path, monkeypatch):
    config = {"watermarks": [
        {"key_id": "serve", "name": "vllm-prod", "dialect": "vllm",
         "config": {"algorithm": "gumbel", "context_width": 4}},
        {"key_id": "sg", "dialect": "sglang",
         "config": {"context_window": SGLANG["context_window"]}},
    ]}  # fmt: skip
    (tmp_path / "keys.json").write_text(json.dumps({"serve": str(VLLM["key"])}))
    sg_key = json.dumps({"key": SGLANG["key"], "key_b": SGLANG["key_b"]})
    monkeypatch.setenv("TOKENMARK_KEY_SG", sg_key)
    wms = load_watermarks(config, key_file=tmp_path / "keys.json")
    assert [w.name for w in wms] == ["vllm-prod", "sg/sglang"]
    assert [w.scheme_name for w in wms] == ["dialect:vllm", "dialect:sglang"]
    for w in wms:
        text = json.dumps(w.public_dict()) + repr(w)
        assert str(VLLM["key"]) not in text and SGLANG["key_b"] not in text
    docs = VLLM["sequences"] + [s["tokens"] for s in SGLANG["sequences"]]
    rag = Ragged.from_sequences(docs)
    for w in wms:
        out = score_batch(w, rag)
        p = w.scheme.detect(docs).p_value
        fin = p > 1e-300  # below, detect's double underflows and log10_p goes on
        np.testing.assert_allclose(out["log10_p"][fin], np.log10(p[fin]), rtol=1e-9, atol=1e-12)
        hits = out["log10_p"] < -6
        own = (np.arange(len(docs)) < len(VLLM["sequences"])) == (w.dialect == "vllm")
        assert hits[own].all() and not hits[~own].any(), hits
    with pytest.raises(ValueError, match="keys stay out of configs"):
        load_watermarks([{"key_id": "sg", "dialect": "sglang",
                          "config": {"key": "abc"}}])  # fmt: skip


def test_tokenmark_scan_end_to_end_with_dialects(tmp_path, monkeypatch, capsys):
    """``tokenmark scan`` over a token-id JSONL with a vLLM and an SGLang watermark: the hits are
    exactly the documents each engine's own code watermarked, and no key reaches the output."""
    import argparse

    from tokenmark import demo_model
    from tokenmark.scan import cli

    docs = VLLM["sequences"] + [s["tokens"] for s in SGLANG["sequences"]] + [[7, 8, 9] * 20]
    with open(tmp_path / "ids.jsonl", "w") as f:
        for i, d in enumerate(docs):
            f.write(json.dumps({"id": f"d{i}", "tokens": d}) + "\n")
    (tmp_path / "wm.json").write_text(json.dumps({"watermarks": [
        {"key_id": "serve", "name": "vllm", "dialect": "vllm",
         "config": {"algorithm": "gumbel", "context_width": 4}},
        {"key_id": "sg", "name": "sglang", "dialect": "sglang",
         "config": {"context_window": SGLANG["context_window"]}},
    ]}))  # fmt: skip
    monkeypatch.setenv("TOKENMARK_KEY_SERVE", str(VLLM["key"]))
    monkeypatch.setenv("TOKENMARK_KEY_SG", json.dumps({"key": SGLANG["key"],
                                                       "key_b": SGLANG["key_b"]}))  # fmt: skip
    parser = argparse.ArgumentParser(prog="tokenmark")
    cli.add_parser(parser.add_subparsers(dest="command"))
    out = tmp_path / "out"
    args = parser.parse_args([
        "scan", str(tmp_path / "ids.jsonl"), "--config", str(tmp_path / "wm.json"),
        "--tokens-column", "tokens", "--tokenizer", str(demo_model.PATH), "--out", str(out),
        "--q", "1e-3", "--no-progress", "--output-format", "jsonl",
    ])  # fmt: skip
    args.func(args)
    capsys.readouterr()
    rows = [json.loads(x) for p in out.glob("scores-*.jsonl") for x in p.read_text().splitlines()]
    hits = {(r["id"], r["watermark"]) for r in rows if r["log10_p"] < -6}
    n_v = len(VLLM["sequences"])
    want = {(f"d{i}", "vllm") for i in range(n_v)}
    want |= {(f"d{i}", "sglang") for i in range(n_v, n_v + len(SGLANG["sequences"]))}
    assert hits == want
    for p in out.rglob("*"):
        if p.is_file():
            text = p.read_text(errors="ignore")
            assert str(VLLM["key"]) not in text and SGLANG["key_b"] not in text
