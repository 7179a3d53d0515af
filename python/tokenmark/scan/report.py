"""``--report scan.html``: one self-contained page (inline CSS, figures as inline SVG, no network)
that shows what a finished scan found.

- The scan's numbers: m (documents x watermarks), q, the rejections of Benjamini-Hochberg,
  Benjamini-Yekutieli and the Bonferroni line, and the bound on expected false discoveries.
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
"""

from __future__ import annotations

import html
import io
import json
import math
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .readers import ReadOptions, expand_inputs, read_shard
from .scoring import score_batch
from .watermarks import Watermark

# log10 p histogram: 0.05-wide bins from 1e-20 to 1, one bin below. A test that is not rejected
# has p >= the smallest rejection threshold, q / m >= 1e-20 for any real scan.
_EDGES = np.linspace(-20.0, 0.0, 401)
_MAX_CURVES = 7  # watermarks drawn one by one in the QQ plot; the others only in "all"


@dataclass
class PValueHistogram:
    """Counts of log10 p-values per watermark in fixed bins; ``counts[w][j]`` is the number of
    values in ``(_EDGES[j-1], _EDGES[j]]`` (``j = 0``: at most ``_EDGES[0]``)."""

    counts: dict[str, np.ndarray] = field(default_factory=dict)
    empty: dict[str, int] = field(default_factory=dict)  # tests with no scored token (p = 1)

    def add(self, watermark: str, log10_p: np.ndarray, sign: int = 1) -> None:
        idx = np.searchsorted(_EDGES, np.minimum(np.asarray(log10_p, np.float64), 0.0))
        c = self.counts.setdefault(watermark, np.zeros(len(_EDGES), dtype=np.int64))
        c += sign * np.bincount(idx, minlength=len(_EDGES))

    def total(self) -> np.ndarray:
        return sum(self.counts.values(), np.zeros(len(_EDGES), dtype=np.int64))


def _score_files(out: Path) -> list[Path]:
    files = sorted(out.glob("scores-*.parquet")) + sorted(out.glob("scores-*.jsonl"))
    return files + sorted((out / "ray").glob("*.parquet")) if (out / "ray").is_dir() else files


def _column_batches(path: Path) -> Iterator[tuple[dict[str, np.ndarray], np.ndarray, np.ndarray]]:
    """({watermark: row mask}, n_scored, log10_p) per batch of a score file."""
    if path.suffix == ".parquet":
        import pyarrow.compute as pc
        import pyarrow.parquet as pq

        f = pq.ParquetFile(path)
        for b in f.iter_batches(columns=["watermark", "n_scored", "log10_p"], batch_size=1 << 16):
            names = b.column(0)
            masks = {
                str(w): pc.equal(names, w).to_numpy(zero_copy_only=False)
                for w in pc.unique(names).to_pylist()
            }
            yield (
                masks,
                b.column(1).to_numpy(zero_copy_only=False),
                b.column(2).to_numpy(zero_copy_only=False),
            )
        return
    with open(path, encoding="utf-8") as f:
        rows = [json.loads(line) for line in f]
    if rows:
        names = np.array([r["watermark"] for r in rows], dtype=object)
        yield (
            {str(w): names == w for w in dict.fromkeys(names)},
            np.array([r["n_scored"] for r in rows], dtype=np.int64),
            np.array([r["log10_p"] for r in rows], dtype=np.float64),
        )


def null_histogram(out: str | os.PathLike, hits: list[dict[str, Any]]) -> PValueHistogram:
    """The histogram of the log10 p-values of every test of the scan in ``out`` that has at
    least one scored token and is not among ``hits`` (the rejections)."""
    hist = PValueHistogram()
    for path in _score_files(Path(out)):
        for masks, n_scored, lp in _column_batches(path):
            for w, sel in masks.items():
                scored = sel & (n_scored > 0)
                hist.add(w, lp[scored])
                hist.empty[w] = hist.empty.get(w, 0) + int((sel & ~scored).sum())
    for h in hits:
        hist.add(h["watermark"], np.array([h["log10_p"]]), sign=-1)
    return hist


# -- figures ----------------------------------------------------------------------------------
def _svg(fig) -> str:
    buf = io.StringIO()
    fig.savefig(buf, format="svg", bbox_inches="tight", metadata={"Date": None})
    text = buf.getvalue()
    text = text[text.index("<svg") :]  # drop the XML prolog and DOCTYPE (inline in HTML5)
    return re.sub(r"<metadata>.*?</metadata>", "", text, flags=re.S)  # RDF: creator's URLs


