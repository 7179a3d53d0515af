"""The HTML of the report, section by section: the scan's numbers, the error control table, the
figures, the watermarks table and the top hits token by token. Every section is a list of HTML
fragments; every text that comes from the scan or its documents is escaped."""

from __future__ import annotations

import html
import math
from pathlib import Path
from typing import Any

import numpy as np

from ..watermarks import Watermark
from .figures import hits_svg, qq_svg
from .histogram import PValueHistogram
from .top_hits import TokenView, _encode_one, token_view

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


def header(out: Path, s: dict[str, Any]) -> list[str]:
    """The title, the output folder and the cards of the scan's numbers."""
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
        (f"{s.get('malformed_rows', 0):,}", "malformed rows"),
    ]
    return [
        "<h1>tokenmark scan</h1>",
        f'<div class="sub">{e(str(out))} &middot; {s["n_shards"]} shards &middot; '
        f"{s.get('seconds', 0):.1f} s</div>",
        '<div class="cards">'
        + "".join(f'<div class="card"><b>{v}</b><span>{e(k)}</span></div>' for v, k in cards)
        + "</div>",
    ]


def error_control(s: dict[str, Any]) -> list[str]:
    """The table of the three procedures: what each controls, its rejections and threshold."""
    body = [
        "<h2>Error control over the whole scan</h2>",
        '<div class="panel"><table><tr><th>procedure</th><th>controls</th>'
        '<th class="n">rejections</th><th class="n">reject p &le;</th>'
        "<th>guarantee at q</th></tr>",
    ]
    q = f"{s['q']:.3g}"
    fdr = f"expected fraction of false rejections &le; {q} (not a count)"
    fwer = f"P(any false) &le; {q}; expected false discoveries &le; {q}"
    for method, label, what, guarantee in (
        ("bh", "Benjamini-Hochberg", "FDR (independent / PRDS tests)", fdr),
        ("by", "Benjamini-Yekutieli", "FDR (any dependence)", fdr),
        ("bonferroni", "Bonferroni line", "FWER", fwer),
    ):
        r = s[method]
        thr = "&ndash;" if r["log10_threshold"] is None else _fmt_p(r["log10_threshold"])
        body.append(
            f"<tr><td>{label}</td><td>{what}</td><td class='n'>{r['rejections']:,}</td>"
            f"<td class='n'>{thr}</td><td>{guarantee}</td></tr>"
        )
    body.append("</table></div>")
    return body


def figures(
    hist: PValueHistogram,
    s: dict[str, Any],
    names: list[str],
    counts: dict[str, dict[str, Any]],
) -> list[str]:
    """The QQ plot (with how many tests it holds) and the hits per watermark, side by side."""
    empties = sum(hist.empty.values())
    return [
        '<div class="row"><div class="panel">',
        qq_svg(hist, s["bh"]["log10_threshold"]),
        f'<div class="meta">{int(hist.total().sum()):,} tests not rejected'
        + (f"; {empties:,} with no scored token (p = 1) left out" if empties else "")
        + ". Points on the diagonal: p-values uniform, as they are without the watermark; "
        "above the band: too many small p-values (a broken null, or watermarked documents "
        "that did not reach the rejection line).</div></div>",
        '<div class="panel">',
        hits_svg(names, counts),
        "</div></div>",
    ]


def watermark_table(
    watermarks: list[dict[str, Any]], counts: dict[str, dict[str, Any]]
) -> list[str]:
    """One row per watermark of the scan: scheme, key id, rejections and the smallest p."""
    e = html.escape
    body = [
        "<h2>Watermarks</h2>",
        '<div class="panel"><table><tr><th>watermark</th><th>scheme</th><th>key id</th>'
        '<th class="n">BH</th><th class="n">BY</th><th class="n">Bonferroni</th>'
        '<th class="n">smallest p</th></tr>',
    ]
    for w in watermarks:
        c = counts[w["name"]]
        body.append(
            f"<tr><td>{e(w['name'])}</td><td>{e(str(w.get('scheme', 'kgw')))}</td>"
            f"<td>{e(str(w['key_id']))}</td><td class='n'>{c['bh']}</td>"
            f"<td class='n'>{c['by']}</td><td class='n'>{c['bonferroni']}</td>"
            f"<td class='n'>{_fmt_p(c['min']) if c['bh'] else '&ndash;'}</td></tr>"
        )
    body.append("</table></div>")
    return body


def top_hits_heading(n_shown: int, n_hits: int) -> list[str]:
    """The heading of the top hits and, when there are any, the legend of the colours."""
    body = [f"<h2>Top hits ({n_shown} of {n_hits})</h2>"]
    if n_shown:
        body.append(
            '<div class="legend meta">colour = contribution of each token to the score: '
            f'<span style="{_color(1.0)}">for the watermark</span>'
            f'<span style="{_color(-1.0)}">against</span>'
            "<span>not counted (context, repeat or calibration)</span>"
            '<span class="win">strongest window</span> (hover a token for its value)</div>'
        )
    return body


def hit_panel(
    h: dict[str, Any],
    wm: Watermark | None,
    doc: tuple[str | None, np.ndarray | None] | None,
    tokenizer,
) -> str:
    """One hit: where it is and its p-values, then its document token by token (re-scored; a
    warning when the score differs from the scan's), or a note that it is not available."""
    e = html.escape
    head = (
        f"<b>{e(h['watermark'])}</b> &middot; {e(str(h['source']))}:{h['row']}"
        + (f" &middot; id {e(str(h['id']))}" if h.get("id") is not None else "")
        + f" &middot; p = {_fmt_p(h['log10_p'])} &middot; BH q = "
        + _fmt_p(h.get("log10_q_bh", h["log10_p"]))
        + (" &middot; Bonferroni" if h.get("bonferroni") else "")
    )
    if wm is None or doc is None:
        return (f'<div class="panel">{head}<div class="meta warn">document not '
                "available (file moved, or watermark not given)</div></div>")  # fmt: skip
    text, toks = doc
    ids = toks if toks is not None else _encode_one(tokenizer, text)
    view = token_view(wm, ids, text, tokenizer)
    note = ""
    if abs(view.log10_p - h["log10_p"]) > 1e-9 * max(1.0, abs(h["log10_p"])):
        note = (
            f'<div class="meta warn">re-scored p = {_fmt_p(view.log10_p)} differs from the '
            "scan's: the file changed since the scan</div>"
        )
    return (
        f'<div class="panel">{head}<div class="meta">{len(ids):,} tokens'
        + (f" &middot; {e(view.window_label)}" if view.window else "")
        + (" &middot; a dialect watermark: no per-token colours" if wm.dialect else "")
        + f"</div>{note}<div class='doc'>{_doc_html(view)}</div></div>"
    )


def html_page(body: list[str]) -> str:
    """The whole page around the sections: head, inline CSS, no script, nothing to load."""
    return (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width,initial-scale=1">'
        f"<title>tokenmark scan report</title><style>{_CSS}</style></head>"
        f"<body><main>{''.join(body)}</main></body></html>\n"
    )
