"""First occurrences of integer rows (n-grams, contexts), exactly and without a row sort."""

from __future__ import annotations

import numpy as np

_MIX = np.uint64(0x9E3779B97F4A7C15)  # golden-ratio odd constant (splitmix64's increment)


def _hash_rows(rows: np.ndarray) -> np.ndarray:
    h = np.full(len(rows), 0x243F6A8885A308D3, dtype=np.uint64)
    with np.errstate(over="ignore"):
        for col in rows.T:
            h = (h ^ col.astype(np.int64).view(np.uint64)) * _MIX
            h ^= h >> np.uint64(29)
    return h


def first_occurrence(rows: np.ndarray) -> np.ndarray:
    """bool ``[n]``: row ``i`` of ``rows [n, k]`` (int) equals no earlier row.

    Rows are grouped by a 64-bit hash (one stable 1-D sort, far faster than numpy's row-wise
    unique); neighbours with equal hashes are then compared in full, and should two different
    rows ever share a hash, the exact row-wise ``np.unique`` decides instead.
    """
    n = len(rows)
    first = np.ones(n, dtype=bool)
    if n < 2:
        return first
    h = _hash_rows(rows)
    order = np.argsort(h, kind="stable")  # equal rows keep their input order
    same = h[order[1:]] == h[order[:-1]]
    if not same.any():
        return first
    a, b = order[1:][same], order[:-1][same]
    if not (rows[a] == rows[b]).all():  # a hash collision: settle it exactly
        first[:] = False
        first[np.unique(rows, axis=0, return_index=True)[1]] = True
        return first
    first[a] = False
    return first


def distinct_small_ints(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(uniq, inverse)`` of non-negative integers as ``np.unique(values, return_inverse=True)``
    gives them (``uniq`` sorted, ``values == uniq[inverse]``), through a presence table over
    ``[0, max]`` when that is no larger than a few times ``len(values)`` (token ids: a linear
    pass instead of a sort); a sort otherwise."""
    values = np.asarray(values, dtype=np.int64)
    if not values.size:
        return values.copy(), np.zeros(0, dtype=np.int64)
    top = int(values.max())
    if values.min() < 0 or top >= 4 * values.size + 65536:
        uniq, inverse = np.unique(values, return_inverse=True)
        return uniq, inverse.reshape(-1)
    present = np.zeros(top + 1, dtype=bool)
    present[values] = True
    uniq = np.flatnonzero(present)
    index = np.empty(top + 1, dtype=np.int64)
    index[uniq] = np.arange(len(uniq))
    return uniq, index[values]
