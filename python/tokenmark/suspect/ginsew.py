"""Was this model distilled from our GINSEW-watermarked model? The detector's statistics.

A student trained on the teacher's outputs inherits the teacher's sinusoid: the mass it puts on
the keyed group G0 rises and falls with ``cos(f t)``, ``t`` the keyed time of the context. We
read ``y`` (the suspect's G0 mass on probe contexts, or whether each token it wrote is in G0),
pair it with ``t``, average ``y`` over the probes that share a ``t`` (they are one draw of the
time), and test for the sinusoid at the known frequency and phase:

- the matched filter ``z = sum (y - mean y)(cos(f t) - m) / sqrt(v sum (y - mean y)^2)``, with
  ``m`` and ``v`` the mean and variance of ``cos(f t)`` for ``t`` uniform on [0, 1). Under the
  null (a model that never saw the key) the times are independent uniforms whatever ``y`` is
  (they come from the keyed PRF), so conditionally on ``y`` the numerator is a sum of independent
  centred terms of variance ``v (y - mean y)^2``: ``z`` is standard normal up to the CLT, and
  ``p = P[N(0, 1) >= z]`` (one-sided: the watermark only raises the correlation);
- the Lomb-Scargle periodogram's ``P_snr`` (mean power in a window around ``f`` over the mean
  power elsewhere in the band), the statistic of the GINSEW paper and of DRW, for comparison.

This module takes plain arrays and key words; :class:`tokenmark.GINSEW` wraps it.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from .._validate import check_alpha, check_int
from ..reference import ginsew as _ref
from ..reference.prf import SEEDING_PREV, context_hash, prf_word

MAX_BATCH_SIZE = 2**31 - 1  # probes per forward call; more than any model takes at once


@dataclass(frozen=True)
class GINSEWResult:
    """The outcome of a GINSEW test of one suspect.

    Attributes
    ----------
    z : matched-filter score at the known frequency and phase (standard normal under the null).
    p_value : one-sided normal tail ``P[N(0, 1) >= z]``; 1 (and ``z`` 0) when there are fewer
        than 3 distinct times or ``y`` is constant (no information).
    p_snr : Lomb-Scargle signal-to-noise ratio (about 1 under the null; the paper's statistic).
    n : distinct times the statistic is computed over (the effective sample size).
    amplitude : least-squares slope of ``y`` on ``cos(f t)``; ``eps / (1 + 2 eps)`` for the
        watermarked teacher itself in probe mode, smaller for a student or an ensemble.
    n_observations : probes (probe mode) or scored tokens (text mode) before averaging.
    """

    z: float
    p_value: float
    p_snr: float
    n: int
    amplitude: float
    n_observations: int

    def is_watermarked(self, alpha: float = 1e-3) -> bool:
        """Whether ``p_value <= alpha`` (the false-positive rate per suspect)."""
        return bool(self.p_value <= check_alpha(alpha))

    def to_dict(self) -> dict[str, Any]:
        return {
            "z": self.z,
            "p_value": self.p_value,
            "p_snr": self.p_snr,
            "n": self.n,
            "amplitude": self.amplitude,
            "n_observations": self.n_observations,
        }


def cos_moments(frequency: float) -> tuple[float, float]:
    """Mean and variance of ``cos(f t)`` for ``t`` uniform on [0, 1) (``f`` in radians)."""
    f = float(frequency)
    m = math.sin(f) / f
    v = 0.5 + math.sin(2.0 * f) / (4.0 * f) - m * m
    return m, v


def aggregate_by_time(y, t) -> tuple[np.ndarray, np.ndarray]:
    """``(y_mean, t_unique)``: ``y`` averaged over the observations that share a time."""
    y = np.asarray(y, dtype=np.float64)
    t = np.asarray(t, dtype=np.float64)
    t_unique, inverse = np.unique(t, return_inverse=True)
    sums = np.bincount(inverse, weights=y, minlength=len(t_unique))
    counts = np.bincount(inverse, minlength=len(t_unique))
    return sums / counts, t_unique


def matched_filter(y, t, frequency: float) -> tuple[float, float, float]:
    """``(z, p_value, amplitude)`` of ``y`` against ``cos(f t)`` (one value per distinct time).

    Example
    -------
    >>> import numpy as np
    >>> t = np.random.default_rng(0).random(2000)
    >>> z, p, a = matched_filter(0.5 + 0.1 * np.cos(16.0 * t), t, 16.0)
    >>> z > 40, p < 1e-300, round(a, 3)
    (True, True, 0.1)
    """
    from scipy import stats

    y = np.asarray(y, dtype=np.float64)
    t = np.asarray(t, dtype=np.float64)
    if len(y) < 3:
        return 0.0, 1.0, 0.0
    m, v = cos_moments(frequency)
    c = np.cos(frequency * t)
    # A constant y (up to rounding: a model that ignores the context) carries no information.
    if float(np.ptp(y)) <= 1e-12 * max(1.0, float(np.abs(y).max())) or v <= 0.0:
        return 0.0, 1.0, 0.0
    yc = y - y.mean()
    ss = float(yc @ yc)
    if ss == 0.0:
        return 0.0, 1.0, 0.0
    z = float(yc @ (c - m)) / math.sqrt(v * ss)
    cc = c - c.mean()
    amplitude = float(yc @ cc) / float(cc @ cc) if float(cc @ cc) > 0 else 0.0
    return z, float(stats.norm.sf(z)), amplitude


def lomb_scargle_snr(
    y,
    t,
    frequency: float,
    *,
    band: tuple[float, float] | None = None,
    half_window: float = math.pi,
    n_freqs: int = 1000,
) -> float:
    """Lomb-Scargle ``P_snr``: mean power within ``half_window`` of ``frequency`` over the mean
    power in the rest of ``band`` (angular frequencies, radians per unit of ``t``).

    ``scipy.signal.lombscargle`` takes angular frequencies, as ``f`` is here (astropy's
    ``LombScargle`` takes cycles: divide by 2 pi there). The record is one unit of ``t`` long, so
    a peak's main lobe is about 2 pi wide; the default window holds its top, and the default band
    is ``[f / 10, 3 f]``.
    """
    from scipy import signal

    y = np.asarray(y, dtype=np.float64)
    t = np.asarray(t, dtype=np.float64)
    f = float(frequency)
    if len(y) < 3 or float(np.ptp(y)) <= 1e-12 * max(1.0, float(np.abs(y).max())):
        return math.nan
    lo, hi = band if band is not None else (f / 10.0, 3.0 * f)
    freqs = np.linspace(lo, hi, n_freqs)
    power = signal.lombscargle(t, y - y.mean(), freqs, normalize=True)
    inside = np.abs(freqs - f) <= half_window
    if not inside.any() or inside.all():
        raise ValueError("band: must extend beyond the window around the frequency")
    noise = float(power[~inside].mean())
    return float(power[inside].mean()) / noise if noise > 0 else math.inf


def finish(y, t, frequency: float, n_observations: int) -> GINSEWResult:
    """Average ``y`` per distinct ``t`` and compute both statistics."""
    y_mean, t_unique = aggregate_by_time(y, t)
    z, p, amplitude = matched_filter(y_mean, t_unique, frequency)
    return GINSEWResult(
        z=z,
        p_value=p,
        p_snr=lomb_scargle_snr(y_mean, t_unique, frequency),
        n=len(t_unique),
        amplitude=amplitude,
        n_observations=int(n_observations),
    )


# -- probe mode ---------------------------------------------------------------------------------
def _as_probe_list(probes) -> list[np.ndarray]:
    if isinstance(probes, np.ndarray) and probes.ndim == 2:
        probes = list(probes)
    elif type(probes).__module__.startswith("torch") and getattr(probes, "ndim", 0) == 2:
        probes = list(probes.cpu().numpy())
    if not isinstance(probes, Sequence) or isinstance(probes, (str, bytes)):
        raise TypeError("probes: expected a list of token id sequences or a 2-D array")
    if len(probes) == 0:
        raise ValueError("probes: need at least one probe")
    out = []
    for i, p in enumerate(probes):
        a = np.asarray(p.cpu().numpy() if hasattr(p, "cpu") else p)
        if a.ndim != 1 or (a.size and a.dtype.kind not in "iu"):
            raise TypeError(f"probes: probe {i} is not a 1-D sequence of integer token ids")
        if a.size == 0:
            raise ValueError(f"probes: probe {i} is empty")
        if a.min() < 0 or a.max() >= 2**31:
            raise ValueError(f"probes: probe {i} has token ids outside [0, 2^31)")
        out.append(a.astype(np.int64))
    return out


def _is_transformers_model(obj) -> bool:
    return hasattr(obj, "config") and hasattr(obj, "forward") and callable(obj)


def next_token_probs_fn(model_or_fn) -> Callable[[Any], np.ndarray]:
    """A function ``ids LongTensor [b, s] -> float64 ndarray [b, vocab]`` of next-token
    probabilities from a transformers causal LM or a user callable (checked)."""
    import torch

    if _is_transformers_model(model_or_fn):
        model = model_or_fn

        def fn(ids):
            device = next(model.parameters()).device
            with torch.no_grad():
                logits = model(input_ids=ids.to(device)).logits[:, -1, :]
            return torch.softmax(logits.double(), dim=-1).cpu().numpy()

        return fn
    if not callable(model_or_fn):
        raise TypeError("model_or_fn: expected a transformers causal LM or a callable")

    def checked(ids):
        out = model_or_fn(ids)
        if hasattr(out, "detach"):
            out = out.detach().double().cpu().numpy()
        out = np.asarray(out, dtype=np.float64)
        if out.ndim != 2 or out.shape[0] != ids.shape[0]:
            raise ValueError(
                f"model_or_fn: expected probabilities [{ids.shape[0]}, vocab], got {out.shape}"
            )
        if not np.isfinite(out).all() or (out < 0).any():
            raise ValueError("model_or_fn: returned values that are not probabilities")
        sums = out.sum(axis=1)
        if np.abs(sums - 1.0).max() > 1e-3:
            raise ValueError(
                "model_or_fn: rows must sum to 1 (probabilities, not logits or log-probs)"
            )
        return out

    return checked


def probe_group_masses(
    model_or_fn, probes: list[np.ndarray], g0_of: Callable[[int], np.ndarray], batch_size: int
) -> np.ndarray:
    """``y [n_probes]``: the suspect's G0 mass after each probe. Probes of one length share a
    batch (no padding, so no attention-mask or position subtleties); ``g0_of(vocab)`` gives the
    flags for the suspect's vocabulary width."""
    import torch

    batch_size = check_int(batch_size, "batch_size", 1, MAX_BATCH_SIZE)
    fn = next_token_probs_fn(model_or_fn)
    lengths = np.array([len(p) for p in probes])
    y = np.empty(len(probes), dtype=np.float64)
    for length in np.unique(lengths):
        idx = np.flatnonzero(lengths == length)
        for s in range(0, len(idx), batch_size):
            chunk = idx[s : s + batch_size]
            ids = torch.from_numpy(np.stack([probes[i] for i in chunk]))
            probs = fn(ids)
            g0 = g0_of(probs.shape[1])
            y[chunk] = probs[:, g0].sum(axis=1) / probs.sum(axis=1)
    return y


def probe_times(
    key_words, probes: list[np.ndarray], context_width: int, position: int | None
) -> np.ndarray:
    """The keyed time of each probe's context (its last ``context_width`` ids, or the id at
    ``position``); a probe too short for it is an error."""
    need = context_width if position is None else position + 1
    for i, p in enumerate(probes):
        if len(p) < need:
            raise ValueError(f"probes: probe {i} has {len(p)} ids; the time needs {need}")
    if position is None:
        win = np.stack([p[len(p) - context_width :] for p in probes])
    else:
        win = np.stack([p[position : position + 1] for p in probes])
    ctx = context_hash(win, SEEDING_PREV)
    return _ref.time_words(key_words, ctx).astype(np.float64) / _ref.TWO_32


def detect_model(
    model_or_fn,
    probes,
    *,
    key_words,
    fraction: float,
    frequency: float,
    context_width: int,
    position: int | None = None,
    batch_size: int = 64,
) -> GINSEWResult:
    """Probe mode: ``y`` = the suspect's G0 mass after each probe, against the probe's time."""
    probe_list = _as_probe_list(probes)
    t = probe_times(key_words, probe_list, context_width, position)
    cache: dict[int, np.ndarray] = {}

    def g0_of(vocab: int) -> np.ndarray:
        if vocab not in cache:
            cache[vocab] = _ref.group_flags(key_words, vocab, fraction)
        return cache[vocab]

    y = probe_group_masses(model_or_fn, probe_list, g0_of, batch_size)
    return finish(y, t, frequency, len(probe_list))


# -- text-only mode -----------------------------------------------------------------------------
def text_observations(
    tokens: np.ndarray,
    offsets: np.ndarray,
    prefix: np.ndarray | None,
    *,
    key_words,
    fraction: float,
    context_width: int,
    position: int | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """``(y, t)`` per scored token of ragged documents: ``y = 1[token in G0]`` and ``t`` the time
    of the context it was written after. Position ``i`` of a document is scored from
    ``max(context_width, prefix)`` on (``position`` mode: from ``max(position + 1, prefix)``)."""
    threshold = np.uint32(_ref.fraction_threshold(fraction))
    ys, ts = [], []
    for d in range(len(offsets) - 1):
        doc = tokens[int(offsets[d]) : int(offsets[d + 1])]
        first = context_width if position is None else position + 1
        start = max(first, int(prefix[d]) if prefix is not None else 0)
        if start >= len(doc):
            continue
        scored = doc[start:]
        if position is None:
            win = np.lib.stride_tricks.sliding_window_view(doc[:-1], context_width)
            ctx = context_hash(win[start - context_width :], SEEDING_PREV)
        else:
            ctx = np.full(len(scored), context_hash(doc[position : position + 1], SEEDING_PREV))
        ts.append(_ref.time_words(key_words, ctx).astype(np.float64) / _ref.TWO_32)
        words = prf_word(key_words, _ref.GROUP_CTX, scored, _ref.DOMAIN_GINSEW_GROUP)
        ys.append((words < threshold).astype(np.float64))
    if not ys:
        return np.empty(0), np.empty(0)
    return np.concatenate(ys), np.concatenate(ts)


def detect_text(
    tokens: np.ndarray,
    offsets: np.ndarray,
    prefix: np.ndarray | None,
    *,
    key_words,
    fraction: float,
    frequency: float,
    context_width: int,
    position: int | None = None,
) -> GINSEWResult:
    """Text-only mode over all documents together (one suspect, one result)."""
    y, t = text_observations(
        tokens,
        offsets,
        prefix,
        key_words=key_words,
        fraction=fraction,
        context_width=context_width,
        position=position,
    )
    return finish(y, t, frequency, len(y))
