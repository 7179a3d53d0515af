"""Bad input to the scan, the calibration and text detection (found by a hostile-input audit):
each case was a traceback, an error that named nothing, or a silently wrong result before.

- A bad row is one malformed row: an id past int64, a line nested too deeply, a lone surrogate
  in a text or an id.
- A resumed scan checks what it reads back (``scan.json``, ``*.done.json``) and names the file;
  a dialect watermark's key is part of the settings, as our schemes' keys are.
- Flags and keys: an ``--out`` that cannot be a folder, sizes past their bounds, an empty key
  variable, a key variable that is not UTF-8 (a key as it is, as ``tokenmark detect`` takes it).
"""

from __future__ import annotations

import json
import os

import numpy as np
import pytest
import tokenmark as tm
from scan_cli_run import run_scan_cli
from tokenmark.scan import load_watermarks

pytest.importorskip("pyarrow", reason="the scan extra: pip install '.[scan]'")

EXIT_USAGE, EXIT_MALFORMED = 2, 3
DEEP = "[" * 100_000 + "]" * 100_000


def run_scan(tmp_path, lines, config, key="scan key", extra=(), out="out"):
    inp = tmp_path / "in.jsonl"
    inp.write_bytes(b"".join(line + b"\n" for line in lines))
    return run_scan_cli(tmp_path, [inp], "--tokens-column", "ids", *extra, watermarks=config,
                        keys={"k": key}, out=out)  # fmt: skip


KGW = [{"key_id": "k", "scheme": "kgw", "context_width": 1}]
GOOD = [json.dumps({"id": i, "ids": [1, 2, 3, 4 + i]}).encode() for i in range(3)]


def malformed(tmp_path, out="out") -> list[str]:
    text = (tmp_path / out / "malformed.jsonl").read_text()
    return [json.loads(line)["reason"] for line in text.splitlines()]


def test_a_bad_row_is_one_malformed_row(tmp_path):
    bad = [
        b'{"id": "big", "ids": [1, 99999999999999999999999]}',  # past int64: OverflowError
        b'{"id": "deep", "ids": ' + DEEP.encode() + b"}",  # RecursionError
        b'{"id": "\\ud800", "ids": [1, 2]}',  # a lone surrogate in the id: Arrow refused it
        b'{"id": "bytes", "ids": [1, 2], "x": "\xed\xa0\x80"}',  # an encoded surrogate
    ]
    assert run_scan(tmp_path, GOOD + bad, KGW) == EXIT_MALFORMED
    reasons = malformed(tmp_path)
    assert reasons == [
        "field 'ids': token ids must be in [0, 2^31)",
        "invalid JSON: nested too deeply",
        "field 'id': not valid Unicode text (a lone surrogate)",
        "invalid UTF-8",
    ], reasons


def test_a_lone_surrogate_in_text_is_named(tmp_path):
    from tokenmark import demo_model

    tok = demo_model.PATH
    with pytest.raises(ValueError, match=r"texts\[1\]: not valid Unicode text"):
        tm.KGW(key=b"k").detect_text(["fine", "bad \ud800"], tok)


def test_resumed_scan_checks_what_it_reads_back(tmp_path):
    assert run_scan(tmp_path, GOOD, KGW) == 0
    (done,) = (tmp_path / "out").glob("*.done.json")
    record = json.loads(done.read_text())
    for bad in ({}, [], {**record, "q": None}, {**record, "m": 1.5},
                {**record, "candidates": [{}]}):  # fmt: skip
        done.write_text(json.dumps(bad))
        assert run_scan(tmp_path, GOOD, KGW) == EXIT_USAGE, bad
    done.write_text(json.dumps(record)[:-5])  # truncated
    assert run_scan(tmp_path, GOOD, KGW) == EXIT_USAGE
    done.write_text(json.dumps(record))
    assert run_scan(tmp_path, GOOD, KGW) == 0  # the record as written: the shard is skipped
    (tmp_path / "out" / "scan.json").write_text(DEEP)
    assert run_scan(tmp_path, GOOD, KGW) == EXIT_USAGE


def test_resumed_scan_messages_name_the_file(tmp_path, capsys):
    assert run_scan(tmp_path, GOOD, KGW) == 0
    (done,) = (tmp_path / "out").glob("*.done.json")
    done.write_text("{}")
    assert run_scan(tmp_path, GOOD, KGW) == EXIT_USAGE
    err = capsys.readouterr().err
    assert done.name in err and "delete it to rescore that shard" in err


def test_a_dialect_key_is_part_of_the_settings(tmp_path, capsys):
    """A rerun with another key was accepted for a dialect watermark, mixing two keys' scores."""
    cfg = [{"key_id": "k", "dialect": "vllm", "config": {"algorithm": "gumbel",
                                                         "context_width": 1}}]  # fmt: skip
    assert run_scan(tmp_path, GOOD, cfg, "1111") in (0, 1)
    assert run_scan(tmp_path, GOOD, cfg, "2222") == EXIT_USAGE
    assert "other keys, or key fingerprints of tokenmark 0.1" in capsys.readouterr().err
    settings = (tmp_path / "out" / "scan.json").read_text()
    assert "1111" not in settings and tm.Key("1111").fingerprint in settings
    # other settings than the key: said as such
    cfg[0]["config"]["context_width"] = 2
    assert run_scan(tmp_path, GOOD, cfg, "1111") == EXIT_USAGE
    assert "holds a scan with other settings" in capsys.readouterr().err


def test_flags_out_of_bounds_are_usage_errors(tmp_path):
    (tmp_path / "afile").write_text("")
    assert run_scan(tmp_path, GOOD, KGW, out="afile") == EXIT_USAGE
    for flag, value in (("--batch-size", 10**20), ("--max-doc-bytes", 10**23)):
        assert run_scan(tmp_path, GOOD, KGW, extra=(flag, str(value)), out=flag) == EXIT_USAGE


def test_key_variables(monkeypatch):
    cfg = [{"key_id": "chat", "scheme": "kgw"}]
    monkeypatch.setenv("TOKENMARK_KEY_CHAT", "")
    with pytest.raises(ValueError, match="TOKENMARK_KEY_CHAT is set but empty"):
        load_watermarks(cfg)
    raw = b"\xff\xfesecret"  # not UTF-8: a key as it is, as `tokenmark detect` takes it
    monkeypatch.setenv("TOKENMARK_KEY_CHAT", os.fsdecode(raw))
    (wm,) = load_watermarks(cfg)
    assert wm.scheme.key == tm.Key(raw)
    monkeypatch.setenv("TOKENMARK_KEY_CHAT", "text key")
    assert load_watermarks(cfg)[0].scheme.key == tm.Key(b"text key")  # str and bytes: one key


def test_calibration_arguments_and_files(tmp_path):
    wm = tm.KGW(key=b"k", context_width=1)
    ref = [np.arange(10) % 4 for _ in range(3)]
    with pytest.raises(ValueError, match=r"max_shift: must be in \(0, 1e6\]"):
        wm.calibrate(ref, max_shift=1e308)  # its square overflowed
    with pytest.raises(ValueError, match="max_shift, min_docs: give one of them"):
        wm.calibrate(ref, max_shift=0.1, min_docs=2)  # max_shift was silently ignored
    assert wm.calibrate(ref).stats["max_shift"] == 0.05  # the default
    (tmp_path / "deep.json").write_text(DEEP)
    with pytest.raises(ValueError, match="path: calibration file is not valid JSON"):
        tm.Calibration.load(tmp_path / "deep.json", wm)
