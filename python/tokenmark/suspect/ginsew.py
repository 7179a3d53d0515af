"""Was this model distilled from our GINSEW-watermarked model? The detector's statistics.

A student trained on the teacher's outputs inherits the teacher's sinusoid: the mass it puts on
the keyed group G0 rises and falls with ``cos(f t)``, ``t`` the keyed time of the context. We
read ``y`` (the suspect's G0 mass on probe contexts, or whether each token it wrote is in G0),
pair it with ``t``, average ``y`` over the probes that share a ``t`` (they are one draw of the
time), and test for the sinusoid at the known frequency and phase:

- the matched filter ``z = sum (y - mean y)(cos(f t) - m) / sqrt(v sum (y - mean y)^2)``, with
  ``m`` and ``v`` the mean and variance of ``cos(f t)`` for ``t`` uniform on [0, 1). Under the
  null (a model that never saw the key) the times are independent uniforms (they come from the
  keyed PRF) and independent of ``y`` *as long as the input the suspect read was not shaped by
  the time it is scored against*, so conditionally on ``y`` the numerator is a sum of independent
  centred terms of variance ``v (y - mean y)^2``: ``z`` is standard normal up to the CLT, and
  ``p = P[N(0, 1) >= z]`` (one-sided: the watermark only raises the correlation);
- that condition fails for text the watermarked teacher wrote (e.g. our served outputs used as
  probes or prompts): each token after a window was drawn with that window's time, and a clean
  model that copies from its context reproduces it. So, as in radioactivity, a probe whose time
  window already occurs earlier in it followed by a token is not scored (``skip_seen_windows``),
  nor, in text mode, a token whose window occurs in its prompt followed by a token
  (``skip_prompt_windows``). In ``prompt_position`` mode the window is the one id there, so only
  probes that end right after it (and prompts no longer than it) are scored. What remains is a
  second-order dependence between probes (one may show a window another is scored at);
  ``tests/suspect/test_ginsew_copy_null.py`` measures the level with a copying model;
- the Lomb-Scargle periodogram's ``P_snr`` (mean power in a window around ``f`` over the mean
  power elsewhere in the band), the statistic of the GINSEW paper and of DRW, for comparison.

This module takes plain arrays and key words; :class:`tokenmark.GINSEW` wraps it.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np

from .._validate import check_alpha, check_bool
from ..reference import ginsew as _ref
from ..reference.prf import SEEDING_PREV, context_hash, prf_word
from ._ginsew_probe import (  # noqa: F401 (re-exported: the probe-mode API)
    MAX_BATCH_SIZE,
    as_probe_list,
    next_token_probs_fn,
    probe_group_masses,
)
from .radioactivity import _window_hashes


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
    n_observations : scored probes (probe mode) or tokens (text mode) before averaging.
    n_seen_window : probes or tokens not scored because their time window occurs earlier in the
        probe, or in the prompt, followed by an id (the suspect could copy what followed it).
    """

    z: float
    p_value: float
    p_snr: float
    n: int
    amplitude: float
    n_observations: int
    n_seen_window: int = 0

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
            "n_seen_window": self.n_seen_window,
        }


def _one_minus_sinc(f: float) -> float:
    """``1 - sin(f) / f`` without cancellation at small ``f`` (series below 0.01)."""
    if abs(f) < 1e-2:
        f2 = f * f
        return f2 / 6.0 * (1.0 - f2 / 20.0 * (1.0 - f2 / 42.0))
    return 1.0 - math.sin(f) / f


