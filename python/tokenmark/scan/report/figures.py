"""The report's figures, drawn with matplotlib (no pyplot: no global state, no GUI backend) and
inlined as SVG: the QQ plot of the p-values of the tests not rejected, and the hits per
watermark."""

from __future__ import annotations

import io
import math
import re

import numpy as np

from .histogram import _EDGES, PValueHistogram

_MAX_CURVES = 7  # watermarks drawn one by one in the QQ plot; the others only in "all"


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