def _figure(w: float, h: float):
    from matplotlib.figure import Figure  # no pyplot: no global state, no GUI backend

    fig = Figure(figsize=(w, h), dpi=100)
    fig.set_layout_engine("constrained")
    return fig


def qq_svg(hist: PValueHistogram, bh_log10_threshold: float | None) -> str:
    """QQ plot, -log10 scale: the p-value of rank fraction F among the tests not rejected
    (observed) against F (what a uniform sample gives), per watermark, with the pointwise 95%
    band of a uniform sample of the same size."""
    from scipy import stats

    fig = _figure(6.4, 4.6)
    ax = fig.add_subplot()
    curves = sorted(hist.counts.items(), key=lambda kv: -kv[1].sum())
    total = hist.total()
    n_all = int(total.sum())
    p_edge = 10.0**_EDGES
    if n_all:
        lo = stats.binom.ppf(0.025, n_all, p_edge) / n_all
        hi = stats.binom.isf(0.025, n_all, p_edge) / n_all
        y = -_EDGES
        keep = hi > 0
        with np.errstate(divide="ignore"):
            x_lo = -np.log10(np.maximum(hi[keep], 1e-300))
            x_hi = np.where(lo[keep] > 0, -np.log10(np.maximum(lo[keep], 1e-300)), np.inf)
        x_hi = np.minimum(x_hi, -_EDGES[0])
        ax.fill_betweenx(y[keep], x_lo, x_hi, color="#d0d7e2", label="95% band, all", lw=0)
    top = max(1.0, math.log10(max(n_all, 1)) + 1)
    ax.plot([0, top], [0, top], color="#555", lw=1, ls="--", label="uniform")
    colors = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#17becf", "#8c564b"]
    series = [("all watermarks", total)] if len(curves) > 1 else []
    series += curves[:_MAX_CURVES]
    y_max = 1.0
    for i, (name, c) in enumerate(series):
        n = int(c.sum())
        if n == 0:
            continue
        cum = np.cumsum(c)  # number of values <= _EDGES[j]
        ok = cum > 0
        x = -np.log10(cum[ok] / n)
        y = -_EDGES[ok]
        y_max = max(y_max, float(y.max()))
        style = {"color": "black", "lw": 2.2} if name == "all watermarks" else {}
        if name != "all watermarks":
            style = {"color": colors[i % len(colors)]}
            style["lw"] = 1.3
        ax.step(x, y, where="post", label=f"{name} (n={n:,})", **style)
    if bh_log10_threshold is not None and math.isfinite(bh_log10_threshold):
        ax.axhline(-bh_log10_threshold, color="#b00", lw=0.8, ls=":", label="BH rejection line")
    ax.set_xlim(0, top)
    ax.set_ylim(0, max(top, y_max) * 1.05)
    ax.set_xlabel("expected  -log10 p  (uniform)")
    ax.set_ylabel("observed  -log10 p")
    ax.set_title("p-values of the tests not rejected, against uniform")
    ax.legend(fontsize=7, loc="upper left", frameon=False)
    ax.grid(alpha=0.3)
    return _svg(fig)


def hits_svg(names: list[str], counts: dict[str, dict[str, int]]) -> str:
    """Horizontal bars: rejections per watermark under the three procedures."""
    fig = _figure(6.4, 0.45 * len(names) + 1.2)
    ax = fig.add_subplot()
    ypos = np.arange(len(names))
    for k, (method, color) in enumerate(
        (("bh", "#1f77b4"), ("by", "#ff7f0e"), ("bonferroni", "#2ca02c"))
    ):
        vals = [counts[n][method] for n in names]
        ax.barh(ypos + (k - 1) * 0.27, vals, height=0.26, color=color, label=method.upper())
        for yv, v in zip(ypos + (k - 1) * 0.27, vals):
            ax.text(v, yv, f" {v}", va="center", fontsize=7)
    ax.set_yticks(ypos, names, fontsize=8)
    ax.invert_yaxis()
    ax.set_xlabel("rejections (documents)")
    ax.set_title("hits per watermark")
    ax.legend(fontsize=7, frameon=False, loc="lower right")
    ax.margins(x=0.15)
    return _svg(fig)


