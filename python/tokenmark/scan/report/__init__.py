"""``--report scan.html``: one self-contained page (inline CSS, figures as inline SVG, no network)
that shows what a finished scan found.

- The scan's numbers: m (documents x watermarks), q, the rejections of Benjamini-Hochberg,
  Benjamini-Yekutieli and the Bonferroni line, and what each guarantees at q (BH and BY: the
  expected fraction of false rejections; Bonferroni: the chance of any, and their expected
  number).
- A QQ plot of the p-values of the tests that were not rejected against the uniform law, per
  watermark, with a 95% band: a broken null (a key whose test is biased on this corpus) shows at
  a glance as a curve leaving the band.
- Hits per watermark.
- The top hits, each document's tokens coloured by their contribution to the score, the
  strongest window outlined.

The p-values come from the scan's output files, read back one column batch at a time into a
fixed log-spaced histogram per watermark (:class:`PValueHistogram`): memory does not grow with
the corpus, and the figure is the same for both engines and for resumed scans. The top hits'
documents are read again from their shards (only the shards that hold them) and re-scored with
``return_flags``; a document whose score differs from the scan's (the file changed since) is
shown with a warning.

The package, one module per part of the page: :mod:`.histogram` reads the p-values back,
:mod:`.figures` draws them, :mod:`.top_hits` reads and re-scores the top hits' documents,
:mod:`.page` writes the HTML; :func:`write_report` (here) puts them together.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from ..watermarks import Watermark
from . import page
from .figures import hits_svg, qq_svg
from .histogram import PValueHistogram, null_histogram
from .top_hits import TokenView, _documents, token_view

__all__ = [
    "PValueHistogram",
    "TokenView",
    "hits_svg",
    "null_histogram",
    "qq_svg",
    "token_view",
    "write_report",
]


def write_report(
    out: str | os.PathLike,
    path: str | os.PathLike,
    watermarks: list[Watermark],
    *,
    tokenizer=None,
    top: int = 12,
) -> Path:
    """Write the HTML report of the finished scan in ``out`` to ``path``.

    Parameters
    ----------
    out : the scan's output folder (``summary.json``, ``hits.jsonl``, ``scan.json``, scores).
    path : the page to write.
    watermarks : the scan's watermarks (with their keys: the top hits are re-scored per token).
    tokenizer : the scan's ``tokenizers.Tokenizer`` (shows token texts); ``None``: token ids.
    top : how many of the strongest hits to show token by token.

    Returns
    -------
    The path written.

    Example
    -------
    >>> import json, os, tempfile, tokenmark.scan as ts
    >>> d = tempfile.mkdtemp()
    >>> with open(os.path.join(d, "ids.jsonl"), "w") as f:
    ...     _ = f.write(json.dumps({"id": "a", "tokens": [1, 2, 3, 4, 5, 6]}) + "\\n")
    >>> os.environ["TOKENMARK_KEY_K"] = "my secret"
    >>> wms = ts.load_watermarks([{"key_id": "k", "scheme": "kgw"}])
    >>> opt = ts.ReadOptions(text_column=None, tokens_column="tokens")
    >>> out = os.path.join(d, "out")
    >>> _ = ts.scan(ts.expand_inputs([os.path.join(d, "ids.jsonl")]), wms, out,
    ...             read_options=opt, log=lambda s: None)
    >>> ts.write_report(out, os.path.join(d, "scan.html"), wms).name
    'scan.html'
    """
    out = Path(out)
    summary, settings, hits = _read_outputs(out)
    hist = null_histogram(out, hits)
    names = [w["name"] for w in settings["watermarks"]]
    counts = _hit_counts(names, hits)
    body = page.header(out, summary) + page.error_control(summary)
    body += page.figures(hist, summary, names, counts)
    body += page.watermark_table(settings["watermarks"], counts)
    shown = hits[:top]
    body += page.top_hits_heading(len(shown), len(hits))
    docs = _documents(_wanted_rows(shown), settings) if shown else {}
    by_name = {w.name: w for w in watermarks}
    for h in shown:
        doc = docs.get((h["source"], int(h["row"])))
        body.append(page.hit_panel(h, by_name.get(h["watermark"]), doc, tokenizer))
    return _write_atomic(Path(path), page.html_page(body))


def _read_outputs(out: Path) -> tuple[dict[str, Any], dict[str, Any], list[dict[str, Any]]]:
    """The scan's summary, its settings (``scan.json``) and its hits, strongest first."""
    summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    settings = json.loads((out / "scan.json").read_text(encoding="utf-8"))
    hits_path = out / "hits.jsonl"
    hits = [json.loads(x) for x in hits_path.read_text(encoding="utf-8").splitlines() if x]
    return summary, settings, hits


def _hit_counts(names: list[str], hits: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Per watermark: the rejections under BH, BY and Bonferroni and the smallest log10 p (0.0
    where none), every watermark of the scan listed (in its order), hit or not."""
    counts = {n: {"bh": 0, "by": 0, "bonferroni": 0, "min": 0.0} for n in names}
    for h in hits:
        c = counts.setdefault(h["watermark"], {"bh": 0, "by": 0, "bonferroni": 0, "min": 0.0})
        c["bh"] += 1
        c["by"] += bool(h.get("by"))
        c["bonferroni"] += bool(h.get("bonferroni"))
        c["min"] = min(c["min"], h["log10_p"])
    return counts


def _wanted_rows(hits: list[dict[str, Any]]) -> dict[str, set[int]]:
    """The rows of the hits' documents, by source file."""
    wanted: dict[str, set[int]] = {}
    for h in hits:
        wanted.setdefault(h["source"], set()).add(int(h["row"]))
    return wanted


def _write_atomic(path: Path, text: str) -> Path:
    """Write ``text`` to ``path`` through a temporary file beside it (no half-written page)."""
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)
    return path
