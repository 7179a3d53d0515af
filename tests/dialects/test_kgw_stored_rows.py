"""The KGW dialects' warm path (lefthash, every list already in the store): one C++ pass over
the batch (_C.score_kgw_stored_rows) instead of the per-position numpy composition. Its counts
equal the composed path's (return_flags=True always composes) and the numpy spec's on ragged
batches with BOS, prompts, ids past the vocabulary, empty and one-token documents; a batch with
a previous token not yet drawn, and a store that started over, fall back and stay exact."""

from __future__ import annotations

import importlib

import numpy as np
import pytest
import tokenmark as tm
from tokenmark import _C


def _batch(rng, vocab, n_docs=40):
    lengths = rng.integers(0, 300, n_docs)
    lengths[:3] = (0, 1, 2)
    docs = [rng.integers(0, vocab, n).tolist() for n in lengths]
    for d in docs[5::3]:
        d[-1:] = [vocab + 7]  # an id past the vocabulary (never green), last: never a context
    return docs


@pytest.fixture
def stored_calls(monkeypatch):
    """The outcomes (None: fell back) of the dialect's calls of the C++ warm pass."""
    module = importlib.import_module("tokenmark.dialects._green_lists")  # where the pass is called

    calls = []

    class Spy:
        def __getattr__(self, name):
            return getattr(_C, name)

        def score_kgw_stored_rows(self, *args):
            calls.append(_C.score_kgw_stored_rows(*args))
            return calls[-1]

    monkeypatch.setattr(module, "_C", Spy())
    return calls


def _same(a, b):
    np.testing.assert_array_equal(a.n_scored, b.n_scored)
    np.testing.assert_array_equal(a.n_green, b.n_green)
    np.testing.assert_array_equal(a.p_value, b.p_value)
    np.testing.assert_array_equal(a.z, b.z)


@pytest.mark.parametrize("bos", [None, 3])
def test_warm_counts_equal_the_composed_and_the_spec(rng, bos, stored_calls):
    wm = tm.dialects.transformers_kgw(hashing_key=77, vocab_size=500, bos_token_id=bos)
    docs = _batch(rng, 500)
    for d in docs[3:10]:
        d[:1] = [3]  # documents that start with BOS
    prefix = rng.integers(0, 5, len(docs))
    cold = wm.detect(docs, prefix_lengths=prefix)  # draws the lists: the composed path
    warm = wm.detect(docs, prefix_lengths=prefix)  # every list stored: the C++ pass
    composed = wm.detect(docs, prefix_lengths=prefix, return_flags=True)
    spec = wm.detect(docs, prefix_lengths=prefix, backend="reference")
    assert [c is None for c in stored_calls] == [False]  # cold: no table yet, no call
    for other in (cold, composed, spec):
        _same(warm, other)
    assert warm.n_green.sum() > 0 and (warm.n_scored > 0).sum() > 30


def test_a_new_previous_token_and_a_restarted_store_fall_back(rng, stored_calls):
    wm = tm.dialects.transformers_kgw(hashing_key=5, vocab_size=300)
    wm.detect([list(range(0, 100))])  # lists of previous tokens 0..98 stored
    docs = [list(range(50, 150)), list(range(0, 100))]  # 99..148 are not yet
    _same(wm.detect(docs), wm.detect(docs, backend="reference"))
    _same(wm.detect(docs), wm.detect(docs, backend="reference"))  # now stored
    assert [c is None for c in stored_calls] == [True, False]
    cache = wm._cache
    before = cache.generation
    wm.detect([rng.integers(0, 300, 5000).tolist()])
    cache.capacity = 4  # the next batch needs more lists than fit: the store starts over
    big = [rng.integers(0, 300, 200).tolist() for _ in range(3)]
    _same(wm.detect(big), wm.detect(big, backend="reference"))
    assert cache.generation > before
    _same(wm.detect(docs), wm.detect(docs, backend="reference"))


def test_stored_rows_op_refuses_bad_arguments():
    tokens = np.array([1, 2, 3, 4], np.int32)
    offsets = np.array([0, 4], np.int64)
    table = np.zeros(10, np.int64)
    store = np.zeros((1, 2), np.uint8)
    ok = _C.score_kgw_stored_rows(tokens, offsets, np.array([1]), table, store, 16)
    assert [x.tolist() for x in ok] == [[3], [0]]
    assert _C.score_kgw_stored_rows(tokens, offsets, np.array([1]), table - 1, store, 16) is None
    with pytest.raises(ValueError, match="first: must be past"):
        _C.score_kgw_stored_rows(tokens, offsets, np.array([0]), table, store, 16)
    with pytest.raises(ValueError, match="first: expected one entry"):
        _C.score_kgw_stored_rows(tokens, offsets, np.array([1, 1]), table, store, 16)
    with pytest.raises(ValueError, match="store: expected rows"):
        _C.score_kgw_stored_rows(tokens, offsets, np.array([1]), table, store, 17)
    with pytest.raises(TypeError, match="row_of_prev"):
        _C.score_kgw_stored_rows(tokens, offsets, np.array([1]), table.astype(np.int32), store, 16)