# -- top hits ---------------------------------------------------------------------------------
@dataclass
class TokenView:
    """One document as coloured pieces: ``pieces[i]`` is token ``i``'s text (``gaps[i]`` the text
    before it not covered by any token), ``level[i]`` in [-1, 1] (red to green; NaN: not
    counted), ``window`` the (first, last) token of the strongest window or None."""

    pieces: list[str]
    gaps: list[str]
    level: np.ndarray
    title: list[str]
    window: tuple[int, int] | None
    window_label: str
    log10_p: float


def _pieces(tokenizer, text: str | None, ids: np.ndarray) -> tuple[list[str], list[str], str]:
    """Token texts and the gaps before them; the trailing text."""
    if text is not None and tokenizer is not None:
        enc = tokenizer.encode(text, add_special_tokens=False)
        if np.array_equal(np.asarray(enc.ids), ids):
            pieces, gaps, prev = [], [], 0
            for s, e in enc.offsets:
                s = max(s, prev)  # byte-level tokens of one character share its offsets
                gaps.append(text[prev:s])
                pieces.append(text[s:e] if e > s else "")
                prev = max(prev, e)
            return pieces, gaps, text[prev:]
    if tokenizer is not None:
        return [tokenizer.decode([int(t)]) for t in ids], [""] * len(ids), ""
    return [f"[{int(t)}]" for t in ids], [""] * len(ids), ""


