"""``_C.flatten_id_lists`` reads ids below 2^30 from the int objects directly (one CPython digit),
on all threads, and takes the exact C API path for every other document. Values on both sides of
each digit boundary, documents that need the exact path among ones that do not, and inputs big
enough for the threaded read must all give what numpy gives, and everything else must still be
refused with the error of the per-document path. The ops' range check of int32 ids is left to the
C++ binding on the ``cpu`` backend: its error is checked here too."""

from __future__ import annotations

import numpy as np
import pytest
import tokenmark as tm
from tokenmark import _C
from tokenmark._inputs import _flat_per_document, as_ragged

# Around 2^15 (a digit of a 15-bit build), 2^30 (one 30-bit digit: the direct read's limit) and
# 2^31 (the id range).
EDGES = [0, 1, 2, 255, 256, 257, 2**15 - 1, 2**15, 2**15 + 1, 2**30 - 1, 2**30, 2**30 + 1,
         2**31 - 2, 2**31 - 1]  # fmt: skip


class _Int(int):
    pass


def _flat_numpy(docs):
    lengths = [len(d) for d in docs]
    offsets = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
    tokens = np.array([v for d in docs for v in d], dtype=np.int64)
    assert tokens.min(initial=0) >= 0 and tokens.max(initial=0) < 2**31  # the test's own input
    return tokens.astype(np.int32), offsets


def _check(docs):
    got = _C.flatten_id_lists(docs)
    assert got is not None
    tokens, offsets = _flat_numpy(docs)
    assert got[0].dtype == np.int32 and got[1].dtype == np.int64
    np.testing.assert_array_equal(got[0], tokens)
    np.testing.assert_array_equal(got[1], offsets)


def test_values_on_both_sides_of_the_digit_boundaries():
    _check([EDGES, list(reversed(EDGES)), [], [0], [2**30]])
    # ints made in other ways than literals (arithmetic, parsing, from bytes) are the same objects
    made = [int("1073741823"), 2**31 - 1, (2**40) >> 10, int.from_bytes(b"\x00\x01", "big"), 7 - 7]
    _check([made])


def test_documents_on_the_exact_path_among_direct_ones_many_threads():
    """More than 2^16 ids (the threaded read) with 2^30 <= id < 2^31 in a few documents: those
    go through the exact path, the others are read directly; both land at the right offsets."""
    rng = np.random.default_rng(16)
    docs = [rng.integers(0, 2**30, rng.integers(0, 300)).tolist() for _ in range(600)]
    for d in (0, 17, 301, 599):
        docs[d] = docs[d] + [2**30 + int(rng.integers(0, 2**30 - 1)), 5]
    assert sum(map(len, docs)) > 2**16
    _check(docs)
    _check([tuple(d) if i % 3 else d for i, d in enumerate(docs)])


BAD = [-1, -(2**30), -(2**30) - 1, 2**31, 2**32, 2**62, 2**64, 10**30, -(10**30), True, False,
       1.0, np.int64(3), np.int32(3), _Int(3), "3", None]  # fmt: skip


@pytest.mark.parametrize("bad", BAD)
@pytest.mark.parametrize("where", ["first", "last-of-many"])
def test_anything_else_is_handed_back(bad, where):
    """None (the per-document path then names the document) for each kind of bad item, also
    when it is the very last id of an input read by many threads."""
    if where == "first":
        docs = [[bad, 1], [2]]
    else:
        docs = [list(range(1000)) for _ in range(100)]
        docs[-1][-1] = bad
    assert _C.flatten_id_lists(docs) is None


@pytest.mark.parametrize(
    ("bad", "exc", "match"),
    [
        (-1, ValueError, r"sequences\[99\]: token ids must be >= 0"),
        (-(10**30), ValueError, r"sequences\[99\]"),
        (2**31, ValueError, r"sequences\[99\]: token ids must be < 2\^31"),
        (2**64, ValueError, r"sequences\[99\]"),
        (1.5, TypeError, r"sequences\[99\]: token ids must be integers"),
    ],
)
def test_detect_names_the_bad_document_of_a_large_input(bad, exc, match):
    docs = [list(range(1000)) for _ in range(100)]
    docs[99][500] = bad
    with pytest.raises(exc, match=match):
        tm.KGW(key=b"k").detect(docs)


@pytest.mark.parametrize("dedup", [True, False])
def test_detect_from_lists_is_bit_exact_with_the_array_path(dedup):
    rng = np.random.default_rng(3)
    docs = [rng.integers(0, 50_000, rng.integers(0, 400)) for _ in range(500)]
    docs[7] = np.array([2**31 - 1, 2**30, 2**30 - 1, 0, 1, 2, 3, 4], np.int64)  # both paths
    wm = tm.KGW(key=b"compact", context_width=2, dedup=dedup)
    from_lists = wm.detect([d.tolist() for d in docs])
    rag = _flat_per_document(docs, "sequences")
    from_ragged = wm.detect(rag)
    for field in ("n_scored", "n_green", "z", "p_value"):
        np.testing.assert_array_equal(getattr(from_lists, field), getattr(from_ragged, field))
    np.testing.assert_array_equal(as_ragged([d.tolist() for d in docs]).tokens, rag.tokens)


