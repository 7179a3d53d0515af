"""The lines a scan prints at its end (both engines)."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .engine import ScanReport


def format_summary(report: ScanReport) -> list[str]:
    """The lines printed at the end of a scan."""
    s = report.summary
    lines = [
        f"scanned {s['n_docs']} documents, {s['n_tokens']} tokens, {s['n_shards']} shards "
        f"({s['skipped_shards']} finished before, skipped; {s['empty_shards']} empty) "
        f"for {s['n_watermarks']} watermarks",
        f"m = {s['m']} tests (documents x watermarks), q = {s['q']}",
    ]
    for method, label in (
        ("bh", "Benjamini-Hochberg (FDR)"),
        ("by", "Benjamini-Yekutieli (FDR, any dependence)"),
        ("bonferroni", "Bonferroni line (FWER)"),
    ):
        r = s[method]
        thr = r["log10_threshold"]
        thr_s = "" if thr is None else f", reject log10 p <= {thr:.4g}"
        lines.append(f"  {label}: {r['rejections']} rejections{thr_s}; {_guarantee(r, s['q'])}")
    if report.malformed_count:
        lines.append(f"malformed rows: {report.malformed_count} (all in malformed.jsonl), e.g.:")
        for m in report.malformed_examples[:5]:
            lines.append(f"  {m.source}:{m.row}: {m.reason}")
    return lines


def _guarantee(r: dict, q: float) -> str:
    """What a procedure's rejections are worth: Bonferroni bounds the expected number of false
    discoveries; BH and BY only their expected fraction (the FDR), which bounds no count."""
    if r.get("controls") == "FWER":
        return f"P(any false) <= {q:.3g}, expected false discoveries <= {q:.3g}"
    return f"FDR <= {q:.3g} (the expected fraction of the rejections that are false, not a count)"
