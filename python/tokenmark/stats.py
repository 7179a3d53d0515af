"""Detection statistics: exact binomial tails for green counts, and the windowed maximum.

scipy is imported inside the functions that use it, here and in every module that
``import tokenmark`` loads: importing ``scipy.stats`` takes longer than the rest of the package
(tests/cli/test_fast_start.py checks that ``import tokenmark`` loads no scipy)."""

from __future__ import annotations

import numpy as np


def binomial_z(n_green: np.ndarray, n: np.ndarray, p: float) -> np.ndarray:
    """z-score of green counts against Binomial(n, p); 0 where n == 0."""
    n = np.asarray(n, dtype=np.float64)
    k = np.asarray(n_green, dtype=np.float64)
    if np.ndim(p) == 0 and 0 < p < 1:  # no zero denominator once n >= 1: no errstate needed
        return np.where(n > 0, (k - n * p) / np.sqrt(np.maximum(n, 1.0) * p * (1.0 - p)), 0.0)
    denom = np.sqrt(n * p * (1.0 - p))
    with np.errstate(divide="ignore", invalid="ignore"):
        z = (k - n * p) / denom
    return np.where(n > 0, z, 0.0)


def binomial_pvalue(n_green: np.ndarray, n: np.ndarray, p: float) -> np.ndarray:
    """Exact one-sided p-value P[X >= n_green] for X ~ Binomial(n, p); 1 where n == 0.

    The value ``scipy.stats.binom.sf(n_green - 1, n, p)`` returns (see :func:`binomial_sf`),
    without scipy.stats' per-call argument handling (~100 us, most of a small batch's time).

    >>> binomial_pvalue(np.array([0, 3, 2]), np.array([4, 4, 0]), 0.5).tolist()
    [1.0, 0.3125, 1.0]
    """
    k = np.asarray(n_green)
    n = np.asarray(n, dtype=np.int64)
    x = k - 1 if k.dtype.kind in "iu" else np.asarray(k, dtype=np.float64) - 1.0
    return np.where(n > 0, binomial_sf(x, n, p), 1.0)


def binomial_sf(x: np.ndarray, n: np.ndarray, p: float) -> np.ndarray:
    """P[X > x] for X ~ Binomial(n, p): ``scipy.stats.binom.sf(x, n, p)`` computed as scipy does
    it, without scipy.stats' per-call argument handling. scipy evaluates the tail inside the
    support (``0 <= floor(x) < n``) as Boost's ``binom_sf``, that is the regularised incomplete
    beta ``I_p(floor(x) + 1, n - floor(x))``, which ``scipy.special.betainc`` (Boost's ``ibeta``)
    returns; below the support the tail is 1, above it 0, and NaN for an invalid ``n`` or ``p``
    (tests/spec/test_binomial_tail.py checks every value identical to ``stats.binom.sf``).

    >>> binomial_sf(np.array([-1, 0, 3, 4]), 4, 0.5).tolist()
    [1.0, 0.9375, 0.0625, 0.0]
    """
    from scipy import special  # not scipy.stats: its import and its per-call checks are slow

    x, n, p = np.asarray(x), np.asarray(n), np.asarray(p, dtype=np.float64)
    ints = x.dtype.kind in "iu" and n.dtype.kind in "iu"  # then no floor, no NaN, no fraction
    xf = x.astype(np.float64) if ints else np.floor(x.astype(np.float64))
    nf = n.astype(np.float64)
    inside = (xf >= 0) & (xf < nf)
    tail = special.betainc(np.where(inside, xf + 1.0, 1.0), np.where(inside, nf - xf, 1.0), p)
    out = np.where(inside, tail, xf < 0)  # outside the support: 1 below it, 0 above
    if ints and p.ndim == 0 and 0 <= p <= 1 and (n.size == 0 or n.min() >= 0):
        return out  # every argument valid: no NaN to place
    valid = (nf >= 0) & (nf == np.floor(nf)) & (p >= 0) & (p <= 1) & ~np.isnan(xf)
    return np.where(valid, out, np.nan)