@pytest.mark.parametrize("op", ["score_kgw", "score_gumbel", "score_synthid"])
@pytest.mark.parametrize("backend", ["cpu", "reference"])
def test_negative_int32_ids_are_refused_by_the_op_on_every_host_backend(op, backend):
    """On ``cpu`` the binding is the one check of int32 ids; the reference backend keeps the
    Python one. Either way: a ValueError naming ``tokens``, never a score."""
    tokens = np.array([1, 2, 3, -4, 5], np.int32)
    kw = {"key": tm.Key(b"k").words, "context_width": 1, "seeding": 0, "backend": backend}
    if op == "score_kgw":
        kw["threshold"] = 2**30
    with pytest.raises(ValueError, match=r"tokens: token ids must be"):
        getattr(tm, op)(tokens, np.array([0, 5]), **kw)
    # a wider dtype is narrowed in Python, so it is always checked there
    with pytest.raises(ValueError, match=r"tokens: token ids must be in \[0, 2\^31\)"):
        getattr(tm, op)(tokens.astype(np.int64) + 2**31 + 4, np.array([0, 5]), **kw)


def test_narrow_ids_checks_every_id_on_all_threads():
    rng = np.random.default_rng(9)
    ids = rng.integers(0, 2**31, 300_000)  # more than 2^16: the threaded loop
    np.testing.assert_array_equal(_C.narrow_ids(ids), ids.astype(np.int32))
    assert _C.narrow_ids(np.array([0, 2**31 - 1])).tolist() == [0, 2**31 - 1]
    assert _C.narrow_ids(np.zeros(0, np.int64)).shape == (0,)
    for bad in (-1, 2**31, 2**32, -(2**63), 2**63 - 1, -(2**31)):
        for where in (0, len(ids) - 1):
            x = ids.copy()
            x[where] = bad
            assert _C.narrow_ids(x) is None, (bad, where)
    with pytest.raises(TypeError):  # never converted: the caller sends C-contiguous int64 only
        _C.narrow_ids(ids.astype(np.int32))
    with pytest.raises(TypeError):
        _C.narrow_ids(ids[::2])


@pytest.mark.parametrize("layout", ["c", "strided", "big-endian", "ragged-int64"])
def test_int64_inputs_narrowed_in_one_pass_or_by_numpy(layout):
    """2-D int64 arrays and Ragged int64 tokens: the same ids and the same named errors whether
    they take the one-pass narrowing (C-contiguous, native) or numpy's (any other layout)."""
    rng = np.random.default_rng(4)
    base = rng.integers(0, 2**31, (70, 2000))
    if layout == "c":
        arr = base
    elif layout == "strided":
        arr = base[:, ::2]
    elif layout == "big-endian":
        arr = base.astype(">i8")
    else:
        arr = tm.Ragged(base.reshape(-1), np.arange(71, dtype=np.int64) * 2000)
    got = as_ragged(arr)
    want = base.reshape(-1) if layout != "strided" else base[:, ::2].reshape(-1)
    np.testing.assert_array_equal(got.tokens, want.astype(np.int32))
    assert got.tokens.dtype == np.int32
    name = "sequences.tokens" if layout == "ragged-int64" else "sequences"
    for bad, match in ((-5, ">= 0"), (2**31, r"< 2\^31")):
        if layout == "ragged-int64":
            tokens = arr.tokens.copy()
            tokens[-1] = bad
            bad_input = tm.Ragged(tokens, arr.offsets)
        else:
            bad_input = arr.copy()
            bad_input[-1, -1] = bad
        with pytest.raises(ValueError, match=rf"{name}: token ids must be {match}"):
            tm.KGW(key=b"k").detect(bad_input)


def test_flatten_id_arrays_equals_concatenation():
    rng = np.random.default_rng(12)
    docs = [rng.integers(0, 2**31, rng.integers(0, 400)) for _ in range(700)]  # > 2^16 ids
    docs = [d.astype(np.int32) if i % 3 else d for i, d in enumerate(docs)]
    docs[5] = np.zeros(0, np.int64)
    docs[6] = np.array([0, 2**31 - 1], np.int64)
    tokens, offsets = _C.flatten_id_arrays(docs)
    np.testing.assert_array_equal(tokens, np.concatenate(docs).astype(np.int32))
    np.testing.assert_array_equal(offsets, np.concatenate([[0], np.cumsum([len(d) for d in docs])]))
    assert tokens.dtype == np.int32 and offsets.dtype == np.int64
    want = _flat_per_document(docs, "sequences")
    np.testing.assert_array_equal(as_ragged(docs).tokens, want.tokens)
    np.testing.assert_array_equal(as_ragged(docs).offsets, want.offsets)


@pytest.mark.parametrize(
    "bad",
    [np.array([1, -1], np.int32), np.array([2**31], np.int64), np.array([-(2**63)], np.int64),
     np.array([2**63 - 1], np.int64), np.arange(10, dtype=np.int64)[::2],
     np.arange(4, dtype=">i8"), np.zeros((2, 2), np.int64), np.arange(3, dtype=np.uint32),
     np.arange(3, dtype=np.int16), [1, 2], 7],
)  # fmt: skip
def test_flatten_id_arrays_answers_none_for_anything_else(bad):
    docs = [np.arange(1000, dtype=np.int64) for _ in range(100)]  # threaded: 10^5 ids
    docs[-1] = bad
    assert _C.flatten_id_arrays(docs) is None


def test_a_bad_id_in_a_list_of_native_arrays_is_named():
    docs = [np.arange(1000, dtype=np.int64 if i % 2 else np.int32) for i in range(300)]
    docs[299] = np.array([4, 2**31 + 1], np.int64)
    with pytest.raises(ValueError, match=r"sequences\[299\]: token ids must be < 2\^31"):
        tm.KGW(key=b"k").detect(docs)
    docs[299] = np.array([4, -1], np.int32)
    with pytest.raises(ValueError, match=r"sequences\[299\]: token ids must be >= 0"):
        tm.KGW(key=b"k").detect(docs)
