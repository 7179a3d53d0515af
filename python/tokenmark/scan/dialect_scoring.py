"""Scoring one batch for a dialect watermark (vLLM, SGLang, transformers' KGW, SynthID-Text), with
log10 p-values recomputed from the counts where the test is a Gamma or binomial tail."""

from __future__ import annotations

import numpy as np

from .._inputs import Ragged
from ..dialects import SGLangResult, SynthIDTextResult, VLLMResult
from ..kgw import KGWResult
from .logp import log10_binom_sf, log10_gamma_sf

_TINY = np.finfo(np.float64).tiny


def score_dialect(scheme, rag: Ragged, backend: str = "auto") -> dict[str, np.ndarray]:
    """``n_scored``, ``score`` and ``log10_p`` of one batch under a dialect scheme. Documents are
    scored without a prompt (the dialect's rule for that: SGLang skips the first
    ``context_width`` tokens, vLLM hashes ``-1`` before the text)."""
    res = scheme.detect(rag, backend=backend)
    n = np.asarray(res.n_scored, dtype=np.int64)
    if isinstance(res, KGWResult):  # transformers' / TGI's KGW, Unigram
        green = np.asarray(res.n_green, dtype=np.int64)
        return {"n_scored": n, "score": green.astype(np.float64),
                "log10_p": log10_binom_sf(green, n, res.gamma)}  # fmt: skip
    if isinstance(res, SynthIDTextResult):
        ones = np.asarray(res.ones, dtype=np.int64).sum(axis=1)
        null = scheme.position_null  # a small table ties the layers: its exact tail
        lp = (log10_binom_sf(ones, n * res.ones.shape[1], res.q) if null is None
              else null.log10_tail(ones, n))  # fmt: skip
        return {"n_scored": n, "score": np.asarray(res.mean_score, dtype=np.float64),
                "log10_p": lp}  # fmt: skip
    score = np.asarray(res.score, dtype=np.float64)
    if isinstance(res, SGLangResult) or (
        isinstance(res, VLLMResult) and scheme.algorithm == "gumbel"
    ):
        return {"n_scored": n, "score": score, "log10_p": log10_gamma_sf(score, n)}
    if isinstance(res, VLLMResult):  # dual key: the exact tail as a double (floored at tiny)
        return {"n_scored": n, "score": score,
                "log10_p": np.log10(np.maximum(res.p_value, _TINY))}  # fmt: skip
    raise TypeError(f"scheme: {type(scheme).__name__} is not a scannable dialect")
