"""GINSEW in numpy: the executable specification every backend is tested against.

Zhao, Li, Wang, "Protecting Language Generation Models via Invisible Watermarking" (ICML 2023),
on the tokenmark PRF (``docs/prf.md`` section 8). A keyed split of the vocabulary into G0 and G1
and a keyed time ``t`` of each row's context; the row's softmax mass moves between the two groups
by a sinusoid of ``t``:

    Q0' = (Q0 + eps (1 + cos(f t))) / (1 + 2 eps),   Q1' = (Q1 + eps (1 - cos(f t))) / (1 + 2 eps)

every token rescaled within its group. The output is the perturbed distribution as
log-probabilities. Written for clarity, in float64, one row at a time.
"""

from __future__ import annotations

import math

import numpy as np

from .prf import SEEDING_PREV, context_hash, prf_word

# Frozen PRF domains (docs/prf.md section 8).
DOMAIN_GINSEW_GROUP = 4
DOMAIN_GINSEW_TIME = 5
# The group split does not depend on the context: one fixed split per key.
GROUP_CTX = 0
# The time's PRF input: token 0 under the row's context hash.
TIME_TOKEN = 0

TWO_32 = 2.0**32


def fraction_threshold(fraction: float) -> int:
    """floor(fraction * 2^32), clamped to [1, 2^32 - 1]: a token is in G0 when its word is below."""
    return min(max(int(math.floor(float(fraction) * TWO_32)), 1), 2**32 - 1)


def group_flags(key_words, vocab_size: int, fraction: float) -> np.ndarray:
    """``bool [vocab_size]``: True where the token is in G0 (a ``fraction`` share, keyed)."""
    vocab = np.arange(int(vocab_size), dtype=np.uint32)
    words = prf_word(key_words, GROUP_CTX, vocab, DOMAIN_GINSEW_GROUP)
    return words < np.uint32(fraction_threshold(fraction))


def time_words(key_words, ctx) -> np.ndarray:
    """The 32-bit time words of context hashes ``ctx`` (broadcasting)."""
    return prf_word(key_words, ctx, TIME_TOKEN, DOMAIN_GINSEW_TIME)


def windows(input_ids, context_width: int, position: int | None = None):
    """``(window [batch, w], valid [batch])``: the ids each row's time is hashed from.

    ``position=None``: the last ``context_width`` ids (valid when the row has that many).
    ``position=p >= 0``: the single id at position ``p`` (the official code's prompt token; valid
    when the row has more than ``p`` ids).
    """
    ids = np.asarray(input_ids)
    if ids.ndim != 2:
        raise ValueError(f"input_ids: expected [batch, length], got shape {ids.shape}")
    batch, length = ids.shape
    if position is None:
        w = int(context_width)
        if length < w:
            return np.zeros((batch, w), dtype=np.int64), np.zeros(batch, dtype=bool)
        return ids[:, length - w :].astype(np.int64), np.ones(batch, dtype=bool)
    p = int(position)
    if length <= p:
        return np.zeros((batch, 1), dtype=np.int64), np.zeros(batch, dtype=bool)
    return ids[:, p : p + 1].astype(np.int64), np.ones(batch, dtype=bool)


def times(key_words, input_ids, context_width: int, position: int | None = None) -> np.ndarray:
    """``float64 [batch]``: each row's keyed time ``t = word / 2^32`` in [0, 1) (exact).

    The word is ``PRF(key, ctx, 0, 5)`` with ``ctx`` the ``prev`` context hash of the row's window
    (see :func:`windows`). Rows without a full window get NaN (they are not perturbed).
    """
    win, valid = windows(input_ids, context_width, position)
    ctx = context_hash(win, SEEDING_PREV)
    t = time_words(key_words, ctx).astype(np.float64) / TWO_32
    return np.where(valid, t, np.nan)


