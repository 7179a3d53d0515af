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


def test_dialects_take_tensors_and_ragged_and_check_offsets():
    torch = pytest.importorskip("torch")
    import tokenmark as tm

    x = np.random.default_rng(1).integers(0, 1000, size=(3, 20))
    rag = tm.Ragged(x.reshape(-1).astype(np.int32), np.array([0, 20, 40, 60]))
    rag_t = tm.Ragged(torch.from_numpy(rag.tokens), torch.from_numpy(rag.offsets))
    for wm in (tm.dialects.transformers_kgw(vocab_size=1000), tm.dialects.vllm(key=3),
               tm.dialects.synthid_text([1, 2], ngram_len=3)):  # fmt: skip
        want = wm.detect(x).p_value
        for form in (torch.from_numpy(x), rag, rag_t, list(x)):
            np.testing.assert_array_equal(wm.detect(form).p_value, want)
        for bad in ([1, 20, 60], [0, 30, 20, 60], [0, 20, 40, 59]):
            with pytest.raises(ValueError, match="offsets"):
                wm.detect(tm.Ragged(rag.tokens, np.array(bad)))


def test_distinct_small_ints_equals_np_unique():
    from tokenmark.dialects._dedup import distinct_small_ints

    rng = np.random.default_rng(11)
    cases = [np.zeros(0, np.int64), np.zeros(5, np.int64), np.array([7]),
             rng.integers(0, 50, size=1000), rng.integers(0, 32000, size=20000),
             rng.integers(0, 2**31 - 1, size=300),  # sparse: the sort path
             np.array([3, 2**40, 3, 0])]  # fmt: skip
    for values in cases:
        uniq, inverse = distinct_small_ints(values)
        want_u, want_i = np.unique(values, return_inverse=True)
        np.testing.assert_array_equal(uniq, want_u)
        np.testing.assert_array_equal(inverse, want_i.reshape(-1))
        np.testing.assert_array_equal(uniq[inverse], values)
