"""Detection with a per-key calibration (:class:`tokenmark.Calibration`): the scheme's own
``detect``, then the calibration's (context, token) pairs taken out of each document's counts and
scores, with the p-values recomputed exactly over the tokens left. See
:mod:`tokenmark.calibration` for the filter and why the p-values stay exact over keys."""

from __future__ import annotations

from typing import Any

import numpy as np

from ._inputs import Ragged, as_ragged, split_docs
from ._validate import check_bool, check_int, check_prefix
from .calibration import _IDENTITY, Calibration, _check_scheme, _doc_of, pair_contexts
from .stats import (
    binomial_pvalue,
    binomial_sf,
    binomial_z,
    gamma_pvalue,
    synthid_weights,
    weighted_mean_z,
    window_pvalue,
    windows_over_counted,
)


def _check_calibration(scheme, calibration) -> Calibration:
    if not isinstance(calibration, Calibration):
        raise TypeError(
            f"calibration: expected a tokenmark Calibration, got {type(calibration).__name__}"
        )
    c = calibration.scheme
    if c.key != scheme.key:
        raise ValueError(
            f"calibration: made for the key with fingerprint {c.key.fingerprint}, not this "
            f"scheme's key ({scheme.key.fingerprint})"
        )
    if c.scheme_name != scheme.scheme_name or any(
        getattr(c, f) != getattr(scheme, f) for f in _IDENTITY
    ):
        raise ValueError(
            "calibration: made for another scheme config "
            f"({c.scheme_name}, context_width={c.context_width}, seeding={c.seeding!r})"
        )
    return calibration


def _per_doc(mask: np.ndarray, offsets: np.ndarray) -> np.ndarray:
    cs = np.concatenate([[0], np.cumsum(mask, dtype=np.int64)])
    return cs[offsets[1:]] - cs[offsets[:-1]]


def detect_calibrated(scheme, sequences, calibration: Calibration, **kwargs):
    """``scheme.detect(sequences, **kwargs)`` with the calibration's pairs left out of the score.

    Returns the scheme's own result type (``KGWResult``, ``GumbelResult``, ``SynthIDResult``)
    with counts, scores and exact p-values over the remaining tokens; with ``return_flags``
    the ``counted`` flags show which tokens were scored. A ``window`` is found over the
    remaining tokens (every scheme). Host inputs only.

    Example
    -------
    >>> import tokenmark as tm
    >>> wm = tm.KGW(key=b"my secret", gamma=0.25, context_width=1)
    >>> cal = wm.calibrate([[5, 6, 7, 1], [5, 6, 7, 2]], min_docs=2)  # (5, 6), (6, 7)
    >>> detect_calibrated(wm, [[5, 6, 7, 8, 9]], cal).n_scored.tolist()
    [2]
    """
    name = _check_scheme(scheme)
    cal = _check_calibration(scheme, calibration)
    return_flags = check_bool(kwargs.pop("return_flags", False), "return_flags")
    window = kwargs.pop("window", None)
    if window is not None:
        window = check_int(window, "window", 1, 2**62)
    rag = as_ragged(sequences)
    if name == "synthid" and kwargs.get("eos_token_id") is not None:
        from .synthid import _truncate_at_eos

        eos = check_int(kwargs.pop("eos_token_id"), "eos_token_id", 0, 2**31 - 1)
        rag = _truncate_at_eos(rag, eos, check_prefix(kwargs.get("prefix_lengths"), len(rag)))
    res = scheme.detect(rag, return_flags=True, **kwargs)
    counted = np.concatenate(res.counted).astype(bool) if len(rag) else np.zeros(0, bool)
    drop = cal.dropped(rag, counted)
    keep = counted & ~drop
    n = res.n_scored - _per_doc(drop, rag.offsets)
    # The result's extra fields: the flags, and for Gumbel and SynthID the window's.
    flags = {"counted": split_docs(keep.astype(np.uint8), rag.offsets)} if return_flags else {}
    if name == "kgw":
        return _kgw(res, rag, drop, keep, n, flags, window, return_flags)
    pos = np.flatnonzero(drop)
    ctx = pair_contexts(rag, pos, scheme.context_width, scheme.seeding_code)
    doc = _doc_of(rag.offsets, pos)
    salt = kwargs.get("salt", 0)
    if window is not None:  # the kept tokens' words, as the scorer draws them
        words = _kept_words(scheme, rag, keep, salt)
        flags.update(scheme._window(words, keep, rag.offsets, window))
    if name == "gumbel":
        return _gumbel(scheme, res, rag, pos, ctx, doc, n, flags, salt)
    return _synthid(scheme, res, rag, pos, ctx, doc, n, flags, kwargs.get("weights"))


