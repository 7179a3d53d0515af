"""SynthID-Text's scores from the per-document layer counts (the dialect's result): their mean and
weighted mean, the weighted z and its normal p-value, and our exact p-value (binomial, or the
exact null of a table whose layers are dependent)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..stats import binomial_pvalue
from ..synthid import SynthIDResult


@dataclass(frozen=True)
class SynthIDTextResult(SynthIDResult):
    """:class:`tokenmark.SynthIDResult` with the table's ``q`` and, on request, per document the
    g-values ``[len - ngram_len + 1, depth]`` and the combined mask (1: scored), as theirs."""

    q: float = 0.5
    g_values: list[np.ndarray] | None = None
    mask: list[np.ndarray] | None = None


def weight_terms(w: np.ndarray) -> tuple[np.ndarray, float]:
    """The weights normalised to sum to ``depth`` and the sum of their squares."""
    wn = w * (len(w) / w.sum())
    return wn, float((wn**2).sum())


def scores(n_scored, ones, terms, q, extra, null=None) -> SynthIDTextResult:
    """Their mean and weighted-mean scores, the weighted z and its normal p-value, and our exact
    binomial p-value, from the per-document layer counts ``ones`` and scored n-grams
    (``terms``: :func:`weight_terms` of the layer weights). ``null``: the table's
    :class:`~tokenmark.dialects._synthid_text_null.PositionNull` where its layers are dependent
    (the p-value is then its exact tail, the z's variance its own)."""
    from scipy import special  # here, not at import; scipy.special, not the slower scipy.stats

    wn, wsq = terms
    depth = len(wn)
    total = ones.sum(axis=1)
    bits = depth * n_scored
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = total / bits  # NaN where nothing is scored, as theirs
        weighted = (ones * wn).sum(axis=1) / bits
        # under the null each g is a Bernoulli(q), independent unless the table ties layers
        var = q * (1 - q) * wsq if null is None else null.weighted_variance(wn)
        sd = np.sqrt(var / n_scored) / depth
        wz = np.where(n_scored > 0, (weighted - q) / sd, 0.0)
    return SynthIDTextResult(
        n_scored=n_scored,
        ones=ones,
        mean_score=mean,
        p_value=binomial_pvalue(total, bits, q) if null is None else null.tail(total, n_scored),
        weighted_score=weighted,
        weighted_z=wz,
        weighted_p_value=np.where(n_scored > 0, special.ndtr(-wz), 1.0),  # norm.sf(wz)
        q=q,
        **extra,
    )