def windowed_max(
    counted_green: np.ndarray, offsets_counted: np.ndarray, window: int, p: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Most-green window of ``window`` consecutive counted tokens in each document.

    ``counted_green`` holds the 0/1 green flags of the counted tokens of all documents, flat,
    with document ``d`` at ``offsets_counted[d]:offsets_counted[d+1]``. A document shorter than
    the window is one window of its own length.

    Returns ``(start, n_green, p_value)`` per document: the window's first counted index within
    the document (the first best one on ties), its green count, and a Bonferroni-corrected
    p-value ``min(1, n_windows * P[Binomial(window, p) >= n_green])``. The correction is valid
    for any dependence between overlapping windows (and conservative because of it).

    >>> start, best, pv = windowed_max(np.array([0, 1, 1, 0, 1]), np.array([0, 3, 5]), 2, 0.5)
    >>> start.tolist(), best.tolist()
    ([1, 0], [2, 1])
    """
    start, best, w, n_windows = best_windows(counted_green, offsets_counted, window)
    return start, best, window_pvalue(n_windows, binomial_sf(best - 1, w, p))


def window_pvalue(n_windows: np.ndarray, tail: np.ndarray) -> np.ndarray:
    """Bonferroni over a document's windows: ``min(1, n_windows * tail)``, 1 without a window."""
    return np.where(n_windows > 0, np.minimum(1.0, n_windows * tail), 1.0)


def popcount32(words: np.ndarray) -> np.ndarray:
    """Set bits of each uint32 (numpy's ``bitwise_count`` where it has one, from numpy 2.0)."""
    words = np.asarray(words, dtype=np.uint32)
    if hasattr(np, "bitwise_count"):
        return np.bitwise_count(words).astype(np.int64)
    return (_bits16()[words & 0xFFFF] + _bits16()[words >> 16]).astype(np.int64)


_BITS16: list[np.ndarray] = []


def _bits16() -> np.ndarray:
    if not _BITS16:
        b = np.zeros(1 << 16, dtype=np.uint8)
        for k in range(16):
            b[1 << k : 1 << (k + 1)] = b[: 1 << k] + 1
        _BITS16.append(b)
    return _BITS16[0]


def check_window(window) -> int:
    if isinstance(window, (bool, np.bool_)) or not isinstance(window, (int, np.integer)):
        raise TypeError(f"window: expected an int, got {type(window).__name__}")
    if not 1 <= window <= 2**62:
        raise ValueError(f"window: must be in [1, 2^62], got {window}")
    return int(window)


def best_windows(
    values: np.ndarray, offsets: np.ndarray, window: int, backend: str = "auto"
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The window of ``window`` consecutive values with the largest sum in each document.

    ``values`` (integers or floats) hold the per-token terms of all documents, flat, document
    ``d`` at ``offsets[d]:offsets[d+1]``; a document shorter than the window is one window of
    its own length. Returns ``(start, best, w, n_windows)`` per document: the best window's first
    index within the document (the first on ties), its sum (a float window's summed again from
    its values, not as a difference of running sums), its length and the number of windows.

    ``backend``: ``"auto"``/``"cpu"``, C++ (``_C.best_windows``: one pass per document, threads
    over documents); ``"reference"``, numpy, vectorised over documents (every window of every
    document one entry of a flat array, in chunks of whole documents to bound the memory).
    Integer values give the same result on both; float windows compare sums formed as
    differences of running totals (per document in C++, over the batch in numpy), so where two
    windows' sums agree to rounding the two may choose differently.
    """
    window = check_window(window)
    values = np.asarray(values)
    exact = values.dtype.kind in "biu"
    values = np.ascontiguousarray(values, dtype=np.int64 if exact else np.float64)
    offsets = np.ascontiguousarray(offsets, dtype=np.int64)
    if backend in ("auto", "cpu"):
        from . import _C

        start, best, w, n_windows = _C.best_windows(values, offsets, window)
        return start, best, w, n_windows
    if backend != "reference":
        raise ValueError(f"backend: expected 'auto', 'cpu' or 'reference', got {backend!r}")
    n_docs = len(offsets) - 1
    lengths = np.diff(offsets)
    cs = np.zeros(len(values) + 1, dtype=values.dtype)
    np.cumsum(values, out=cs[1:])
    w = np.minimum(lengths, window)
    n_windows = np.where(lengths > 0, lengths - w + 1, 0)
    start = np.zeros(n_docs, dtype=np.int64)
    best = np.zeros(n_docs, dtype=values.dtype)
    # Chunks of whole documents of about _WINDOW_CHUNK windows (at least one document each).
    cw = np.cumsum(n_windows)
    lo = 0
    while lo < n_docs:
        done = cw[lo - 1] if lo else 0
        hi = max(int(np.searchsorted(cw, done + _WINDOW_CHUNK, side="right")), lo + 1)
        _windows_of(cs, offsets[lo:hi], w[lo:hi], n_windows[lo:hi], start[lo:hi], best[lo:hi])
        lo = hi
    if not exact and n_windows.any():  # the chosen windows' sums, from their own values
        has = np.flatnonzero(n_windows)
        lens = w[has]
        begins = np.cumsum(lens) - lens  # each window's first slot among the gathered values
        idx = np.repeat(offsets[has] + start[has] - begins, lens) + np.arange(int(lens.sum()))
        best[has] = np.add.reduceat(values[idx], begins)
    return start, best, w, n_windows


def windows_over_counted(values, counted, offsets, window):
    """:func:`best_windows` over each document's counted tokens (``counted``: a flag per token,
    ``values``: a term per token, read where counted), with each window's start mapped back to
    its token position in the document (0 where nothing was counted)."""
    sel = np.asarray(counted).astype(bool)
    offsets = np.asarray(offsets, dtype=np.int64)
    counted_offsets = np.concatenate([[0], np.cumsum(sel, dtype=np.int64)])[offsets]
    start_c, best, w, n_windows = best_windows(np.asarray(values)[sel], counted_offsets, window)
    positions = np.flatnonzero(sel)
    has = counted_offsets[1:] > counted_offsets[:-1]
    idx = np.minimum(counted_offsets[:-1] + start_c, max(len(positions) - 1, 0))
    start = np.where(has, positions[idx] - offsets[:-1] if len(positions) else 0, 0)
    return start, best, w, n_windows


_WINDOW_CHUNK = 1 << 22


def _windows_of(cs, doc_starts, w, n_windows, start_out, best_out) -> None:
    """The best window of each document of a chunk, written into ``start_out``/``best_out``."""
    docs = np.flatnonzero(n_windows)
    if not docs.size:
        return
    nw = n_windows[docs]
    first = np.zeros(len(docs), dtype=np.int64)
    np.cumsum(nw[:-1], out=first[1:])
    owner = np.repeat(np.arange(len(docs)), nw)  # window -> its document (within `docs`)
    j = np.arange(int(nw.sum()), dtype=np.int64) - first[owner]  # window index in its document
    a = doc_starts[docs][owner] + j
    sums = cs[a + w[docs][owner]] - cs[a]
    top = np.maximum.reduceat(sums, first)
    # The first window reaching its document's maximum (np.argmax's tie rule).
    hit = np.flatnonzero(sums == top[owner])
    first_hit = hit[np.searchsorted(owner[hit], np.arange(len(docs)))]
    start_out[docs] = j[first_hit]
    best_out[docs] = top


def gamma_pvalue(score: np.ndarray, n: np.ndarray) -> np.ndarray:
    """Exact one-sided p-value P[X >= score] for X ~ Gamma(n, 1) (a sum of n Exp(1)); 1 where
    n == 0. Computed as the regularised upper incomplete gamma Q(n, score), the value
    ``scipy.stats.gamma.sf`` returns, without its per-call argument handling (~25 us, most of
    a small batch's time); negative scores lie below the support, where the tail is 1."""
    from scipy import special

    score = np.asarray(score, dtype=np.float64)
    n = np.asarray(n, dtype=np.int64)
    if n.size and n.min() > 0 and score.min() >= 0:  # the usual batch: no clamp or where to do
        return special.gammaincc(n, score)
    return np.where(n > 0, special.gammaincc(np.maximum(n, 1), np.maximum(score, 0.0)), 1.0)


def synthid_weights(layers: int) -> np.ndarray:
    """Default layer weights of the weighted-mean SynthID score: linear from 10 (layer 0) down
    to 1 (the last layer), as in Dathathri et al. (2024): later layers carry less signal."""
    return np.linspace(10.0, 1.0, layers) if layers > 1 else np.ones(1)


def weighted_mean_z(ones: np.ndarray, n: np.ndarray, weights: np.ndarray) -> tuple:
    """Weighted-mean g score ``sum_l w_l ones_l / (n sum_l w_l)`` per document, its z-score and
    one-sided normal p-value. Under the null every g-value is an independent fair coin, so the
    score has mean 1/2 and variance ``sum w^2 / (4 n (sum w)^2)``; the normal tail is an
    approximation (good from a few tens of tokens), unlike the exact binomial of the plain mean.
    Documents with n == 0 get score NaN, z 0, p 1."""
    from scipy import special

    w = np.asarray(weights, dtype=np.float64)
    w = w / w.max()  # the score does not depend on the scale; huge weights would overflow
    n = np.asarray(n, dtype=np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        score = (ones @ w) / (n * w.sum())
        sd = np.sqrt((w**2).sum() / (4.0 * n)) / w.sum()
        z = np.where(n > 0, (score - 0.5) / sd, 0.0)
    return np.where(n > 0, score, np.nan), z, np.where(n > 0, special.ndtr(-z), 1.0)  # norm.sf
