"""A scan resumed at a larger ``--q`` reads the finished shards' score files back; one that is not
what the scan wrote (cut mid-line, cut at a line boundary, edited) is a usage error that names
it and says what to do. Before, a damaged JSON lines file gave json's message alone, and one cut
at a line boundary was read back short without an error (its candidates lost)."""

from __future__ import annotations

import json

import pytest
from test_scan_bad_input import KGW, run_scan

pytest.importorskip("pyarrow", reason="the scan extra: pip install '.[scan]'")

LINES = [json.dumps({"id": i, "ids": [1, 2, 3, 4 + i, 9, 7, 5]}).encode() for i in range(40)]


def _damaged(tmp_path, fmt, damage):
    extra = ["--output-format", fmt]
    assert run_scan(tmp_path, LINES, KGW, extra=[*extra, "--q", "0.01"]) == 0
    (scores,) = (tmp_path / "out").glob(f"scores-*.{fmt}")
    damage(scores)
    return scores, run_scan(tmp_path, LINES, KGW, extra=[*extra, "--q", "0.05"])


@pytest.mark.parametrize(
    "damage",
    [
        lambda p: p.write_bytes(p.read_bytes()[:500]),  # mid-line
        lambda p: p.write_bytes(b"".join(p.read_bytes().splitlines(True)[:-3])),  # whole lines
        lambda p: p.write_text(p.read_text().replace('"log10_p"', '"p"', 1)),  # a field renamed
    ],
    ids=["mid-line", "line-boundary", "edited"],
)
def test_a_damaged_jsonl_score_file_is_named(tmp_path, capsys, damage):
    scores, rc = _damaged(tmp_path, "jsonl", damage)
    err = capsys.readouterr().err
    assert rc == 2 and f"{scores}: not the scores this scan wrote" in err
    assert "delete it" in err and "Traceback" not in err


def test_a_cut_parquet_score_file_is_named(tmp_path, capsys):
    scores, rc = _damaged(tmp_path, "parquet", lambda p: p.write_bytes(p.read_bytes()[:-100]))
    err = capsys.readouterr().err
    assert rc == 2 and f"{scores}: not the scores this scan wrote" in err


def test_an_intact_score_file_resumes(tmp_path):
    scores, rc = _damaged(tmp_path, "jsonl", lambda p: None)
    assert rc == 0


def test_the_report_histogram_holds_only_this_runs_shards(tmp_path, monkeypatch):
    import numpy as np
    import tokenmark.scan as ts
    from tokenmark.scan.report import null_histogram

    monkeypatch.setenv("TOKENMARK_KEY_K", "scan key")
    wms = ts.load_watermarks(KGW)
    rng = np.random.default_rng(3)
    for name, n in (("a", 30), ("b", 12)):
        docs = [{"id": i, "tokens": rng.integers(0, 500, 40).tolist()} for i in range(n)]
        (tmp_path / f"{name}.jsonl").write_text("".join(json.dumps(d) + "\n" for d in docs))
    opt = ts.ReadOptions(text_column=None, tokens_column="tokens")
    out = tmp_path / "out"

    def run(*names):
        shards = ts.expand_inputs([str(tmp_path / f"{x}.jsonl") for x in names])
        return ts.scan(shards, wms, out, read_options=opt, log=lambda s: None)

    assert run("a", "b").summary["m"] == 42
    rep = run("a")  # the same folder, a only: b's score file stays there
    assert rep.summary["m"] == 30 and rep.summary["bh"]["rejections"] == 0
    assert int(null_histogram(out, rep.hits).total().sum()) == 30


def test_an_out_folder_inside_an_input_folder_is_no_input(tmp_path, capsys):
    import argparse

    from tokenmark.scan import cli as scan_cli

    data = tmp_path / "data"
    data.mkdir()
    (data / "a.jsonl").write_bytes(b"".join(x + b"\n" for x in LINES))
    (tmp_path / "wm.json").write_text(json.dumps({"watermarks": KGW}))
    (tmp_path / "keys.json").write_text(json.dumps({"k": "scan key"}))
    parser = argparse.ArgumentParser(prog="tokenmark")
    scan_cli.add_parser(parser.add_subparsers(dest="command"))
    argv = ["scan", str(data), "--config", str(tmp_path / "wm.json"), "--key-file",
            str(tmp_path / "keys.json"), "--out", str(data / "scan-out"), "--tokens-column",
            "ids", "--output-format", "jsonl", "--no-progress"]  # fmt: skip
    for _ in range(3):  # the rerun finds the out folder's scan.json, scores-*.jsonl, ...
        args = parser.parse_args(argv)
        assert args.func(args) == 0
        s = json.loads((data / "scan-out" / "summary.json").read_text())
        assert s["n_shards"] == 1 and s["malformed_rows"] == 0
    assert s["skipped_shards"] == 1
