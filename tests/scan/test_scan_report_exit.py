"""The exit code of ``tokenmark scan --report``: a page that cannot be written after a finished
scan keeps the scan's own code and adds EXIT_REPORT_FAILED (8), with the reason on stderr; what
can be checked before the scan (the page's folder, matplotlib) is a usage error (2) before any
document is read."""

from __future__ import annotations

import argparse
import json

import numpy as np
import pytest
import scanio_corpus
from tokenmark import demo_model
from tokenmark.scan import cli, engine

pytest.importorskip("pyarrow.parquet", reason="the scan extra: pip install '.[scan]'")
pytest.importorskip("matplotlib", reason="the scan extra (matplotlib draws the figures)")


def _run(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="tokenmark")
    cli.add_parser(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["scan", *argv, "--no-progress"])
    return args.func(args)


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    root = tmp_path_factory.mktemp("report-exit")
    c = scanio_corpus.write(root)
    clean = root / "clean.jsonl"  # random ids: nothing to find, no malformed row
    rng = np.random.default_rng(8)
    with open(clean, "w") as f:
        for i in range(20):
            f.write(json.dumps({"id": i, "tokens": rng.integers(0, 2000, 200).tolist()}) + "\n")
    c["clean"] = str(clean)
    return c


def _argv(c, inputs, out, page, tokens=False) -> list[str]:
    argv = [*inputs, "--config", c["config"], "--key-file", c["keys"], "--out", str(out)]
    argv += ["--q", str(scanio_corpus.Q), "--report", str(page)]
    if tokens:
        return [*argv, "--tokens-column", "tokens"]
    return [*argv, "--tokenizer", str(demo_model.PATH)]


# (inputs, the scan's own code): hits and a malformed line; hits only (the Parquet shard and the
# last JSON lines shard hold planted documents and no broken line); nothing.
CASES = {
    "hits-and-malformed": (lambda c: c["inputs"], engine.EXIT_HITS_AND_MALFORMED, False),
    "hits": (lambda c: c["inputs"][1:], engine.EXIT_HITS, False),
    "clean": (lambda c: [c["clean"]], engine.EXIT_CLEAN, True),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_a_page_that_cannot_be_written_keeps_the_scans_code(
    corpus, case, tmp_path, monkeypatch, capsys
):
    """The disk fills up as the page is written, after the scan (the page is drawn for real up
    to its last write): code = the scan's code + 8, the scan's results complete."""
    import tokenmark.scan.report as report

    def full(path, text):
        raise OSError(28, "No space left on device")

    inputs, scan_code, tokens = CASES[case]
    out = tmp_path / "out"
    with monkeypatch.context() as m:
        m.setattr(report, "_write_atomic", full)
        code = _run(_argv(corpus, inputs(corpus), out, tmp_path / "scan.html", tokens))
    err = capsys.readouterr().err
    assert code == scan_code + engine.EXIT_REPORT_FAILED
    assert code & 7 == scan_code and code & engine.EXIT_REPORT_FAILED
    assert "--report: the page" in err
    assert "was not written (OSError: [Errno 28] No space left on device)" in err
    assert str(out) in err
    for secret in json.loads(open(corpus["keys"]).read()).values():
        assert len(secret) < 5 or secret not in err  # ("d s" also occurs in plain words)
    # the scan's results are all there: the same code from a rerun without the page
    assert (out / "summary.json").is_file()
    good = tmp_path / "scan.html"
    assert _run(_argv(corpus, inputs(corpus), tmp_path / "out2", good, tokens)) == scan_code
    assert "<svg" in good.read_text()
    s1, s2 = (json.loads((d / "summary.json").read_text()) for d in (out, tmp_path / "out2"))
    assert s1["bh"] == s2["bh"] and s1["m"] == s2["m"]


def test_any_failure_of_the_page_is_reported_not_raised(corpus, tmp_path, monkeypatch, capsys):
    import tokenmark.scan.report as report

    def broken(*args, **kwargs):
        raise KeyError("log10_p")

    monkeypatch.setattr(report, "write_report", broken)
    out = tmp_path / "out"
    code = _run(_argv(corpus, corpus["inputs"][1:], out, tmp_path / "scan.html"))
    assert code == engine.EXIT_HITS + engine.EXIT_REPORT_FAILED == 9
    assert "(KeyError: 'log10_p')" in capsys.readouterr().err


@pytest.mark.parametrize("where", ["no-folder", "a-folder", "under-a-file", "name-too-long"])
def test_a_page_that_cannot_be_written_is_a_usage_error_before_the_scan(
    corpus, tmp_path, where, capsys
):
    page = {
        "no-folder": tmp_path / "missing" / "scan.html",
        "a-folder": tmp_path,
        "under-a-file": tmp_path / "file.txt" / "scan.html",
        "name-too-long": tmp_path / ("x" * 300 + ".html"),  # longer than file systems allow
    }[where]
    (tmp_path / "file.txt").write_text("x")
    out = tmp_path / "out"
    assert _run(_argv(corpus, corpus["inputs"], out, page)) == engine.EXIT_USAGE
    assert "tokenmark scan: --report:" in capsys.readouterr().err
    assert not out.exists() or not any(out.glob("scores-*"))  # nothing scanned


def test_a_page_inside_the_out_folder_a_first_run_makes(corpus, tmp_path):
    out = tmp_path / "out"
    page = out / "scan.html"
    assert _run(_argv(corpus, corpus["inputs"][1:], out, page)) == engine.EXIT_HITS
    assert "<svg" in page.read_text()


def test_help_states_the_contract():
    assert "8 is added" in cli.DESCRIPTION and "code & 7" in cli.DESCRIPTION
