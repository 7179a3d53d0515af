"""A scan's settings hold the hash of its tokenizer, and a rerun with another tokenizer into the
same folder is refused. A GPT-2-style folder (``vocab.json`` + ``merges.txt``, no
``tokenizer.json``) is hashed as the tokenizer loaded from it: before, only ``tokenizer.json``
(absent) and ``tokenizer_config.json`` were hashed, so two such folders with different merges
had one hash and a rerun mixed two tokenizations. A folder with its ``tokenizer.json`` keeps the
hash older scans recorded."""

from __future__ import annotations

import hashlib
import json
import shutil

import pytest
from scan_cli_run import run_scan_cli
from tokenmark import demo_model
from tokenmark.scan import load_tokenizer
from tokenmark.scan.tokenizer import tokenizer_sha256

pytest.importorskip("transformers")
pytest.importorskip("pyarrow", reason="the scan extra: pip install '.[scan]'")

TEXT = "To be or not to be, that is the question: whether 'tis nobler in the mind to suffer"


def _gpt2_folders(root):
    """Folders A and B: the demo model's vocabulary with all of its merges (A) or a quarter (B)."""
    t = json.loads((demo_model.PATH / "tokenizer.json").read_text())
    vocab, merges = t["model"]["vocab"], t["model"]["merges"]
    merges = [" ".join(m) if isinstance(m, list) else m for m in merges]
    config = {"tokenizer_class": "GPT2Tokenizer", "bos_token": "<|endoftext|>",
              "eos_token": "<|endoftext|>", "unk_token": "<|endoftext|>"}  # fmt: skip
    out = []
    for name, mg in (("A", merges), ("B", merges[: len(merges) // 4])):
        d = root / name
        d.mkdir()
        (d / "vocab.json").write_text(json.dumps(vocab))
        (d / "merges.txt").write_text("#version: 0.2\n" + "\n".join(mg) + "\n")
        (d / "tokenizer_config.json").write_text(json.dumps(config))
        out.append(d)
    return out


def _scan(tmp_path, inp, tokenizer) -> int:
    return run_scan_cli(tmp_path, [inp], "--tokenizer", str(tokenizer))


def test_gpt2_style_folders_that_encode_differently_hash_differently(tmp_path):
    a, b = _gpt2_folders(tmp_path)
    ids_a = load_tokenizer(a).encode(TEXT, add_special_tokens=False).ids
    ids_b = load_tokenizer(b).encode(TEXT, add_special_tokens=False).ids
    assert ids_a != ids_b
    assert tokenizer_sha256(a) != tokenizer_sha256(b)
    assert tokenizer_sha256(a) == tokenizer_sha256(a, load_tokenizer(a))  # the same, loaded twice


def test_a_rerun_with_another_gpt2_style_folder_is_refused(tmp_path, capsys):
    a, b = _gpt2_folders(tmp_path)
    first = tmp_path / "a.jsonl"
    first.write_text(json.dumps({"id": 1, "text": TEXT}) + "\n")
    assert _scan(tmp_path, first, a) == 0
    second = tmp_path / "b.jsonl"
    second.write_text(json.dumps({"id": 2, "text": TEXT + " again"}) + "\n")
    capsys.readouterr()
    assert _scan(tmp_path, second, b) == 2
    assert "holds a scan with other settings" in capsys.readouterr().err
    assert _scan(tmp_path, second, a) == 0  # the same tokenizer resumes


def test_a_folder_with_its_tokenizer_json_keeps_the_hash_of_older_scans(tmp_path):
    d = tmp_path / "demo"
    d.mkdir()
    for name in ("tokenizer.json", "tokenizer_config.json"):
        shutil.copy(demo_model.PATH / name, d / name)
    want = hashlib.sha256(
        (d / "tokenizer.json").read_bytes() + (d / "tokenizer_config.json").read_bytes()
    ).hexdigest()
    assert tokenizer_sha256(d) == want
    f = d / "tokenizer.json"
    assert tokenizer_sha256(f) == hashlib.sha256(f.read_bytes()).hexdigest()