def _per_token(wm: Watermark, ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(contribution of each token, counted flag): KGW 1 green / 0 red; Gumbel ``-log(1 - u)``
    (mean 1 without the watermark); SynthID the mean g-value over layers (mean 1/2). A token's
    contribution is that of a one-token document with its context as prefix."""
    from .._inputs import Ragged

    s = wm.scheme
    one = Ragged(ids.astype(np.int32), np.array([0, len(ids)], dtype=np.int64))
    if wm.scheme_name == "kgw":
        res = s.detect(one, return_flags=True)
        return res.green[0].astype(np.float64), res.counted[0].astype(bool)
    kw = {"salt": dict(wm.options).get("salt", 0)} if wm.scheme_name == "gumbel" else {}
    if wm.scheme_name == "synthid":
        kw = {"eos_token_id": dict(wm.options).get("eos_token_id")}
    counted = s.detect(one, return_flags=True, **kw).counted[0].astype(bool)
    h = s.context_width
    n = len(ids)
    starts = np.maximum(np.arange(n) - h, 0)
    offs = np.concatenate([[0], np.cumsum(np.arange(n) - starts + 1)]).astype(np.int64)
    toks = np.concatenate([ids[a : t + 1] for t, a in enumerate(starts)]) if n else ids[:0]
    windows = Ragged(toks.astype(np.int32), offs)
    res = s.detect(windows, prefix_lengths=np.arange(n) - starts, **kw)
    val = res.score if wm.scheme_name == "gumbel" else res.mean_score
    return np.nan_to_num(np.asarray(val, dtype=np.float64)), counted


def _levels(wm: Watermark, contrib: np.ndarray, counted: np.ndarray) -> np.ndarray:
    if wm.scheme_name == "kgw":
        lvl = np.where(contrib > 0, 1.0, -1.0)
    elif wm.scheme_name == "gumbel":  # -log(1 - u) is Exp(1) without the watermark
        lvl = np.clip((contrib - 1.0) / 2.0, -1.0, 1.0)
    else:  # mean g over layers, 1/2 without the watermark
        lvl = np.clip((contrib - 0.5) * 4.0, -1.0, 1.0)
    return np.where(counted, lvl, np.nan)


def _strongest(
    wm: Watermark, contrib: np.ndarray, counted: np.ndarray, start: int | None
) -> tuple[tuple[int, int] | None, str]:
    pos = np.flatnonzero(counted)
    if not len(pos):
        return None, ""
    window = dict(wm.options).get("window")
    if wm.scheme_name == "kgw" and window is not None and start is not None:
        first = int(np.searchsorted(pos, start))
        last = pos[min(first + window, len(pos)) - 1]
        return (int(start), int(last)), f"strongest window of {window} counted tokens (scan)"
    w = min(int(window or 50), len(pos))
    centred = contrib[pos] - (0.5 if wm.scheme_name == "synthid" else 1.0)
    if wm.scheme_name == "kgw":
        centred = contrib[pos] - wm.scheme.gamma_effective
    cs = np.concatenate([[0.0], np.cumsum(centred)])
    k = int(np.argmax(cs[w:] - cs[:-w]))
    return (int(pos[k]), int(pos[k + w - 1])), f"strongest span of {w} counted tokens (display)"


def token_view(wm: Watermark, ids: np.ndarray, text: str | None, tokenizer) -> TokenView:
    """The coloured view of one document for one watermark (re-scored here)."""
    from .._inputs import Ragged

    ids = np.asarray(ids, dtype=np.int64)
    rag = Ragged(ids.astype(np.int32), np.array([0, len(ids)], dtype=np.int64))
    s = score_batch(wm, rag)
    contrib, counted = _per_token(wm, ids)
    start = int(s["window_start"][0]) if "window_start" in s else None
    win, label = _strongest(wm, contrib, counted, start)
    pieces, gaps, tail = _pieces(tokenizer, text, ids)
    if tail:
        pieces.append(tail)
        gaps.append("")
        contrib = np.append(contrib, np.nan)
        counted = np.append(counted, False)
    titles = []
    for i in range(len(pieces)):
        if i >= len(ids):
            titles.append("")
        elif not counted[i]:
            titles.append(f"token {int(ids[i])}: not counted (context or repeat)")
        else:
            titles.append(f"token {int(ids[i])}: {contrib[i]:.3g}")
    return TokenView(
        pieces, gaps, _levels(wm, contrib, counted), titles, win, label, float(s["log10_p"][0])
    )


def _documents(
    wanted: dict[str, set[int]], settings: dict[str, Any]
) -> dict[tuple[str, int], tuple[str | None, np.ndarray | None]]:
    """(text, tokens) of the wanted rows, read again from their shards."""
    opt = ReadOptions(
        text_column=settings.get("text_column"),
        tokens_column=settings.get("tokens_column"),
        id_column=settings.get("id_column"),
        text_mode=settings.get("text_mode", "doc"),
        max_doc_bytes=settings.get("max_doc_bytes", 8 << 20),
        format=settings.get("format"),
    )
    found: dict[tuple[str, int], tuple[str | None, np.ndarray | None]] = {}
    for source, rows in wanted.items():
        try:
            shards = expand_inputs([source], settings.get("format"))
        except ValueError:
            continue  # the file is gone: those hits are listed without their text
        for shard in shards:
            for batch in read_shard(shard, opt):
                for i, r in enumerate(batch.rows):
                    if r in rows:
                        if batch.texts is not None:
                            found[(source, r)] = (batch.texts[i], None)
                        else:
                            found[(source, r)] = (None, np.asarray(batch.tokens[i]))
                if all((source, r) in found for r in rows):
                    break
    return found


# -- the page ---------------------------------------------------------------------------------
_CSS = """
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:0;
 background:#f4f6f9;color:#1d2330}
main{max-width:1100px;margin:0 auto;padding:24px}
h1{font-size:22px;margin:0 0 4px} h2{font-size:17px;margin:28px 0 10px}
.sub{color:#5a6275;margin-bottom:18px}
.cards{display:grid;grid-template-columns:repeat(auto-fill,minmax(160px,1fr));gap:10px}
.card{background:#fff;border-radius:8px;padding:10px 14px;box-shadow:0 1px 2px #0001}
.card b{display:block;font-size:20px} .card span{color:#5a6275;font-size:12px}
.panel{background:#fff;border-radius:8px;padding:14px;box-shadow:0 1px 2px #0001;margin:10px 0}
.row{display:flex;flex-wrap:wrap;gap:14px} .row>.panel{flex:1 1 480px}
svg{max-width:100%;height:auto}
table{border-collapse:collapse;width:100%;font-size:13px}
th,td{text-align:left;padding:4px 8px;border-bottom:1px solid #e3e7ee}
th{color:#5a6275;font-weight:600} td.n{text-align:right;font-variant-numeric:tabular-nums}
.doc{font:13px/1.7 ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;white-space:pre-wrap;
 word-break:break-word;max-height:520px;overflow:auto;border:1px solid #e3e7ee;border-radius:6px;
 padding:8px;background:#fcfcfd}
.t{border-radius:2px} .skip{color:#8a90a0;font-style:italic}
.win{outline:2px solid #1d2330;box-decoration-break:clone;-webkit-box-decoration-break:clone}
.meta{color:#5a6275;font-size:12px;margin:4px 0 6px} .warn{color:#b00}
.legend span{display:inline-block;padding:0 6px;margin-right:6px;border-radius:2px}
"""


def _color(level: float) -> str:
    if not math.isfinite(level):
        return ""
    if level >= 0:  # white to green
        a = 0.15 + 0.6 * level
        return f"background:rgba(34,160,70,{a:.2f})"
    return f"background:rgba(214,60,60,{0.12 + 0.45 * -level:.2f})"


_CONTEXT = 80  # tokens shown before and after the strongest window of a long document


def _doc_html(view: TokenView) -> str:
    parts = []
    win = view.window
    n = len(view.pieces)
    lo, hi = 0, n
    if n > 3 * _CONTEXT:  # a long document: its strongest window with context around it
        a, b = win if win is not None else (0, 2 * _CONTEXT)
        lo, hi = max(0, a - _CONTEXT), min(n, b + 1 + _CONTEXT)
    if lo > 0:
        parts.append(f'<span class="skip">[&hellip; {lo:,} tokens before &hellip;]</span>\n')
    for i in range(lo, hi):
        gap, piece = view.gaps[i], view.pieces[i]
        if gap:
            parts.append(html.escape(gap))
        if win is not None and i == win[0]:
            parts.append('<span class="win" title="' + html.escape(view.window_label) + '">')
        style = _color(float(view.level[i]))
        attr = f' style="{style}"' if style else ""
        title = html.escape(view.title[i], quote=True)
        parts.append(f'<span class="t"{attr} title="{title}">{html.escape(piece)}</span>')
        if win is not None and i == win[1]:
            parts.append("</span>")
    if hi < n:
        parts.append(f'\n<span class="skip">[&hellip; {n - hi:,} tokens after &hellip;]</span>')
    return "".join(parts)


def _fmt_p(log10_p: float) -> str:
    if not math.isfinite(log10_p):
        return "0"
    if log10_p > -4:
        return f"{10**log10_p:.3g}"
    e = math.floor(log10_p)
    return f"{10 ** (log10_p - e):.2f}e{e}"


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
    summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    settings = json.loads((out / "scan.json").read_text(encoding="utf-8"))
    hits_path = out / "hits.jsonl"
    hits = [json.loads(x) for x in hits_path.read_text(encoding="utf-8").splitlines() if x]
    hist = null_histogram(out, hits)
    by_name = {w.name: w for w in watermarks}
    names = [w["name"] for w in settings["watermarks"]]
    counts = {n: {"bh": 0, "by": 0, "bonferroni": 0, "min": 0.0} for n in names}
    for h in hits:
        c = counts.setdefault(h["watermark"], {"bh": 0, "by": 0, "bonferroni": 0, "min": 0.0})
        c["bh"] += 1
        c["by"] += bool(h.get("by"))
        c["bonferroni"] += bool(h.get("bonferroni"))
        c["min"] = min(c["min"], h["log10_p"])

    s = summary
    e = html.escape
    cards = [
        (f"{s['n_docs']:,}", "documents"),
        (f"{s['n_tokens']:,}", "tokens"),
        (f"{s['n_watermarks']}", "watermarks"),
        (f"{s['m']:,}", "m = tests (documents x watermarks)"),
        (f"{s['q']:g}", "q (target FDR / FWER)"),
        (f"{s['bh']['rejections']:,}", "Benjamini-Hochberg rejections"),
        (f"{s['by']['rejections']:,}", "Benjamini-Yekutieli rejections"),
        (f"{s['bonferroni']['rejections']:,}", "Bonferroni rejections"),
        (f"{s['bh']['expected_false_discoveries']:.3g}", "expected false discoveries (BH)"),
        (f"{s.get('malformed_rows', 0):,}", "malformed rows"),
    ]
    body = [
        "<h1>tokenmark scan</h1>",
        f'<div class="sub">{e(str(out))} &middot; {s["n_shards"]} shards &middot; '
        f"{s.get('seconds', 0):.1f} s</div>",
        '<div class="cards">'
        + "".join(f'<div class="card"><b>{v}</b><span>{e(k)}</span></div>' for v, k in cards)
        + "</div>",
        "<h2>Error control over the whole scan</h2>",
        '<div class="panel"><table><tr><th>procedure</th><th>controls</th>'
        '<th class="n">rejections</th><th class="n">reject p &le;</th>'
        '<th class="n">expected false discoveries &le;</th></tr>',
    ]
    for method, label, what in (
        ("bh", "Benjamini-Hochberg", "FDR (independent / PRDS tests)"),
        ("by", "Benjamini-Yekutieli", "FDR (any dependence)"),
        ("bonferroni", "Bonferroni line", "FWER"),
    ):
        r = s[method]
        thr = "&ndash;" if r["log10_threshold"] is None else _fmt_p(r["log10_threshold"])
        body.append(
            f"<tr><td>{label}</td><td>{what}</td><td class='n'>{r['rejections']:,}</td>"
            f"<td class='n'>{thr}</td><td class='n'>{r['expected_false_discoveries']:.3g}</td></tr>"
        )
    body.append("</table></div>")

    bh_thr = s["bh"]["log10_threshold"]
    if bh_thr is None:
        bh_thr = None
    empties = sum(hist.empty.values())
    body += [
        '<div class="row"><div class="panel">',
        qq_svg(hist, bh_thr),
        f'<div class="meta">{int(hist.total().sum()):,} tests not rejected'
        + (f"; {empties:,} with no scored token (p = 1) left out" if empties else "")
        + ". Points on the diagonal: p-values uniform, as they are without the watermark; "
        "above the band: too many small p-values (a broken null, or watermarked documents "
        "that did not reach the rejection line).</div></div>",
        '<div class="panel">',
        hits_svg(names, counts),
        "</div></div>",
        "<h2>Watermarks</h2>",
        '<div class="panel"><table><tr><th>watermark</th><th>scheme</th><th>key id</th>'
        '<th class="n">BH</th><th class="n">BY</th><th class="n">Bonferroni</th>'
        '<th class="n">smallest p</th></tr>',
    ]
    for w in settings["watermarks"]:
        c = counts[w["name"]]
        body.append(
            f"<tr><td>{e(w['name'])}</td><td>{e(str(w.get('scheme', 'kgw')))}</td>"
            f"<td>{e(str(w['key_id']))}</td><td class='n'>{c['bh']}</td>"
            f"<td class='n'>{c['by']}</td><td class='n'>{c['bonferroni']}</td>"
            f"<td class='n'>{_fmt_p(c['min']) if c['bh'] else '&ndash;'}</td></tr>"
        )
    body.append("</table></div>")

    shown = hits[:top]
    body.append(f"<h2>Top hits ({len(shown)} of {len(hits)})</h2>")
    if shown:
        body.append(
            '<div class="legend meta">colour = contribution of each token to the score: '
            f'<span style="{_color(1.0)}">for the watermark</span>'
            f'<span style="{_color(-1.0)}">against</span>'
            "<span>not counted (context or repeat)</span>"
            '<span class="win">strongest window</span> (hover a token for its value)</div>'
        )
    wanted: dict[str, set[int]] = {}
    for h in shown:
        wanted.setdefault(h["source"], set()).add(int(h["row"]))
    docs = _documents(wanted, settings) if shown else {}
    for h in shown:
        wm = by_name.get(h["watermark"])
        head = (
            f"<b>{e(h['watermark'])}</b> &middot; {e(str(h['source']))}:{h['row']}"
            + (f" &middot; id {e(str(h['id']))}" if h.get("id") is not None else "")
            + f" &middot; p = {_fmt_p(h['log10_p'])} &middot; BH q = "
            + _fmt_p(h.get("log10_q_bh", h["log10_p"]))
            + (" &middot; Bonferroni" if h.get("bonferroni") else "")
        )
        doc = docs.get((h["source"], int(h["row"])))
        if wm is None or doc is None:
            body.append(f'<div class="panel">{head}<div class="meta warn">document not '
                        "available (file moved, or watermark not given)</div></div>")  # fmt: skip
            continue
        text, toks = doc
        ids = toks if toks is not None else _encode_one(tokenizer, text)
        view = token_view(wm, ids, text, tokenizer)
        note = ""
        if abs(view.log10_p - h["log10_p"]) > 1e-9 * max(1.0, abs(h["log10_p"])):
            note = (
                f'<div class="meta warn">re-scored p = {_fmt_p(view.log10_p)} differs from the '
                "scan's: the file changed since the scan</div>"
            )
        n_tok = len(ids)
        body.append(
            f'<div class="panel">{head}<div class="meta">{n_tok:,} tokens'
            + (f" &middot; {e(view.window_label)}" if view.window else "")
            + f"</div>{note}<div class='doc'>{_doc_html(view)}</div></div>"
        )
    page = (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width,initial-scale=1">'
        f"<title>tokenmark scan report</title><style>{_CSS}</style></head>"
        f"<body><main>{''.join(body)}</main></body></html>\n"
    )
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(page, encoding="utf-8")
    os.replace(tmp, path)
    return path


def _encode_one(tokenizer, text: str) -> np.ndarray:
    if tokenizer is None:
        raise ValueError("tokenizer: a text scan's report needs its tokenizer")
    return np.asarray(tokenizer.encode(text, add_special_tokens=False).ids, dtype=np.int64)
