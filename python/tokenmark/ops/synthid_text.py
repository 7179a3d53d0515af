"""SynthID-Text's g-values (a dialect): host backends only."""

from __future__ import annotations

import numpy as np

from ._common import ArrayLike, resolve


def synthid_text_g_values(
    hashes: ArrayLike, *, keys: ArrayLike, table: ArrayLike, backend: str = "auto"
) -> np.ndarray:
    """uint8 ``[n, depth]``: SynthID-Text's g-values of (context, token) hashes.

    ``hashes`` uint64 ``[n]`` (their ``accumulate_hash`` of the context, then the token),
    ``keys`` uint64 ``[depth]`` (their ``keys`` mod 2^64), ``table`` uint8 (their sampling table).

    Examples
    --------
    >>> import numpy as np, tokenmark as tm
    >>> tm.ops.synthid_text_g_values(np.array([1, 2], np.uint64), keys=np.array([5], np.uint64),
    ...                              table=np.array([0, 1], np.uint8)).shape
    (2, 1)
    """
    h = np.asarray(hashes)
    if h.dtype != np.uint64 or h.ndim != 1:
        raise ValueError("hashes: expected uint64 [n]")
    k = np.asarray(keys)
    if k.dtype != np.uint64 or k.ndim != 1 or not 1 <= k.shape[0] <= 1024:
        raise ValueError("keys: expected uint64 [depth], 1 <= depth <= 1024")  # secret: no values
    t = np.asarray(table)
    if t.dtype != np.uint8 or t.ndim != 1 or t.shape[0] < 1:
        raise ValueError("table: expected a non-empty uint8 [table_size]")
    name, fn = resolve("synthid_text_g_values", backend, False)
    return fn(np.ascontiguousarray(h), np.ascontiguousarray(k), np.ascontiguousarray(t))
