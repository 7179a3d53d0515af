"""torch's CPU random permutations (MT19937, Fisher-Yates) for the KGW dialects' green lists:
host backends only."""

from __future__ import annotations

import numpy as np

from .._validate import check_int, host_array
from ..reference.torch_mt import RANDPERM_MAX_N
from ._common import ArrayLike, resolve_host


def _n(value, name: str, lo: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{name}: must be an int")
    if not lo <= int(value) < RANDPERM_MAX_N:
        raise ValueError(
            f"{name}: must be in [{lo}, {RANDPERM_MAX_N}) (torch's CPU randperm), got {value}"
        )
    return int(value)


def torch_cpu_randperm(seed: int, n: int, *, backend: str = "auto") -> np.ndarray:
    """``torch.randperm(n)`` after ``torch.Generator().manual_seed(seed)`` (low 32 bits), int64.

    Examples
    --------
    >>> import tokenmark as tm
    >>> tm.ops.torch_cpu_randperm(0, 5).tolist()
    [4, 0, 1, 3, 2]
    """
    seed = check_int(seed, "seed", -(2**63), 2**64 - 1)  # what torch's manual_seed takes
    n = _n(n, "n", 0)
    name, fn = resolve_host("torch_cpu_randperm", backend)
    return fn(seed & 0xFFFFFFFF, n)


def torch_cpu_green_lists(
    seeds: ArrayLike, *, vocab: int, green_size: int, backend: str = "auto"
) -> np.ndarray:
    """Per seed (low 32 bits used), ``randperm(vocab)[:green_size]`` on torch's CPU generator as a
    little-endian bitset: uint8 ``[n_seeds, ceil(vocab / 8)]``.

    Examples
    --------
    >>> import numpy as np, tokenmark as tm
    >>> tm.ops.torch_cpu_green_lists(np.array([0]), vocab=5, green_size=2).tolist()
    [[17]]
    """
    s = host_array(seeds, "seeds")
    if s.dtype.kind not in "iu" or s.ndim != 1:
        raise ValueError("seeds: expected integer seeds [n_seeds]")
    low = (s.astype(np.uint64) & np.uint64(0xFFFFFFFF)).astype(np.uint32)
    v = _n(vocab, "vocab", 1)
    g = green_size
    if isinstance(g, bool) or not isinstance(g, (int, np.integer)) or not 0 <= int(g) <= v:
        raise ValueError(f"green_size: must be an int in [0, vocab = {v}], got {g!r}")
    name, fn = resolve_host("torch_cpu_green_lists", backend)
    return fn(np.ascontiguousarray(low), v, int(g))