def perturb_row(x: np.ndarray, g0: np.ndarray, epsilon: float, frequency: float, t: float):
    """Log-probabilities (float64) of one row ``x`` (float64 logits) under the perturbation.

    Only finite entries take part; the others keep their value (-inf: probability 0; NaN and
    +inf are left as they are), and a row without a finite entry is returned as it is.
    ``t = NaN`` means no time (the row is only normalised). A group without a finite logit has
    mass exactly 0 and cannot receive any: the row is then only normalised too. Each group is
    normalised around its own maximum, so a group whose mass underflows (relative to the other)
    is still perturbed exactly: its in-group distribution never passes through a tiny number.
    """
    finite = np.isfinite(x)
    out = x.copy()  # non-finite entries keep their value: -inf stays -inf, NaN stays NaN
    log_mass = []
    for mask in (g0 & finite, ~g0 & finite):
        if mask.any():
            m = x[mask].max()
            log_mass.append(m + math.log(np.exp(x[mask] - m).sum()))
        else:
            log_mass.append(-math.inf)
    l0, l1 = log_mass
    if l0 == -math.inf and l1 == -math.inf:
        return out  # no finite logit: nothing to normalise
    if math.isnan(t) or l0 == -math.inf or l1 == -math.inf or epsilon == 0.0:
        out[finite] = x[finite] - np.logaddexp(l0, l1)
        return out
    for mask, lm, lq in zip(
        (g0 & finite, ~g0 & finite), (l0, l1), log_targets(l1 - l0, epsilon, frequency, t)
    ):
        out[mask] = (x[mask] - lm) + lq
    return out


def log_targets(d: float, epsilon: float, frequency: float, t: float) -> tuple[float, float]:
    """``(log Q0', log Q1')`` from ``d = log(mass of G1) - log(mass of G0)`` (float64).

    ``log Q0 = -softplus(d)`` and ``log Q1 = -softplus(-d)`` (so Q0 + Q1 = 1 without
    cancellation), then ``log Q' = logaddexp(log Q, log(eps (1 +- cos(f t)))) - log1p(2 eps)``.
    No guard constant: a group of tiny mass gets exactly its share.
    """
    c = math.cos(frequency * t)
    log_scale = math.log1p(2.0 * epsilon)
    out = []
    for log_q, a in (
        (-np.logaddexp(0.0, d), epsilon * (1.0 + c)),
        (-np.logaddexp(0.0, -d), epsilon * (1.0 - c)),
    ):
        log_a = math.log(a) if a > 0.0 else -math.inf
        out.append(float(np.logaddexp(log_q, log_a)) - log_scale)
    return out[0], out[1]


def to_float64(row: np.ndarray, dtype: str) -> np.ndarray:
    """A row of float32/float16 values, or bfloat16 bit patterns (``dtype == "bfloat16"``)."""
    if dtype == "bfloat16":
        bits = np.asarray(row).view(np.uint16).astype(np.uint32) << np.uint32(16)
        return bits.view(np.float32).astype(np.float64)
    return np.asarray(row).astype(np.float64)


def apply_ginsew(
    logits,
    input_ids,
    key_words,
    epsilon,
    frequency,
    context_width: int,
    fraction,
    *,
    enabled=None,
    position: int | None = None,
    dtype: str = "float32",
) -> np.ndarray:
    """Return the perturbed log-probabilities ``float32 [batch, vocab]`` (input not modified).

    ``key_words`` ``[4]`` or ``[batch, 4]``; ``epsilon``, ``frequency``, ``fraction`` scalars or
    ``[batch]``. Disabled rows and rows without a time window are normalised
    (``log_softmax``) without perturbation. ``dtype="bfloat16"`` reads ``logits`` as bit patterns.
    """
    arr = np.asarray(logits)
    if arr.ndim != 2:
        raise ValueError(f"logits: expected [batch, vocab], got shape {arr.shape}")
    batch, vocab = arr.shape
    keys = np.broadcast_to(np.asarray(key_words, dtype=np.uint32).reshape(-1, 4), (batch, 4))
    eps = np.broadcast_to(np.asarray(epsilon, dtype=np.float64).reshape(-1), (batch,))
    freq = np.broadcast_to(np.asarray(frequency, dtype=np.float64).reshape(-1), (batch,))
    frac = np.broadcast_to(np.asarray(fraction, dtype=np.float64).reshape(-1), (batch,))
    ids = np.asarray(input_ids)
    out = np.empty((batch, vocab), dtype=np.float32)
    flags_cache: dict[tuple, np.ndarray] = {}
    for b in range(batch):
        cache_key = (keys[b].tobytes(), float(frac[b]))
        if cache_key not in flags_cache:
            flags_cache[cache_key] = group_flags(keys[b], vocab, frac[b])
        g0 = flags_cache[cache_key]
        t = math.nan
        if enabled is None or enabled[b]:
            t = float(times(keys[b], ids[b : b + 1], context_width, position)[0])
        x = to_float64(arr[b], dtype)
        with np.errstate(over="ignore", under="ignore", invalid="ignore"):
            out[b] = perturb_row(x, g0, float(eps[b]), float(freq[b]), t).astype(np.float32)
    return out