def cos_moments(frequency: float) -> tuple[float, float]:
    """Mean and variance of ``cos(f t)`` for ``t`` uniform on [0, 1) (``f`` in radians).

    Below ``f = 0.1`` the variance ``1/2 + sin(2 f) / (4 f) - m^2`` cancels towards
    ``f^4 / 45``: its series is used there (relative error about 1e-11 or less on both sides)."""
    f = float(frequency)
    m = math.sin(f) / f
    if f < 0.1:
        f2 = f * f
        return m, f2 * f2 / 45.0 * (1.0 - f2 / 7.0 * (1.0 - f2 / 15.0 * (1.0 - f2 * 4.0 / 99.0)))
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
    _, v = cos_moments(frequency)
    # cos(f t) - m as (1 - m) - 2 sin^2(f t / 2): no cancellation when f t is small.
    cm = _one_minus_sinc(float(frequency)) - 2.0 * np.sin(0.5 * frequency * t) ** 2
    # A constant y (up to rounding: a model that ignores the context) carries no information.
    if float(np.ptp(y)) <= 1e-12 * max(1.0, float(np.abs(y).max())) or v <= 0.0:
        return 0.0, 1.0, 0.0
    yc = y - y.mean()
    ss = float(yc @ yc)
    if ss == 0.0:
        return 0.0, 1.0, 0.0
    z = float(yc @ cm) / math.sqrt(v * ss)
    cc = cm - cm.mean()
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
    is ``[f / 10, 3 f]``, widened to ``f + 2 half_window`` for a low ``f`` (below ``half_window``)
    so that it reaches beyond the window. Where the band's grid steps over the window (a high
    ``f``), the window is sampled on its own grid of ``n_freqs // 10`` points.
    """
    from scipy import signal

    y = np.asarray(y, dtype=np.float64)
    t = np.asarray(t, dtype=np.float64)
    f = float(frequency)
    if len(y) < 3 or float(np.ptp(y)) <= 1e-12 * max(1.0, float(np.abs(y).max())):
        return math.nan
    lo, hi = band if band is not None else (f / 10.0, max(3.0 * f, f + 2.0 * half_window))
    a, b = max(lo, f - half_window), min(hi, f + half_window)  # the window within the band
    if not (lo < a or b < hi) or a > b:
        raise ValueError("band: must extend beyond the window around the frequency")
    freqs = np.linspace(lo, hi, n_freqs)
    if not (np.abs(freqs - f) <= half_window).any():
        freqs = np.concatenate([freqs, np.linspace(a, b, max(n_freqs // 10, 1))])
    inside = np.abs(freqs - f) <= half_window
    if inside.all():
        raise ValueError("band: must extend beyond the window around the frequency")
    power = signal.lombscargle(t, y - y.mean(), freqs, normalize=True)
    noise = float(power[~inside].mean())
    return float(power[inside].mean()) / noise if noise > 0 else math.inf


def finish(y, t, frequency: float, n_observations: int, n_seen_window: int = 0) -> GINSEWResult:
    """Average ``y`` per distinct ``t`` and compute both statistics. Warns when the window rules
    left nothing to score (the result is then p = 1, which says nothing)."""
    if n_observations == 0 and n_seen_window > 0:
        warnings.warn(
            f"GINSEW: all {n_seen_window} probes or tokens were skipped by the seen-window rules "
            "(in prompt_position mode every token of a prompt shares one window); if the probes "
            "or prompts were not written by the watermarked model, pass skip_seen_windows=False "
            "(detect_model) or skip_prompt_windows=False (detect)",
            stacklevel=3,
        )
    y_mean, t_unique = aggregate_by_time(y, t)
    z, p, amplitude = matched_filter(y_mean, t_unique, frequency)
    return GINSEWResult(
        z=z,
        p_value=p,
        p_snr=lomb_scargle_snr(y_mean, t_unique, frequency),
        n=len(t_unique),
        amplitude=amplitude,
        n_observations=int(n_observations),
        n_seen_window=int(n_seen_window),
    )


# -- probe mode ---------------------------------------------------------------------------------
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


def followed_windows(seq: np.ndarray, context_width: int, position: int | None) -> np.ndarray:
    """Context hashes of the time windows in ``seq`` that an id of ``seq`` follows: the windows
    whose time shaped that id if the watermarked teacher wrote ``seq`` (a model reading ``seq``
    can copy it). ``position`` mode: the one id at ``position``, when an id follows it."""
    if position is None:
        return _window_hashes(seq, context_width, SEEDING_PREV)[:-1]
    if len(seq) > position + 1:
        return context_hash(seq[None, position : position + 1], SEEDING_PREV).astype(np.uint32)
    return np.zeros(0, dtype=np.uint32)


def seen_probes(probes: list[np.ndarray], context_width: int, position: int | None) -> np.ndarray:
    """``bool [n_probes]``: True where the probe's own time window is among its
    :func:`followed_windows` (such a probe is not scored)."""
    out = np.zeros(len(probes), dtype=bool)
    for i, p in enumerate(probes):
        if position is None:
            h = _window_hashes(p, context_width, SEEDING_PREV)
            out[i] = bool((h[:-1] == h[-1]).any())
        else:
            out[i] = len(p) > position + 1
    return out


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
    skip_seen_windows: bool = True,
) -> GINSEWResult:
    """Probe mode: ``y`` = the suspect's G0 mass after each probe, against the probe's time.
    Probes whose time window occurs earlier in them followed by an id are not scored unless
    ``skip_seen_windows`` is False (valid only for probes the watermarked teacher did not write)."""
    probe_list = as_probe_list(probes)
    t = probe_times(key_words, probe_list, context_width, position)
    n_seen = 0
    if check_bool(skip_seen_windows, "skip_seen_windows"):
        seen = seen_probes(probe_list, context_width, position)
        n_seen = int(seen.sum())
        probe_list = [p for p, s in zip(probe_list, seen) if not s]
        t = t[~seen]
    cache: dict[int, np.ndarray] = {}

    def g0_of(vocab: int) -> np.ndarray:
        if vocab not in cache:
            cache[vocab] = _ref.group_flags(key_words, vocab, fraction)
        return cache[vocab]

    y = probe_group_masses(model_or_fn, probe_list, g0_of, batch_size)
    return finish(y, t, frequency, len(probe_list), n_seen)


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
    skip_prompt_windows: bool = True,
) -> tuple[np.ndarray, np.ndarray]:
    """``(y, t)`` per scored token of ragged documents: ``y = 1[token in G0]`` and ``t`` the time
    of the context it was written after. Position ``i`` of a document is scored from
    ``max(context_width, prefix)`` on (``position`` mode: from ``max(position + 1, prefix)``),
    except (``skip_prompt_windows``) where its time window is one of the prompt's
    :func:`followed_windows` (the first ``prefix`` ids)."""
    skip = check_bool(skip_prompt_windows, "skip_prompt_windows")
    y, t, _ = _observations(
        tokens, offsets, prefix, key_words, fraction, context_width, position, skip
    )
    return y, t


def _observations(tokens, offsets, prefix, key_words, fraction, width, position, skip_prompt):
    """:func:`text_observations` and the number of tokens its prompt filter skipped."""
    threshold = np.uint32(_ref.fraction_threshold(fraction))
    ys, ts = [], []
    n_seen = 0
    for d in range(len(offsets) - 1):
        doc = tokens[int(offsets[d]) : int(offsets[d + 1])]
        first = width if position is None else position + 1
        n_prompt = min(int(prefix[d]), len(doc)) if prefix is not None else 0
        start = max(first, n_prompt)
        if start >= len(doc):
            continue
        scored = doc[start:]
        if position is None:
            win = np.lib.stride_tricks.sliding_window_view(doc[:-1], width)
            ctx = context_hash(win[start - width :], SEEDING_PREV)
        else:
            ctx = np.full(len(scored), context_hash(doc[position : position + 1], SEEDING_PREV))
        if skip_prompt and n_prompt:
            keep = ~np.isin(ctx, followed_windows(doc[:n_prompt], width, position))
            n_seen += int((~keep).sum())
            scored, ctx = scored[keep], ctx[keep]
        ts.append(_ref.time_words(key_words, ctx).astype(np.float64) / _ref.TWO_32)
        words = prf_word(key_words, _ref.GROUP_CTX, scored, _ref.DOMAIN_GINSEW_GROUP)
        ys.append((words < threshold).astype(np.float64))
    if not ys:
        return np.empty(0), np.empty(0), n_seen
    return np.concatenate(ys), np.concatenate(ts), n_seen


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
    skip_prompt_windows: bool = True,
) -> GINSEWResult:
    """Text-only mode over all documents together (one suspect, one result)."""
    skip = check_bool(skip_prompt_windows, "skip_prompt_windows")
    y, t, n_seen = _observations(
        tokens, offsets, prefix, key_words, fraction, context_width, position, skip
    )
    return finish(y, t, frequency, len(y), n_seen)
