"""SynthID-Text (Dathathri et al., Nature 2024) in numpy: the executable specification every
backend is tested against (``docs/prf.md``, "SynthID-Text"). Plain loops, written for clarity.
"""

from __future__ import annotations

import math

import numpy as np

from .gumbel import logits_f32
from .prf import DOMAIN_SYNTHID_G, context_hash, prf_word

NO_FINITE_LOGIT = -2
PHASE_BITS = 10  # layers run in phases of up to 10; a phase's histogram has 2^10 bins
UNIFORM_BITS = 53  # the draw uses floor(r * 2^53)


def fixed_shift(n: int) -> int:
    """Fixed-point scale of a row of ``n`` candidates: ``2^(62 - bitlen(n))``, so the fixed-point
    weights of the row (each at most its total, about ``n``) sum below ``2^63``."""
    return 62 - int(n).bit_length()


def to_fixed(w: np.ndarray, shift: int) -> np.ndarray:
    """``floor(w * 2^shift)`` as uint64 (``w >= 0``; the scaling is exact)."""
    return np.floor(np.ldexp(np.asarray(w, dtype=np.float64), shift)).astype(np.uint64)


def tree_sum(a: np.ndarray) -> float:
    """Sum of ``2^k`` float64 values by adjacent pairs, level by level (``a[0::2] + a[1::2]``)."""
    a = np.asarray(a, dtype=np.float64)
    while len(a) > 1:
        a = a[0::2] + a[1::2]
    return float(a[0])


def g_words(key_words, ctx: int, tokens: np.ndarray) -> np.ndarray:
    """PRF words in domain 2: bit ``l`` of ``word(t)`` is the g-value of layer ``l`` for ``t``."""
    return prf_word(key_words, ctx, np.asarray(tokens, dtype=np.uint32), DOMAIN_SYNTHID_G)


def candidates(x: np.ndarray, top_k: int) -> np.ndarray:
    """Token ids taking part, ascending: all, or the ``top_k`` largest logits (ties: lower id;
    NaN counts as -inf)."""
    ids = np.arange(len(x))
    if top_k <= 0 or top_k >= len(x):
        return ids
    key = np.where(np.isnan(x), -np.inf, x)
    order = np.lexsort((ids, -key))  # largest logit first, lower id first among equals
    return np.sort(order[:top_k])


EXP_CUTOFF = -700.0
LOG2E = 1.4426950408889634
LN2_HI = 6.93147180369123816490e-01  # 32 trailing zero bits: k * LN2_HI is exact
LN2_LO = 1.90821492927058770002e-10
EXP_TAYLOR = [1.0 / math.factorial(n) for n in range(14)]  # 1/0! .. 1/13!


def spec_exp(y: np.ndarray) -> np.ndarray:
    """``exp(y)`` for ``y <= 0`` as the spec defines it (so that every backend computes the same
    bits): ``k = rint(y log2 e)``, ``r = (y - k ln2_hi) - k ln2_lo``, the degree-13 Taylor
    polynomial of ``e^r`` in Horner form (one multiply and one add per step), times ``2^k``;
    0 below ``y = -700``."""
    y = np.asarray(y, dtype=np.float64)
    keep = y >= EXP_CUTOFF
    y = np.where(keep, y, 0.0)
    k = np.rint(y * LOG2E)
    r = (y - k * LN2_HI) - k * LN2_LO
    p = np.full_like(r, EXP_TAYLOR[13])
    for c in reversed(EXP_TAYLOR[:13]):
        p = p * r + c
    return np.where(keep, np.ldexp(p, k.astype(np.int64)), 0.0)


def base_weights(x: np.ndarray) -> np.ndarray:
    """Softmax weights ``spec_exp(x - max)`` in float64 over finite-or-+inf logits; 1 where
    ``x == max`` (also for +inf), 0 for -inf and NaN."""
    x = np.asarray(x, dtype=np.float64)
    ok = x > -np.inf
    m = x[ok].max()
    with np.errstate(invalid="ignore"):
        y = np.where(ok & (x != m), x - m, 0.0)
    return np.where(ok, np.where(x == m, 1.0, spec_exp(y)), 0.0)


def expected_g(s0: float, s1: float) -> float:
    """``E = S1 / (S0 + S1)``; 0 for an empty histogram (which a row never has, see the spec)."""
    total = s0 + s1
    return s1 / total if total > 0 else 0.0


def phase_factors(hist: np.ndarray) -> np.ndarray:
    """The weight factor of each bin of one phase: ``F[q] = prod_j c_j[bit j of q]``, layer 0
    of the phase first, with ``c_j = (1 - E_j, 2 - E_j)``.

    ``hist[q]`` (uint64, ``2^b`` bins) is the fixed-point weight of the tokens whose ``b``
    g-values of the phase are the bits of ``q``. ``E_j`` comes from the marginal ``a`` over the
    bits not yet played: even entries have ``g_j = 0``, odd ones ``g_j = 1``, and the next
    marginal is ``(1 - E) a[0::2] + (2 - E) a[1::2]``.
    """
    a = hist.astype(np.float64)
    q = np.arange(len(hist))
    f = np.ones(len(hist))
    j = 0
    while len(a) > 1:
        e = expected_g(tree_sum(a[0::2]), tree_sum(a[1::2]))
        c0, c1 = 1.0 - e, 2.0 - e
        a = c0 * a[0::2] + c1 * a[1::2]
        f = f * np.where((q >> j) & 1, c1, c0)
        j += 1
    return f


