"""SynthID-Text's g-values (transformers' ``SynthIDTextWatermarkLogitsProcessor``, Google
DeepMind's ``synthid-text`` 0.2.1), the numpy spec of the dialect's hash (``csrc/cpu/
synthid_text_g.cpp`` states it in C++). Frozen by them, not by tokenmark.

``accumulate(h, x) = (h + x) * 6364136223846793005 + 1`` (int64 arithmetic wrapping, as torch's);
``g[i, l] = table[accumulate(h_i, keys[l]) mod table_size]`` (floor modulo of the int64), with
``h_i`` the hash of a position's context and token.
"""

from __future__ import annotations

import numpy as np

LCG_MULTIPLIER = 6364136223846793005  # their accumulate_hash constants (newlib / musl LCG)
LCG_INCREMENT = 1


def accumulate(h: np.ndarray, x) -> np.ndarray:
    with np.errstate(over="ignore"):
        return (h + np.asarray(x).astype(np.uint64)) * np.uint64(LCG_MULTIPLIER) + np.uint64(
            LCG_INCREMENT
        )


def g_values(hashes, keys, table) -> np.ndarray:
    """uint8 ``[n, depth]``: the g-values of (context, token) ``hashes [n]`` (uint64) under
    ``keys [depth]`` (uint64) and ``table`` (uint8)."""
    hk = accumulate(np.asarray(hashes, dtype=np.uint64)[:, None],
                    np.asarray(keys, dtype=np.uint64)[None, :])  # fmt: skip
    table = np.asarray(table, dtype=np.uint8)
    size = len(table)
    if size & (size - 1) == 0:  # a power of 2: the floor modulo is the low bits
        idx = (hk & np.uint64(size - 1)).view(np.int64)
    else:
        idx = np.mod(hk.view(np.int64), size)  # floor modulo, as torch's %
    return table[idx]
