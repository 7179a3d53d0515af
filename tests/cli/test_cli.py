"""The command line: detect from JSONL / stdin, info, and the demo."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest
import tokenmark as tm
from tokenmark.cli import main


def test_detect_token_jsonl(tmp_path, capsys, monkeypatch):
    rng = np.random.default_rng(0)
    wm = tm.KGW(key=b"cli key", delta=4.0)
    docs = [rng.integers(0, 1000, 60).tolist() for _ in range(3)]
    path = tmp_path / "in.jsonl"
    path.write_text("".join(json.dumps({"id": i, "tokens": d}) + "\n" for i, d in enumerate(docs)))
    monkeypatch.setenv("TOKENMARK_KEY", "cli key")
    assert main(["detect", str(path)]) == 0
    lines = [json.loads(x) for x in capsys.readouterr().out.splitlines()]
    want = wm.detect(docs).to_records()
    assert [x["id"] for x in lines] == [0, 1, 2]
    for got, w in zip(lines, want):
        assert got["n_green"] == w["n_green"] and got["p_value"] == w["p_value"]


def test_detect_needs_a_key_and_never_takes_it_on_the_command_line(tmp_path, monkeypatch):
    monkeypatch.delenv("TOKENMARK_KEY", raising=False)
    path = tmp_path / "in.jsonl"
    path.write_text('{"tokens": [1, 2, 3]}\n')
    try:
        main(["detect", str(path)])
    except SystemExit as e:
        assert "TOKENMARK_KEY" in str(e)
    else:
        raise AssertionError("detect ran without a key")


def test_detect_key_file_and_config(tmp_path, capsys):
    wm = tm.KGW(key=b"file key", gamma=0.5, context_width=2, seeding="minhash")
    (tmp_path / "key").write_bytes(b"file key\n")
    (tmp_path / "cfg.json").write_text(wm.to_json())
    (tmp_path / "in.jsonl").write_text('{"tokens": [5, 6, 7, 8, 9, 10, 11]}\n')
    assert (
        main(
            [
                "detect",
                str(tmp_path / "in.jsonl"),
                "--key-file",
                str(tmp_path / "key"),
                "--config",
                str(tmp_path / "cfg.json"),
            ]
        )
        == 0
    )
    rec = json.loads(capsys.readouterr().out)
    assert rec["n_green"] == int(wm.detect([[5, 6, 7, 8, 9, 10, 11]]).n_green[0])


@pytest.mark.parametrize(
    "wm",
    [tm.Gumbel(key=b"file key", context_width=2), tm.SynthID(key=b"file key", layers=20)],
)
def test_detect_distortion_free_configs(tmp_path, capsys, wm):
    (tmp_path / "key").write_bytes(b"file key\n")
    (tmp_path / "cfg.json").write_text(wm.to_json())
    doc = [5, 6, 7, 8, 9, 10, 11, 12, 13]
    (tmp_path / "in.jsonl").write_text(json.dumps({"id": "a", "tokens": doc}) + "\n")
    args = ["detect", str(tmp_path / "in.jsonl"), "--key-file", str(tmp_path / "key")]
    assert main([*args, "--config", str(tmp_path / "cfg.json")]) == 0
    rec = json.loads(capsys.readouterr().out)
    want = wm.detect([doc])
    assert rec["id"] == "a" and rec["p_value"] == float(want.p_value[0])
    assert rec["watermarked"] == (want.p_value[0] <= 1e-3)
    assert main([*args, "--config", str(tmp_path / "cfg.json"), "--window", "5"]) == 0
    rec = json.loads(capsys.readouterr().out)
    assert rec["window"] == wm.detect([doc], window=5).to_records()[0]["window"]
    cal = wm.calibrate([doc, doc], min_docs=2)
    cal.save(tmp_path / "cal.json")
    assert main([*args, "--config", str(tmp_path / "cfg.json"), "--window", "5",
                 "--calibration", str(tmp_path / "cal.json")]) == 0  # fmt: skip
    rec = json.loads(capsys.readouterr().out)
    want = wm.detect_calibrated([doc], calibration=cal, window=5).to_records()[0]
    assert rec["window"] == want["window"]


def test_info_runs_as_a_module():
    out = subprocess.run(
        [sys.executable, "-m", "tokenmark", "info"], capture_output=True, text=True, check=True
    )
    info = json.loads(out.stdout)
    assert info["cpu"]["openmp_max_threads"] >= 1 and "cuda" in info


def test_demo_runs(capsys):
    """The watermarked continuations are detected and the plain ones are not (the labels alone
    are printed whatever the processor does). Generation is seeded: the run repeats exactly."""
    import re

    assert main(["demo", "--n", "2", "--new-tokens", "50"]) == 0
    out = capsys.readouterr().out
    p = {"watermarked": [], "plain": []}
    for kind, value in re.findall(
        r"(watermarked|plain): green \d+/50 \(\d+%\), z -?[\d.]+, p (\S+)", out
    ):
        p[kind].append(float(value))
    assert len(p["watermarked"]) == len(p["plain"]) == 2
    assert max(p["watermarked"]) < 1e-6 and min(p["plain"]) > 1e-2
    assert "at p <= 1e-3: flagged 2/2 watermarked and 0/2 plain texts" in out


def test_detect_text_lines_with_a_local_tokenizer(tmp_path, capsys, monkeypatch):
    from tokenizers import Tokenizer, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    corpus = ["the quick brown fox jumps over the lazy dog", "a stitch in time saves nine"]
    tok = Tokenizer(models.WordLevel(unk_token="[UNK]"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    tok.train_from_iterator(corpus, trainers.WordLevelTrainer(special_tokens=["[UNK]"]))
    PreTrainedTokenizerFast(tokenizer_object=tok, unk_token="[UNK]").save_pretrained(
        tmp_path / "tk"
    )
    (tmp_path / "in.txt").write_text("\n".join(corpus) + "\n")
    monkeypatch.setenv("TOKENMARK_KEY", "text key")
    assert main(["detect", str(tmp_path / "in.txt"), "--tokenizer", str(tmp_path / "tk")]) == 0
    got = [json.loads(x) for x in capsys.readouterr().out.splitlines()]
    want = tm.KGW(key=b"text key").detect_text(corpus, tok).to_records()
    assert [g["n_scored"] for g in got] == [w["n_scored"] for w in want] == [5, 2]
    assert [g["n_green"] for g in got] == [w["n_green"] for w in want]


def test_scan_is_a_subcommand(capsys):
    from tokenmark.cli import main

    with pytest.raises(SystemExit) as e:
        main(["scan", "--help"])
    assert e.value.code == 0
    assert "--config" in capsys.readouterr().out


# -- issue #11: hostile input on the command line ---------------------------------------------


def _detect(tmp_path, capsys, monkeypatch, content: bytes, *flags, key=b"cli key"):
    path = tmp_path / "in.jsonl"
    path.write_bytes(content)
    os.environb[b"TOKENMARK_KEY"] = key  # restored by the restore_key_env fixture
    try:
        code = main(["detect", str(path), *flags])
    except SystemExit as e:
        code = e.code
    out, err = capsys.readouterr()
    return code, [json.loads(x) for x in out.splitlines()], err, path


@pytest.fixture
def restore_key_env():
    old = os.environb.get(b"TOKENMARK_KEY")
    yield
    if old is None:
        os.environb.pop(b"TOKENMARK_KEY", None)
    else:
        os.environb[b"TOKENMARK_KEY"] = old


def test_bad_lines_are_reported_with_file_and_line_and_the_rest_scored(
    tmp_path, capsys, monkeypatch, restore_key_env
):
    content = (
        b'{"tokens": [1, 2, 3, 4, 5, 6]}\n'
        b'{"tokens": [1, true, 3]}\n'
        b'{"tokens": [1, 1.5]}\n'
        b'{"tokens": [1, 2,, 3]}\n'
        b"\n"
        b'{"id": "x", "tokens": [7, 8, 9, 10, 11, 12]}\n'
    )
    code, recs, err, path = _detect(tmp_path, capsys, monkeypatch, content)
    assert code == 1
    assert [r["line"] for r in recs] == [1, 6] and recs[1]["id"] == "x"
    assert f"{path}:2: tokens[1]: token ids must be integers, got a boolean" in err
    assert f"{path}:3: tokens[1]: token ids must be integers, got float" in err
    assert f"{path}:4: invalid JSON at column 18" in err
    want = tm.KGW(key=b"cli key").detect([[1, 2, 3, 4, 5, 6]]).to_records()[0]
    assert recs[0]["p_value"] == want["p_value"]


def test_byte_order_mark_and_non_utf8_key(tmp_path, capsys, monkeypatch, restore_key_env):
    key = b"k\xe9y\xff"  # not UTF-8: used as raw bytes, never quoted in an error
    content = b'\xef\xbb\xbf{"tokens": [1, 2, 3, 4, 5, 6, 7]}\n'
    code, recs, err, _ = _detect(tmp_path, capsys, monkeypatch, content, key=key)
    assert code == 0 and err == ""
    want = tm.KGW(key=key).detect([[1, 2, 3, 4, 5, 6, 7]]).to_records()[0]
    assert recs[0]["n_green"] == want["n_green"] and recs[0]["line"] == 1


@pytest.mark.parametrize(
    "flags,match",
    [
        (["--alpha", "nan"], "--alpha"),
        (["--alpha", "-1"], "--alpha"),
        (["--window", "0"], "--window"),
        (["--window", str(2**62 + 1)], "--window"),
        (["--gamma", "1"], "gamma"),
        (["--context-width", "-1"], "context_width"),
    ],
)
def test_bad_flags_exit_2_before_writing(
    tmp_path, capsys, monkeypatch, restore_key_env, flags, match
):
    content = b'{"tokens": [1, 2, 3, 4, 5, 6]}\n'
    code, recs, err, _ = _detect(tmp_path, capsys, monkeypatch, content, *flags)
    assert code == 2 and recs == [] and match in err and "Traceback" not in err


def test_detect_skips_a_line_with_a_lone_surrogate(tmp_path, capsys, monkeypatch):
    """JSON's "\\ud800" in a text reached the tokenizer, whose TypeError ended the run."""
    from tokenmark import demo_model

    monkeypatch.setenv("TOKENMARK_KEY", "cli key")
    path = tmp_path / "in.jsonl"
    path.write_text('{"id": 1, "text": "fine"}\n{"id": 2, "text": "bad \\ud800"}\n')
    assert main(["detect", str(path), "--tokenizer", str(demo_model.PATH)]) == 1
    out = capsys.readouterr()
    assert [json.loads(x)["id"] for x in out.out.splitlines()] == [1]
    assert ":2: field 'text': not valid Unicode text (a lone surrogate)" in out.err