def _kept_words(scheme, rag: Ragged, keep: np.ndarray, salt) -> np.ndarray:
    """Per token, the PRF word of each kept token (0 elsewhere): Gumbel's (salted context) or
    SynthID's g-value word, from the numpy reference PRF."""
    from .reference.prf import DOMAIN_GUMBEL, DOMAIN_SYNTHID_G, prf_word

    kept = np.flatnonzero(keep)
    ctx = pair_contexts(rag, kept, scheme.context_width, scheme.seeding_code)
    if scheme.scheme_name == "gumbel":
        salts = np.broadcast_to(np.asarray(salt, dtype=np.uint32).reshape(-1), (len(rag),))
        ctx, domain = ctx ^ salts[_doc_of(rag.offsets, kept)], DOMAIN_GUMBEL
    else:
        domain = DOMAIN_SYNTHID_G
    words = np.zeros(len(rag.tokens), dtype=np.uint32)
    words[kept] = prf_word(scheme.key.words, ctx, rag.tokens[kept], domain)
    return words


def _kgw(res, rag: Ragged, drop, keep, n, flags: dict, window, return_flags: bool):
    """KGW: the dropped tokens' green flags out of the green counts."""
    green = np.concatenate(res.green) if len(rag) else np.zeros(0, np.int8)
    g = res.n_green - _per_doc(drop & (green == 1), rag.offsets)
    p = res.gamma
    extra: dict[str, Any] = {}
    if return_flags:
        green = np.where(drop, -1, green).astype(green.dtype)
        extra.update(green=split_docs(green, rag.offsets), **flags)
    if window is not None:
        extra.update(_window(green, keep, rag, window, p))
    return type(res)(
        n_scored=n, n_green=g, z=binomial_z(g, n, p), p_value=binomial_pvalue(g, n, p),
        gamma=p, **extra,
    )  # fmt: skip


def _gumbel(scheme, res, rag: Ragged, pos, ctx, doc, n, flags: dict, salt):
    """Gumbel: the dropped tokens' score terms out of each document's score."""
    from .reference.gumbel import score_term
    from .reference.prf import DOMAIN_GUMBEL, prf_word

    salts = np.broadcast_to(np.asarray(salt, dtype=np.uint32).reshape(-1), (len(rag),))
    words = prf_word(scheme.key.words, ctx ^ salts[doc], rag.tokens[pos], DOMAIN_GUMBEL)
    terms = np.bincount(doc, weights=score_term(words), minlength=len(rag))
    score = np.where(n > 0, np.maximum(res.score - terms, 0.0), 0.0)
    return type(res)(n_scored=n, score=score, p_value=gamma_pvalue(score, n), **flags)


def _synthid(scheme, res, rag: Ragged, pos, ctx, doc, n, flags: dict, weights):
    """SynthID: the dropped tokens' g-bits out of each layer's count of ones."""
    from .reference.prf import DOMAIN_SYNTHID_G, prf_word

    words = prf_word(scheme.key.words, ctx, rag.tokens[pos], DOMAIN_SYNTHID_G)
    bits = (words[:, None] >> np.arange(scheme.layers, dtype=np.uint32)) & np.uint32(1)
    ones = res.ones.copy()
    np.subtract.at(ones, doc, bits.astype(ones.dtype))
    if weights is None:
        w = synthid_weights(scheme.layers)
    else:
        from .synthid import _check_weights

        w = _check_weights(weights, scheme.layers)
    total = ones.sum(axis=1)
    nbits = n * scheme.layers
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.where(n > 0, total / np.maximum(nbits, 1), np.nan)
    ws, wz, wp = weighted_mean_z(ones, n, w)
    return type(res)(
        n_scored=n, ones=ones, mean_score=mean, p_value=binomial_pvalue(total, nbits, 0.5),
        weighted_score=ws, weighted_z=wz, weighted_p_value=wp, **flags,
    )  # fmt: skip


def _window(green: np.ndarray, keep: np.ndarray, rag: Ragged, window: int, p: float) -> dict:
    """KGW's most-green window over the kept tokens (as ``KGW.detect`` finds it)."""
    start, best, w, n_windows = windows_over_counted(green == 1, keep, rag.offsets, window)
    wp = window_pvalue(n_windows, binomial_sf(best - 1, w, p))
    return dict(window=window, window_start=start, window_green=best, window_p_value=wp)
