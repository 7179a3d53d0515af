"""The way in of detect(): ``as_ragged`` flattens lists of Python int lists in C++
(``_C.flatten_id_lists``) and lists of integer arrays with one ``np.concatenate`` and one range
check. Both fast paths must give exactly what the per-document path gives, and hand every other
input to it, so that hostile input still gets an error that names the document."""

from __future__ import annotations

import numpy as np
import pytest
import tokenmark as tm
from tokenmark import _C
from tokenmark._inputs import _flat_fast, _flat_per_document, as_ragged


def _same(a: tm.Ragged, b: tm.Ragged) -> None:
    assert a.tokens.dtype == b.tokens.dtype == np.int32
    assert a.offsets.dtype == b.offsets.dtype == np.int64
    np.testing.assert_array_equal(a.tokens, b.tokens)
    np.testing.assert_array_equal(a.offsets, b.offsets)


def _random_docs(rng, kind: str):
    lens = rng.integers(0, 40, rng.integers(1, 30))
    docs = [rng.integers(0, 2**31, n) for n in lens]
    if kind == "lists":
        return [d.tolist() for d in docs]
    if kind == "tuples":
        return [tuple(d.tolist()) for d in docs]
    if kind == "mixed-containers":
        return [tuple(d.tolist()) if i % 2 else d.tolist() for i, d in enumerate(docs)]
    dtypes = [np.int32, np.int64, np.uint32] if kind == "arrays" else [np.int8, np.uint8, np.int16]
    return [(d % 100).astype(dtypes[i % len(dtypes)]) for i, d in enumerate(docs)]


@pytest.mark.parametrize("kind", ["lists", "tuples", "mixed-containers", "arrays", "small-arrays"])
def test_fast_path_equals_per_document_path(kind):
    rng = np.random.default_rng(len(kind))
    for _ in range(30):
        docs = _random_docs(rng, kind)
        fast = _flat_fast(list(docs))
        assert fast is not None
        _same(fast, _flat_per_document(list(docs), "sequences"))
        _same(as_ragged(docs), fast)


def test_edges_of_the_id_range_and_empty_documents():
    docs = [[], [0, 2**31 - 1], [], [5]]
    _same(as_ragged(docs), _flat_per_document(docs, "sequences"))
    _same(as_ragged([np.array(d, np.int64) for d in docs]), as_ragged(docs))
    assert as_ragged([[], []]).offsets.tolist() == [0, 0, 0]
    assert len(as_ragged([])) == 0
    assert as_ragged(iter([[1, 2], (3,)])).tokens.tolist() == [1, 2, 3]  # any iterable, once


@pytest.mark.parametrize(
    "docs",
    [
        [[1, 2], [3.0, 4.0]],  # integral floats: accepted, as before
        [[1, 2], [np.int64(3)]],  # numpy scalars
        [[1], np.array([2, 3])],  # a list and an array
        [np.array([1], np.uint64), np.array([2], np.int64)],  # uint64 with a signed dtype
        [[1, 2], range(3)],  # other sequence types
    ],
)
def test_other_inputs_take_the_per_document_path(docs):
    assert _flat_fast(list(docs)) is None
    _same(as_ragged(docs), _flat_per_document(list(docs), "sequences"))


@pytest.mark.parametrize(
    ("bad", "exc", "match"),
    [
        ([[1, 2], [3, -1]], ValueError, r"sequences\[1\]: token ids must be >= 0"),
        ([[1, 2], [], [2**31]], ValueError, r"sequences\[2\]: token ids must be < 2\^31"),
        ([[1, 2], [2**64]], ValueError, r"sequences\[1\]"),
        ([[1.5, 2]], TypeError, r"sequences\[0\]: token ids must be integers"),
        ([[1], [True, False]], TypeError, r"sequences\[1\]: token ids must be integers"),
        # a bool among ints, which numpy reads as 1 (it was scored as id 1)
        ([[1, 2], [3, True]], TypeError, r"sequences\[1\]: token ids must be integers"),
        ([[1], ["7"]], TypeError, r"sequences\[1\]"),
        ([[1], [None]], ValueError, r"sequences\[1\]"),
        ([[1], [[2]]], ValueError, r"sequences\[1\]: expected a 1-D sequence"),
        ([[1], "abc"], TypeError, r"sequences\[1\]: expected token ids, got a string"),
        ([np.array([1]), np.array([-3], np.int32)], ValueError, r"sequences\[1\]: .* >= 0"),
        ([np.array([1]), np.array([2**40])], ValueError, r"sequences\[1\]: .* < 2\^31"),
        ([np.array([1]), np.array([2**63], np.uint64)], ValueError, r"sequences\[1\]"),
        ([np.array([1]), np.array([1.5])], TypeError, r"sequences\[1\]"),
        ([np.array([1]), np.array([True])], TypeError, r"sequences\[1\]"),
        ([np.array([1]), np.zeros((2, 2), np.int32)], ValueError, r"sequences\[1\]: .*1-D"),
    ],
)
def test_hostile_documents_are_named(bad, exc, match):
    with pytest.raises(exc, match=match):
        tm.KGW(key=b"k").detect(bad)


def test_binding_answers_none_for_anything_unusual():
    assert _C.flatten_id_lists([[1, 2], (3,)])[0].tolist() == [1, 2, 3]
    for bad in ([[1], [-1]], [[2**31]], [[True]], [[1.0]], [[1], np.array([2])], [[1], range(2)]):
        assert _C.flatten_id_lists(bad) is None
    with pytest.raises(TypeError):
        _C.flatten_id_lists(([1],))  # a tuple of documents is listed first by as_ragged


def test_arrays_in_several_groups():
    """Non-int32 arrays are narrowed 256 documents at a time: a bad id in a later group is
    still found, and named by the per-document path."""
    rng = np.random.default_rng(5)
    docs = [rng.integers(0, 1000, rng.integers(0, 9)).astype(np.int64) for _ in range(600)]
    docs[300] = docs[300].astype(np.uint16)
    _same(as_ragged(docs), _flat_per_document(docs, "sequences"))
    docs[555] = np.array([3, -2], np.int64)
    with pytest.raises(ValueError, match=r"sequences\[555\]: token ids must be >= 0"):
        as_ragged(docs)


@pytest.mark.parametrize(
    "dtype", [np.int8, np.int16, np.int32, np.int64, np.uint8, np.uint16, np.uint32, np.uint64]
)
def test_one_pass_range_check_against_min_and_max(dtype):
    from tokenmark._validate import ids_in_range

    info = np.iinfo(dtype)
    values = [0, 1, 2**31 - 1, 2**31, -1, info.min, info.max]
    for v in values:
        if not info.min <= v <= info.max:
            continue
        swapped = np.dtype(dtype).newbyteorder()
        for arr in (np.array([3, v, 0], dtype), np.array([v, 5, 7, 1], dtype)[::2],
                    np.array([5, v], swapped)):  # fmt: skip
            want = bool(arr.min() >= 0 and arr.max() <= 2**31 - 1)
            assert ids_in_range(arr) == want, (dtype, v)
