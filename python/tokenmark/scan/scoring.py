"""Scoring one batch of documents for the watermarks of a scan, with log10 p-values.

Watermarks of our schemes that differ only in their key (same scheme, same parameters, same
detection options) are scored together in one pass over the batch (``detect_many``, the K-key
operations). A watermark with a window (it needs per-token terms), a calibrated watermark, a
dialect, and a watermark that shares its parameters with no other are scored on their own.
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np

from .._inputs import Ragged
from .calibrated import calibrated_detect
from .logp import log10_binom_sf, log10_gamma_sf
from .watermarks import ScanConfigError, Watermark


def score_batch(wm: Watermark, rag: Ragged, backend: str = "auto") -> dict[str, np.ndarray]:
    """Per-document ``n_scored``, ``score``, ``log10_p`` (and the window columns for a
    watermark with a window) of one batch, from the scheme's ``detect()``.

    The p-values are recomputed from the counts in log10 (``tokenmark.scan.logp``): ``detect()``
    returns them as doubles, which are 0 below 1e-308.
    """
    opts = dict(wm.options)
    s = wm.scheme
    detect = s.detect if wm.calibration is None else calibrated_detect(wm)
    if wm.scheme_name == "kgw":
        res = detect(rag, window=opts.get("window"), backend=backend)
    elif wm.scheme_name == "gumbel":
        res = detect(rag, salt=opts.get("salt", 0), window=opts.get("window"), backend=backend)
    elif wm.scheme_name == "synthid":
        eos = opts.get("eos_token_id")
        res = detect(rag, eos_token_id=eos, window=opts.get("window"), backend=backend)
    elif wm.dialect is not None:
        from .dialect_scoring import score_dialect

        out = score_dialect(s, rag, backend)
        assert len(out["log10_p"]) == len(rag)
        return out
    else:  # load_watermarks admits only the schemes above
        raise ScanConfigError(f"watermark {wm.name!r}: scheme {wm.scheme_name!r} not scannable")
    return _columns(wm, res, len(rag))


def score_batches(
    watermarks: list[Watermark], rag: Ragged, backend: str = "auto"
) -> list[dict[str, np.ndarray]]:
    """:func:`score_batch` of every watermark, in order, with the watermarks that differ only
    in their key scored in one K-key pass. The columns are the same as one by one."""
    out: list[dict[str, np.ndarray] | None] = [None] * len(watermarks)
    groups: dict[str, list[int]] = {}
    for i, wm in enumerate(watermarks):
        if _groupable(wm):
            groups.setdefault(_group_key(wm), []).append(i)
        else:
            out[i] = score_batch(wm, rag, backend)
    for members in groups.values():
        first = watermarks[members[0]]
        if len(members) == 1:  # the single-key kernels are as fast for one key (bench_multikey)
            out[members[0]] = score_batch(first, rag, backend)
            continue
        opts = dict(first.options)
        kwargs: dict[str, Any] = {}
        if first.scheme_name == "gumbel":
            kwargs["salt"] = opts.get("salt", 0)
        elif first.scheme_name == "synthid":
            kwargs["eos_token_id"] = opts.get("eos_token_id")
        keys = [watermarks[i].scheme.key for i in members]
        results = first.scheme.detect_many(rag, keys=keys, backend=backend, **kwargs)
        for i, res in zip(members, results, strict=True):
            out[i] = _columns(watermarks[i], res, len(rag))
    return out  # type: ignore[return-value]


def _groupable(wm: Watermark) -> bool:
    if wm.dialect is not None or wm.calibration is not None:
        return False
    return wm.scheme_name in ("kgw", "gumbel", "synthid") and dict(wm.options).get("window") is None


def _group_key(wm: Watermark) -> str:
    """What must be equal for two watermarks to share a pass: everything but the key."""
    d = wm.scheme.to_dict()
    d.pop("key_fingerprint", None)
    return json.dumps([d, sorted(dict(wm.options).items())], sort_keys=True, default=str)


def _columns(wm: Watermark, res, n_docs: int) -> dict[str, np.ndarray]:
    """The scan's columns of one result: ``score`` and ``window_score`` in the scheme's own terms
    (KGW: green count; Gumbel: sum of -log(1 - u); SynthID: mean g-value), log10 p-values
    computed from them in log space (exact below 1e-308 too)."""
    opts = dict(wm.options)
    s = wm.scheme
    out: dict[str, np.ndarray] = {}
    n = np.asarray(res.n_scored, dtype=np.int64)
    window = opts.get("window")
    w = np.minimum(window, n) if window is not None else None
    if wm.scheme_name == "kgw":
        green = np.asarray(res.n_green, dtype=np.int64)
        out.update(n_scored=n, score=green.astype(np.float64))
        out["log10_p"] = log10_binom_sf(green, n, s.gamma_effective)
        if window is not None:
            wg = np.asarray(res.window_green, dtype=np.int64)
            out["window_n_green"] = wg
            _window_columns(out, res, n, w, wg.astype(np.float64),
                            log10_binom_sf(wg, w, s.gamma_effective))  # fmt: skip
    elif wm.scheme_name == "gumbel":
        out.update(n_scored=n, score=np.asarray(res.score, dtype=np.float64))
        out["log10_p"] = log10_gamma_sf(out["score"], n)
        if window is not None:
            ws = np.asarray(res.window_score, dtype=np.float64)
            _window_columns(out, res, n, w, ws, log10_gamma_sf(ws, w))
    else:  # synthid
        ones = np.asarray(res.ones, dtype=np.int64).sum(axis=1)
        out.update(n_scored=n, score=np.asarray(res.mean_score, dtype=np.float64))
        out["log10_p"] = log10_binom_sf(ones, n * s.layers, 0.5)
        if window is not None:
            wo = np.asarray(res.window_ones, dtype=np.int64)
            with np.errstate(invalid="ignore", divide="ignore"):
                mean = np.where(w > 0, wo / np.maximum(w * s.layers, 1), np.nan)
            _window_columns(out, res, n, w, mean, log10_binom_sf(wo, w * s.layers, 0.5))
    assert len(out["log10_p"]) == n_docs
    return out


def _window_columns(out, res, n, w, score, log10_tail) -> None:
    """``window_start``, ``window_score`` and ``window_log10_p``: the tail of the best window
    times the number of windows (Bonferroni), in log10, as ``detect()``'s window p-value."""
    with np.errstate(divide="ignore"):
        bonf = np.log10(np.maximum(n - w + 1, 1).astype(np.float64))
    out["window_start"] = np.asarray(res.window_start, dtype=np.int64)
    out["window_score"] = score
    out["window_log10_p"] = np.where(n > 0, np.minimum(bonf + log10_tail, 0.0), 0.0)
