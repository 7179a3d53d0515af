"""Corpus-level error control over a whole scan, exact and in bounded memory.

Benjamini-Hochberg rejects the ``R`` smallest of ``m`` p-values, ``R`` the largest rank ``i``
with ``p_(i) <= i q / m``; Benjamini-Yekutieli (valid under any dependence) the same with
``q / c(m)``, ``c(m) = sum_{i <= m} 1 / i``; Bonferroni every ``p <= q / m``. Every threshold
is at most ``q``, so a p-value above ``q`` is never rejected by any of them: the accumulator
keeps the p-values ``<= q`` (with a caller's tag each) and only counts the others. The
rejections are then exactly those of the three procedures over all ``m`` p-values.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

_METHODS = ("bh", "by", "bonferroni")


def harmonic(m: int) -> float:
    """``c(m) = sum_{i=1}^m 1/i`` (exactly summed up to 10^6 terms, asymptotic beyond)."""
    if m <= 0:
        return 1.0
    if m <= 1_000_000:
        return float(np.sum(1.0 / np.arange(m, 0, -1, dtype=np.float64)))
    return float(np.log(m) + np.euler_gamma + 1 / (2 * m) - 1 / (12 * m * m))


@dataclass
class Rejections:
    """The outcome of one procedure: which kept p-values are rejected, their adjusted p-values
    (q-values; exact for the rejected ones, which is all a caller may rely on) and what it
    guarantees."""

    method: str
    threshold_log10: float  # reject log10 p <= this
    rejected: np.ndarray  # bool over the kept p-values, in the accumulator's order
    log10_q: np.ndarray  # log10 adjusted p-value of each kept p-value
    # Bonferroni: q, a bound on the expected number of false discoveries (E[V] <= q). None for
    # BH / BY: they control the FDR, E[V / max(R, 1)] <= q, which bounds no count of false
    # discoveries (under the complete null, every one of the R rejections is false).
    expected_false: float | None

    @property
    def n_rejected(self) -> int:
        return int(self.rejected.sum())


@dataclass
class FDRAccumulator:
    """Streams ``log10`` p-values; keeps those ``<= log10 q`` and their tags, counts all.

    Parameters
    ----------
    q : the target false discovery rate (and the family-wise error rate of the Bonferroni line).

    Example
    -------
    >>> import numpy as np
    >>> acc = FDRAccumulator(q=0.05)
    >>> acc.add(np.log10([0.001, 0.3, 0.02, 0.9]), tags=np.arange(4))
    >>> acc.m, acc.result("bh").n_rejected, acc.result("bonferroni").n_rejected
    (4, 2, 1)
    """

    q: float
    m: int = 0
    _log10_p: list = field(default_factory=list, repr=False)
    _tags: list = field(default_factory=list, repr=False)

    def __post_init__(self):
        q = float(self.q)
        if not math.isfinite(q) or not 0.0 < q < 1.0:
            raise ValueError(f"q: must be in the open interval (0, 1), got {self.q}")
        self.q = q

    @property
    def log10_q(self) -> float:
        return math.log10(self.q)

    def add(self, log10_p, tags=None, m: int | None = None) -> None:
        """Count ``m`` tests (default: ``len(log10_p)``), of which ``log10_p`` holds at least every
        one ``<= log10 q`` (it may hold all of them); keep those with their ``tags``."""
        lp = np.asarray(log10_p, dtype=np.float64).reshape(-1)
        if np.isnan(lp).any():
            raise ValueError("log10_p: NaN p-value")
        if (lp > 1e-12).any():
            raise ValueError("log10_p: a log10 p-value above 0 (p > 1)")
        count = len(lp) if m is None else int(m)
        if count < len(lp):
            raise ValueError(f"m: {count} tests but {len(lp)} p-values given")
        self.m += count
        keep = lp <= self.log10_q
        if keep.any():
            self._log10_p.append(lp[keep])
            if tags is not None:
                self._tags.append(np.asarray(tags)[keep])

    @property
    def kept_log10_p(self) -> np.ndarray:
        return np.concatenate(self._log10_p) if self._log10_p else np.zeros(0)

    @property
    def kept_tags(self) -> np.ndarray:
        return np.concatenate(self._tags) if self._tags else np.zeros(0, dtype=np.int64)

    def result(self, method: str) -> Rejections:
        """Rejections of ``method``: ``"bh"``, ``"by"`` or ``"bonferroni"``."""
        if method not in _METHODS:
            raise ValueError(f"method: expected one of {_METHODS}, got {method!r}")
        lp = self.kept_log10_p
        m = max(self.m, 1)
        log_m = math.log10(m)
        if method == "bonferroni":
            thr = self.log10_q - log_m
            lq = np.minimum(lp + log_m, 0.0)
            rejected = lp <= thr
            # FWER control: E[V] <= m0 q / m <= q.
            return Rejections(method, thr, rejected, lq, self.q)
        c = harmonic(self.m) if method == "by" else 1.0
        log_c = math.log10(c)
        order = np.argsort(lp, kind="stable")
        ranks = np.arange(1, len(lp) + 1, dtype=np.float64)
        # p_(i) <= i q / (m c)  <=>  log10 p_(i) <= log10 i + log10 q - log10 m - log10 c
        ok = lp[order] <= np.log10(ranks) + self.log10_q - log_m - log_c
        n_rej = int(np.flatnonzero(ok)[-1]) + 1 if ok.any() else 0
        thr = float(lp[order][n_rej - 1]) if n_rej else -np.inf
        rejected = np.zeros(len(lp), dtype=bool)
        rejected[order[:n_rej]] = True
        # q-value of rank i: min over j >= i of m c p_(j) / j, capped at 1. Ranks past the kept
        # ones give values >= q, so the q-values below q are exact.
        adj = lp[order] + log_m + log_c - np.log10(ranks)
        adj = np.minimum(np.minimum.accumulate(adj[::-1])[::-1], 0.0)
        lq = np.empty(len(lp))
        lq[order] = adj
        # FDR control: E[V / max(R, 1)] <= q; no bound on the number of false discoveries.
        return Rejections(method, thr, rejected, lq, None)

    def summary(self) -> dict:
        """m, q and per method the rejection count, threshold and what it controls at q: the FDR
        (BH, BY) or the FWER (Bonferroni, whose expected false discoveries are also <= q)."""
        out: dict = {"m": self.m, "q": self.q, "kept": int(len(self.kept_log10_p))}
        for method in _METHODS:
            r = self.result(method)
            out[method] = {
                "rejections": r.n_rejected,
                "log10_threshold": None
                if method != "bonferroni" and r.n_rejected == 0
                else float(r.threshold_log10),
                "controls": "FWER" if method == "bonferroni" else "FDR",
            }
            if r.expected_false is not None:
                out[method]["expected_false_discoveries_at_most"] = r.expected_false
        return out
