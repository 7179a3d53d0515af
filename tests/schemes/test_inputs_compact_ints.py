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
