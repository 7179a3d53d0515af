"""Scoring one batch of documents for one watermark, with log10 p-values."""

from __future__ import annotations

import numpy as np

from .._inputs import Ragged
from .calibrated import calibrated_detect
from .logp import log10_binom_sf, log10_gamma_sf
from .watermarks import ScanConfigError, Watermark


def score_batch(wm: Watermark, rag: Ragged, backend: str = "auto") -> dict[str, np.ndarray]:
    """Per-document ``n_scored``, ``score``, ``log10_p`` (and the window columns for a KGW
    watermark with a window) of one batch, from the scheme's ``detect()``.

    The p-values are recomputed from the counts in log10 (``tokenmark.scan.logp``): ``detect()``
    returns them as doubles, which are 0 below 1e-308.
    """
    opts = dict(wm.options)
    s = wm.scheme
    n_docs = len(rag)
    detect = s.detect if wm.calibration is None else calibrated_detect(wm)
    out: dict[str, np.ndarray] = {}
    if wm.scheme_name == "kgw":
        window = opts.get("window")
        res = detect(rag, window=window, backend=backend)
        n = np.asarray(res.n_scored, dtype=np.int64)
        green = np.asarray(res.n_green, dtype=np.int64)
        out.update(n_scored=n, score=green.astype(np.float64))
        out["log10_p"] = log10_binom_sf(green, n, s.gamma_effective)
        if window is not None:
            w = np.minimum(window, n)
            wg = np.asarray(res.window_green, dtype=np.int64)
            with np.errstate(divide="ignore"):
                bonf = np.log10(np.maximum(n - w + 1, 1).astype(np.float64))
            wl = np.minimum(bonf + log10_binom_sf(wg, w, s.gamma_effective), 0.0)
            out["window_start"] = np.asarray(res.window_start, dtype=np.int64)
            out["window_n_green"] = wg
            out["window_log10_p"] = np.where(n > 0, wl, 0.0)
    elif wm.scheme_name == "gumbel":
        res = detect(rag, salt=opts.get("salt", 0), backend=backend)
        n = np.asarray(res.n_scored, dtype=np.int64)
        out.update(n_scored=n, score=np.asarray(res.score, dtype=np.float64))
        out["log10_p"] = log10_gamma_sf(out["score"], n)
    elif wm.scheme_name == "synthid":
        res = detect(rag, eos_token_id=opts.get("eos_token_id"), backend=backend)
        n = np.asarray(res.n_scored, dtype=np.int64)
        ones = np.asarray(res.ones, dtype=np.int64).sum(axis=1)
        out.update(n_scored=n, score=np.asarray(res.mean_score, dtype=np.float64))
        out["log10_p"] = log10_binom_sf(ones, n * s.layers, 0.5)
    elif wm.dialect is not None:
        from .dialect_scoring import score_dialect

        out.update(score_dialect(s, rag, backend))
    else:  # load_watermarks admits only the schemes above
        raise ScanConfigError(f"watermark {wm.name!r}: scheme {wm.scheme_name!r} not scannable")
    assert len(out["log10_p"]) == n_docs
    return out