def tournament(w: np.ndarray, words: np.ndarray, layers: int) -> np.ndarray:
    """The 2-leaf tournament in closed form, ``w <- w * (1 + g_l - E_w[g_l])`` for layers
    ``0 .. layers-1``, run in phases of up to ``PHASE_BITS`` layers: the fixed-point weights are
    binned by the phase's g-values (an exact integer sum), the bins give the phase's factors,
    and every weight is multiplied by the factor of its bin."""
    w = np.array(w, dtype=np.float64)
    shift = fixed_shift(len(w))
    for start in range(0, layers, PHASE_BITS):
        bits = min(PHASE_BITS, layers - start)
        q = (np.asarray(words, dtype=np.uint32) >> np.uint32(start)) & np.uint32((1 << bits) - 1)
        q = q.astype(np.int64)
        hist = np.zeros(1 << bits, dtype=np.uint64)
        np.add.at(hist, q, to_fixed(w, shift))
        w = w * phase_factors(hist)[q]
    return w


def draw_target(total: int, r: float) -> int:
    """``floor(total * floor(r * 2^53) / 2^53)``: below ``total`` for ``r`` in [0, 1)."""
    return (int(total) * int(math.floor(math.ldexp(r, UNIFORM_BITS)))) >> UNIFORM_BITS


def inverse_cdf(w: np.ndarray, r: float) -> int:
    """Index of the first fixed-point running sum (exact, uint64) above the draw target."""
    cum = np.cumsum(to_fixed(w, fixed_shift(len(w))), dtype=np.uint64)
    target = draw_target(int(cum[-1]), r)
    return int(np.searchsorted(cum, np.uint64(target), side="right"))


def context_repeated(ids: np.ndarray, width: int, seeding: int, history: int) -> bool:
    """Whether the next position's context hash occurred at one of the previous ``history``
    positions ``j`` (``max(width, n - history) <= j < n``)."""
    n = len(ids)
    now = int(context_hash(ids[n - width :], seeding))
    lo = max(width, n - history)
    return any(int(context_hash(ids[j - width : j], seeding)) == now for j in range(lo, n))


def sample_synthid(
    logits: np.ndarray,
    input_ids: np.ndarray,
    keys: np.ndarray,
    uniforms: np.ndarray,
    enabled: np.ndarray | None,
    width: int,
    seeding: int,
    layers: int,
    top_k: int,
    history: int,
    dtype: str = "float32",
) -> tuple[np.ndarray, np.ndarray]:
    """Next token per row and whether it was watermarked: ``(tokens int64, marked uint8)``.

    Every row is sampled with its uniform ``uniforms[b]`` in [0, 1). Watermarked rows (enabled,
    at least ``width`` ids, context not repeated in the last ``history`` positions) first run the
    tournament on their candidates' weights; the others sample the candidates' softmax as is.
    """
    batch = logits.shape[0]
    keys = np.broadcast_to(np.asarray(keys, dtype=np.uint32).reshape(-1, 4), (batch, 4))
    ids = np.asarray(input_ids, dtype=np.int64)
    out = np.full(batch, NO_FINITE_LOGIT, dtype=np.int64)
    marked = np.zeros(batch, dtype=np.uint8)
    for b in range(batch):
        x = logits_f32(logits[b], dtype)
        cand = candidates(x, top_k)
        xc = x[cand]
        if not (xc > -np.inf).any():
            continue
        w = base_weights(xc)
        on = (enabled is None or bool(enabled[b])) and ids.shape[1] >= width
        if on and not context_repeated(ids[b], width, seeding, history):
            ctx = int(context_hash(ids[b, ids.shape[1] - width :], seeding))
            w = tournament(w, g_words(keys[b], ctx, cand), layers)
            marked[b] = 1
        out[b] = int(cand[inverse_cdf(w, float(uniforms[b]))])
    return out, marked


def score_synthid(
    tokens: np.ndarray,
    offsets: np.ndarray,
    prefix: np.ndarray | None,
    key_words,
    width: int,
    seeding: int,
    layers: int,
    dedup: bool,
    words_out: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(n_scored[d], ones[d, layers], counted[i])``: per document, the counted tokens and, per
    layer, how many of their g-values are 1. Scored positions and dedup as for KGW.
    ``words_out`` (uint32 [n_tokens], zeros), when given, gets each counted token's g-value word
    (bit l: layer l)."""
    tokens = np.asarray(tokens, dtype=np.int64)
    n_docs = len(offsets) - 1
    n_scored = np.zeros(n_docs, dtype=np.int64)
    ones = np.zeros((n_docs, layers), dtype=np.int64)
    counted = np.zeros(len(tokens), dtype=np.uint8)
    bits = np.arange(layers, dtype=np.uint32)
    for d in range(n_docs):
        lo, hi = int(offsets[d]), int(offsets[d + 1])
        start = min(hi, lo + max(width, int(prefix[d]) if prefix is not None else 0))
        seen: set[tuple[int, int]] = set()
        for i in range(start, hi):
            ctx = int(context_hash(tokens[i - width : i], seeding))
            pair = (ctx, int(tokens[i]))
            if dedup and pair in seen:
                continue
            seen.add(pair)
            word = g_words(key_words, ctx, tokens[i : i + 1])[0]
            ones[d] += (word >> bits) & np.uint32(1)
            if words_out is not None:
                words_out[i] = word
            counted[i] = 1
            n_scored[d] += 1
    return n_scored, ones, counted
