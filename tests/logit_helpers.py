"""Host logits for the C++-against-reference tests: the dtypes and the cast to them (bfloat16 as
its uint16 bits, float16 overflowing to inf on purpose)."""

from __future__ import annotations

import numpy as np

DTYPES = ["float32", "float16", "bfloat16"]


def as_dtype(x: np.ndarray, dtype: str) -> np.ndarray:
    """float32 logits as ``dtype``: float16 (-3e38 becomes -inf), bfloat16 bits (truncated)."""
    if dtype == "float16":
        with np.errstate(over="ignore"):
            return x.astype(np.float16)
    if dtype == "bfloat16":
        return (x.view(np.uint32) >> 16).astype(np.uint16)
    return x
