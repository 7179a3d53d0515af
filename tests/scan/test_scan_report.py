"""``tokenmark scan --report``: the page holds the scan's numbers, the hits and the top hits'
tokens (HTML escaped), loads nothing from the network; its QQ histogram counts exactly the tests
not rejected; per-token contributions add up to the documents' scores. An optional test renders
the page in headless Chromium and checks the screenshot is a drawn page."""

from __future__ import annotations

import argparse
import html
import json
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
import scanio_corpus
from tokenmark import demo_model
from tokenmark._inputs import Ragged
from tokenmark.scan import cli, engine, load_tokenizer, load_watermarks
from tokenmark.scan.report import null_histogram, token_view
from tokenmark.scan.report.histogram import _EDGES

pq = pytest.importorskip("pyarrow.parquet", reason="the scan extra: pip install '.[scan]'")
pytest.importorskip("matplotlib", reason="the scan extra (matplotlib draws the figures)")


@pytest.fixture(scope="module")
def scanned(tmp_path_factory):
    root = tmp_path_factory.mktemp("report")
    c = scanio_corpus.write(root)
    out, page = root / "out", root / "scan.html"
    parser = argparse.ArgumentParser(prog="tokenmark")
    cli.add_parser(parser.add_subparsers(dest="command"))
    args = parser.parse_args(
        ["scan", *c["inputs"], "--config", c["config"], "--key-file", c["keys"]]
        + ["--tokenizer", str(demo_model.PATH), "--out", str(out), "--q", str(scanio_corpus.Q)]
        + ["--no-progress", "--report", str(page)]
    )
    code = args.func(args)
    return {**c, "out": out, "page": page, "code": code, "html": page.read_text()}


def test_scan_with_report_finds_the_planted_documents(scanned):
    assert scanned["code"] == engine.EXIT_HITS_AND_MALFORMED  # hits, and the broken line
    hits = [json.loads(x) for x in (scanned["out"] / "hits.jsonl").read_text().splitlines()]
    assert {(h["source"], h["row"], h["watermark"]) for h in hits} == scanned["expected"]


def test_page_holds_the_numbers(scanned):
    page = scanned["html"]
    s = json.loads((scanned["out"] / "summary.json").read_text())
    cards = dict(re.findall(r'<div class="card"><b>([^<]*)</b><span>([^<]*)</span>', page))
    by_label = {v: k for k, v in cards.items()}
    assert by_label["documents"] == f"{scanned['n_docs']:,}"
    assert by_label["m = tests (documents x watermarks)"] == f"{scanned['n_docs'] * 5:,}"
    assert s["m"] == scanned["n_docs"] * 5
    assert by_label["q (target FDR / FWER)"] == "0.001"
    n_hits = len(scanned["expected"])
    assert by_label["Benjamini-Hochberg rejections"] == str(n_hits)
    # BH controls the FDR, not the number of false discoveries: no "bound" of q x R is shown.
    assert "expected false discoveries (BH)" not in by_label
    q = f"{scanned_q():.3g}"
    assert page.count(f"expected fraction of false rejections &le; {q} (not a count)") == 2
    assert f"P(any false) &le; {q}; expected false discoveries &le; {q}" in page
    assert by_label["malformed rows"] == "1"
    # Hits per watermark, in the watermarks table: 2 planted per used watermark, 0 for "unused".
    rows = re.findall(r"<tr><td>([^<]*)</td><td>(kgw|gumbel|synthid)</td><td>[^<]*</td>"
                      r"<td class='n'>(\d+)</td>", page)  # fmt: skip
    assert {name: int(n) for name, _, n in rows} == {
        "kgw-alpha": 2, "kgw-beta-minhash": 2, "gumbel-gamma": 2, "synthid-delta": 2,
        "kgw-unused": 0,
    }  # fmt: skip
    # Every hit is shown token by token (top 12 >= 8 hits), with its document id.
    assert page.count("<div class='doc'>") == n_hits
    for doc_id in ("kgw-alpha-1", "gumbel-gamma-0-pasted", "synthid-delta-1"):
        assert f"id {doc_id} " in page
    assert page.count("<svg") == 2 and 'class="win"' in page


def scanned_q() -> float:
    return scanio_corpus.Q


def test_page_escapes_document_text_and_loads_nothing(scanned):
    page = scanned["html"]
    assert "<script" not in page.lower() and "<b>bold" not in page
    # The document's text, token pieces joined (tags of the colouring removed), escaped.
    text = re.sub(r"</?span[^>]*>", "", page)
    assert html.escape(scanio_corpus.HOSTILE) in text
    # No external resource: src/href only to fragments of the page (the SVG glyphs), no CSS
    # url() or @import; the only URLs are the SVG namespace names (identifiers, never fetched).
    refs = re.findall(r"\b(?:src|href)\s*=\s*[\"']?([^\"'\s>]*)", page)
    assert refs and all(r.startswith("#") for r in refs), sorted(set(refs))[:5]
    assert set(re.findall(r"url\(([^)]*)\)", page)) <= {
        u for u in re.findall(r"url\((#[\w-]+)\)", page)
    }  # clip paths within the page only
    assert "@import" not in page
    urls = set(re.findall(r"https?://[^\s\"'<>)]+", page))
    assert urls <= {"http://www.w3.org/2000/svg", "http://www.w3.org/1999/xlink"}, urls


