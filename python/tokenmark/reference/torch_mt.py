"""torch's CPU random permutations, re-stated in numpy: the spec the C++ green lists follow.

``torch.Generator("cpu").manual_seed(s)`` seeds an MT19937 (Matsumoto and Nishimura, 1998) with
``init_genrand(s mod 2^32)``: only the seed's low 32 bits matter. ``torch.randperm(n,
generator=g)`` on the CPU (for ``n < (2^32 - 1) / 20``) starts from ``0..n-1`` and swaps, for
``i = 0..n-2``, entry ``i`` with entry ``i + (r_i mod (n - i))``, ``r_i`` the generator's i-th
32-bit output (a Fisher-Yates shuffle). After step ``i`` entry ``i`` never moves again, so the
first ``k`` entries of the permutation (a KGW green list) need only the first ``k`` steps.

numpy's ``RandomState(s)`` uses the same ``init_genrand`` and the same MT19937, so its raw words
are torch's; ``tests/dialects/test_torch_mt.py`` checks both functions against torch itself.
"""

from __future__ import annotations

import numpy as np

#: torch.randperm switches to another algorithm from this n on (``UINT32_MAX / 20``).
RANDPERM_MAX_N = (2**32 - 1) // 20


def mt19937_words(seed: int, count: int) -> np.ndarray:
    """The first ``count`` 32-bit outputs of torch's CPU generator after ``manual_seed(seed)``.

    >>> mt19937_words(5489, 1).tolist()  # MT19937's reference first output for seed 5489
    [3499211612]
    """
    legacy = np.random.RandomState(int(seed) & 0xFFFFFFFF).get_state()
    gen = np.random.MT19937()
    gen.state = {"bit_generator": "MT19937", "state": {"key": legacy[1], "pos": legacy[2]}}
    return gen.random_raw(int(count)).astype(np.uint64)


def _check_n(n: int) -> int:
    n = int(n)
    if not 0 <= n < RANDPERM_MAX_N:
        raise ValueError(f"n: must be in [0, {RANDPERM_MAX_N}) (torch's CPU randperm), got {n}")
    return n


def randperm(seed: int, n: int) -> np.ndarray:
    """``torch.randperm(n, generator=torch.Generator().manual_seed(seed))`` as int64."""
    n = _check_n(n)
    perm = np.arange(n, dtype=np.int64)
    if n < 2:
        return perm
    steps = n - np.arange(n - 1, dtype=np.uint64)
    jump = (mt19937_words(seed, n - 1) % steps).astype(np.int64)
    p = perm.tolist()  # Python lists swap faster than numpy scalars
    for i, z in enumerate(jump.tolist()):
        j = i + z
        p[i], p[j] = p[j], p[i]
    return np.array(p, dtype=np.int64)


def randperm_head(seed: int, n: int, k: int) -> np.ndarray:
    """The first ``k`` entries of :func:`randperm` (``seed``, ``n``), from ``k`` steps only."""
    n = _check_n(n)
    k = min(int(k), n)
    if k <= 0:
        return np.zeros(0, dtype=np.int64)
    steps = min(k, n - 1)
    jump = (mt19937_words(seed, steps) % (n - np.arange(steps, dtype=np.uint64))).astype(np.int64)
    moved: dict[int, int] = {}  # entries that differ from the identity
    head = []
    for i, z in enumerate(jump.tolist()):
        j = i + z
        vi, vj = moved.get(i, i), moved.get(j, j)
        moved[j] = vi
        head.append(vj)
    if len(head) < k:  # n - 1 steps done: the last entry is whatever is left there
        head.append(moved.get(n - 1, n - 1))
    return np.array(head, dtype=np.int64)


def green_bits(seed: int, vocab: int, green_size: int) -> np.ndarray:
    """The green list ``randperm(vocab)[:green_size]`` as a little-endian bitset of
    ``ceil(vocab / 8)`` bytes (bit ``t % 8`` of byte ``t // 8`` set when token ``t`` is green)."""
    mask = np.zeros(vocab, dtype=bool)
    mask[randperm_head(seed, vocab, green_size)] = True
    return np.packbits(mask, bitorder="little")
