"""K keys in one pass, specified as K single-key passes: the executable spec of the K-key
scorers (``score_kgw_keys``, ``score_gumbel_keys``, ``score_synthid_keys``).

All keys share the documents and the other parameters, so ``n_scored`` and ``counted`` (which
positions enter the statistic) do not depend on the key: they are returned once (with no keys,
as any key gives them). The per-key statistics are stacked on a leading axis of length K.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from . import gumbel, kgw, synthid


def _per_key(score_one: Callable, keys, empty_stat: tuple[int, ...], dtype):
    """``(n_scored, stats [K, ...], counted)`` from ``score_one(key) -> (n, stat, counted)``."""
    keys = np.asarray(keys, dtype=np.uint32).reshape(-1, 4)
    outs = [score_one(k) for k in keys]
    if not outs:
        n_scored, _, counted = score_one(np.zeros(4, np.uint32))
        return n_scored, np.zeros((0, *empty_stat), dtype), counted
    n_scored, _, counted = outs[0]
    return n_scored, np.stack([o[1] for o in outs]).astype(dtype, copy=False), counted


def score_kgw_keys(tokens, offsets, prefix, keys, threshold, width, seeding, dedup):
    """``(n_scored[d], n_green[k, d], counted[i])`` for the keys ``keys[k]`` (uint32 [K, 4])."""

    def one(key):
        n, g, _, counted = kgw.score_kgw(tokens, offsets, prefix, key, threshold, width, seeding,
                                         dedup)  # fmt: skip
        return n, g, counted

    return _per_key(one, keys, (len(offsets) - 1,), np.int64)


def score_gumbel_keys(tokens, offsets, prefix, keys, salts, width, seeding, dedup):
    """``(n_scored[d], score[k, d], counted[i])``; ``salts`` one per document or a scalar."""

    def one(key):
        return gumbel.score_gumbel(tokens, offsets, prefix, key, salts, width, seeding, dedup)

    return _per_key(one, keys, (len(offsets) - 1,), np.float64)


def score_synthid_keys(tokens, offsets, prefix, keys, width, seeding, layers, dedup):
    """``(n_scored[d], ones[k, d, layer], counted[i])``."""

    def one(key):
        return synthid.score_synthid(tokens, offsets, prefix, key, width, seeding, layers, dedup)

    return _per_key(one, keys, (len(offsets) - 1, layers), np.int64)