def test_qq_histogram_counts_the_tests_not_rejected(scanned):
    hits = [json.loads(x) for x in (scanned["out"] / "hits.jsonl").read_text().splitlines()]
    hist = null_histogram(scanned["out"], hits)
    t = pq.read_table(sorted(scanned["out"].glob("scores-*.parquet"))).to_pydict()
    hit_keys = {(h["source"], h["row"], h["watermark"]) for h in hits}
    for name, counts in hist.counts.items():
        lp = np.array(
            [
                p
                for s, r, w, n, p in zip(
                    t["source"], t["row"], t["watermark"], t["n_scored"], t["log10_p"]
                )  # fmt: skip
                if w == name and n > 0 and (s, r, w) not in hit_keys
            ]
        )
        # Independently: how many of them fall at or below each bin edge.
        want = np.array([(lp <= e).sum() for e in _EDGES])
        np.testing.assert_array_equal(np.cumsum(counts), want)


def test_token_contributions_add_up_to_the_scores(monkeypatch):
    for k, v in {**scanio_corpus.scan_corpus.KEYS, **scanio_corpus.scan_corpus.UNUSED}.items():
        monkeypatch.setenv(f"TOKENMARK_KEY_{k.upper()}", v)
    wms = load_watermarks(scanio_corpus.scan_corpus.watermark_config())
    tok = load_tokenizer(demo_model.PATH)
    docs, planted = scanio_corpus.documents()
    text = dict(docs)["gumbel-gamma-1"]
    ids = np.asarray(tok.encode(text, add_special_tokens=False).ids)
    rag = Ragged(ids.astype(np.int32), np.array([0, len(ids)]))
    for wm in wms:
        view = token_view(wm, ids, text, tok)
        assert "".join(g + p for g, p in zip(view.gaps, view.pieces)) == text
        s = wm.scheme
        counted = np.isfinite(view.level[: len(ids)])
        if wm.scheme_name == "kgw":
            res = s.detect(rag, window=dict(wm.options).get("window"))
            assert int((view.level[: len(ids)] > 0).sum()) == int(res.n_green[0])
            assert int(counted.sum()) == int(res.n_scored[0])
        else:
            from tokenmark.scan.report.top_hits import _per_token

            contrib, cnt = _per_token(wm, ids)
            np.testing.assert_array_equal(cnt, counted)
            if wm.scheme_name == "gumbel":
                res = s.detect(rag)
                np.testing.assert_allclose(contrib[cnt].sum(), res.score[0], rtol=1e-9)
            else:
                res = s.detect(rag)
                np.testing.assert_allclose(contrib[cnt].mean(), res.mean_score[0], rtol=1e-9)
        assert view.window is not None and view.window[0] <= view.window[1] < len(ids)


@pytest.mark.browser
def test_page_renders_in_headless_chromium(scanned, tmp_path):
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    if browser is None:
        pytest.skip("chromium not installed (Debian: apt-get install chromium)")
    Image = pytest.importorskip("PIL.Image", reason="Pillow reads the screenshot")
    shot = tmp_path / "shot.png"
    subprocess.run(
        [browser, "--headless=new", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
         "--window-size=1200,2400", f"--screenshot={shot}", Path(scanned["page"]).as_uri()],
        check=True, capture_output=True, timeout=120,
    )  # fmt: skip
    im = np.asarray(Image.open(shot).convert("RGB")).astype(int)
    assert im.shape[:2] == (2400, 1200)
    r, g, b = im[..., 0], im[..., 1], im[..., 2]
    # Drawn, not blank: the page background, white panels, dark text, the green of the
    # watermarked tokens and the red of the others all cover a visible area.
    assert ((r < 80) & (g < 80) & (b < 80)).mean() > 0.005  # text and plot lines
    assert ((g - r > 40) & (g - b > 40)).mean() > 0.002  # green tokens
    assert ((r - g > 40) & (r - b > 40)).mean() > 0.0005  # red tokens
    assert len(np.unique(im.reshape(-1, 3) // 16, axis=0)) > 100


def test_docstring_example_runs(tmp_path, monkeypatch):
    import doctest

    import tokenmark.scan.report as mod

    monkeypatch.chdir(tmp_path)
    assert doctest.testmod(mod, optionflags=doctest.ELLIPSIS).failed == 0
