"""The dialects' n-gram de-duplication: first occurrences, exactly, hash collisions included."""

from __future__ import annotations

import numpy as np
import pytest
from tokenmark.dialects import _dedup


def expected(rows):
    seen, out = set(), []
    for r in map(tuple, rows.tolist()):
        out.append(r not in seen)
        seen.add(r)
    return np.array(out, dtype=bool)


@pytest.mark.parametrize("k", [1, 2, 5])
def test_first_occurrence_matches_a_set(k):
    rng = np.random.default_rng(k)
    for n in (0, 1, 2, 50, 3000):
        rows = rng.integers(-1, 4, size=(n, k))
        np.testing.assert_array_equal(_dedup.first_occurrence(rows), expected(rows))


def test_hash_collisions_fall_back_to_exact(monkeypatch):
    monkeypatch.setattr(_dedup, "_hash_rows", lambda rows: np.zeros(len(rows), dtype=np.uint64))
    rows = np.random.default_rng(0).integers(0, 3, size=(200, 3))
    np.testing.assert_array_equal(_dedup.first_occurrence(rows), expected(rows))
