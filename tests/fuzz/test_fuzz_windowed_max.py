"""The vectorised windowed maximum against the per-document loop it replaced (issue #11)."""

import contextlib

import numpy as np
import pytest
import tokenmark.stats as S
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats


def windowed_max_loop(green, offsets, window, p):
    """The per-document definition, written plainly."""
    n_docs = len(offsets) - 1
    cs = np.concatenate([[0], np.cumsum(green, dtype=np.int64)])
    start, best, pvals = np.zeros(n_docs, np.int64), np.zeros(n_docs, np.int64), np.ones(n_docs)
    for d in range(n_docs):
        lo, hi = offsets[d], offsets[d + 1]
        if hi == lo:
            continue
        w = min(window, hi - lo)
        sums = cs[lo + w : hi + 1] - cs[lo : hi - w + 1]
        i = int(np.argmax(sums))
        start[d], best[d] = i, sums[i]
        pvals[d] = min(1.0, len(sums) * float(stats.binom.sf(best[d] - 1, w, p)))
    return start, best, pvals


# Batches of short documents, a window, a chunk size for the numpy search (small: documents
# split over many chunks) and a seed for the terms.
BATCHES = dict(
    lengths=st.lists(st.integers(0, 40), max_size=12),
    window=st.integers(1, 50),
    chunk=st.integers(1, 64),
    seed=st.integers(0, 2**32 - 1),
)


@contextlib.contextmanager
def chunks_of(chunk: int):
    old = S._WINDOW_CHUNK
    S._WINDOW_CHUNK = chunk
    try:
        yield
    finally:
        S._WINDOW_CHUNK = old


@settings(max_examples=150, deadline=None, derandomize=True, database=None)
@given(**BATCHES, density=st.floats(0, 1))
def test_matches_the_per_document_loop(lengths, window, density, chunk, seed):
    rng = np.random.default_rng(seed)
    offsets = np.concatenate([[0], np.cumsum(lengths, dtype=np.int64)])
    green = (rng.random(int(offsets[-1])) < density).astype(np.uint8)
    with chunks_of(chunk):  # the C++ search (chunks: unused) and the numpy one
        got = S.windowed_max(green, offsets, window, 0.25)
        start, best, _, _ = S.best_windows(green, offsets, window, backend="reference")
    assert np.array_equal(got[0], start) and np.array_equal(got[1], best)
    want = windowed_max_loop(green, offsets, window, 0.25)
    assert np.array_equal(got[0], want[0]) and np.array_equal(got[1], want[1])
    np.testing.assert_allclose(got[2], want[2], rtol=1e-12, atol=0)


def test_a_million_documents_in_one_vectorised_pass():
    """1M documents, no per-document Python loop (the loop took ~48 s; bench/fuzz_long.py times
    it); here only the result is checked, on a sample of documents."""
    rng = np.random.default_rng(0)
    lengths = rng.integers(0, 30, 1_000_000)
    offsets = np.concatenate([[0], np.cumsum(lengths)])
    green = (rng.random(int(offsets[-1])) < 0.25).astype(np.uint8)
    start, best, pv = S.windowed_max(green, offsets, 10, 0.25)
    docs = rng.choice(len(lengths), 200, replace=False)
    for d in docs:
        sub = slice(offsets[d], offsets[d + 1])
        s, b, p = windowed_max_loop(green[sub], np.array([0, lengths[d]]), 10, 0.25)
        assert (start[d], best[d]) == (s[0], b[0]) and np.isclose(pv[d], p[0], rtol=1e-12)


@settings(max_examples=100, deadline=None, derandomize=True, database=None)
@given(**BATCHES)
def test_float_windows_match_the_per_document_loop(lengths, window, chunk, seed):
    """best_windows on float terms (Gumbel's), C++ and numpy: a best window up to rounding and
    its sum, re-added."""
    rng = np.random.default_rng(seed)
    offsets = np.concatenate([[0], np.cumsum(lengths, dtype=np.int64)])
    values = rng.exponential(size=int(offsets[-1]))
    with chunks_of(chunk):
        for backend in ("cpu", "reference"):
            _check_float_windows(S.best_windows(values, offsets, window, backend), values,
                                 offsets, lengths, window)  # fmt: skip


@settings(max_examples=150, deadline=None, derandomize=True, database=None)
@given(**BATCHES, top=st.integers(1, 40))
def test_integer_windows_cpp_equal_numpy(lengths, window, top, chunk, seed):
    """Integer terms (KGW's flags, SynthID's counts): C++ and numpy bit for bit, ties included
    (few distinct values: many ties)."""
    rng = np.random.default_rng(seed)
    offsets = np.concatenate([[0], np.cumsum(lengths, dtype=np.int64)])
    values = rng.integers(0, top + 1, int(offsets[-1]))
    with chunks_of(chunk):
        want = S.best_windows(values, offsets, window, backend="reference")
    got = S.best_windows(values, offsets, window)
    for g, w in zip(got, want, strict=True):
        assert g.dtype == w.dtype and np.array_equal(g, w)


def _check_float_windows(result, values, offsets, lengths, window):
    start, best, w, n_windows = result
    for d in range(len(lengths)):
        v = values[offsets[d] : offsets[d + 1]]
        if not len(v):
            assert n_windows[d] == 0 and best[d] == 0
            continue
        k = min(window, len(v))
        sums = np.array([v[i : i + k].sum() for i in range(len(v) - k + 1)])
        i = int(start[d])
        assert w[d] == k and n_windows[d] == len(sums)
        assert sums[i] >= sums.max() - 1e-12 * max(1.0, sums.max())  # best up to rounding
        assert best[d] == sums[i] or abs(best[d] - sums[i]) <= 1e-12 * sums[i]


def test_cpp_search_refuses_bad_arguments():
    from tokenmark import _C

    ok = np.zeros(3, np.int64), np.array([0, 3], np.int64)
    cases = [
        ((np.zeros(3, np.int32), ok[1], 2), TypeError, "values: expected dtype int64 or float64"),
        ((np.zeros((3, 1), np.int64), ok[1], 2), ValueError, "values: expected 1 dimensions"),
        ((ok[0], np.array([0, 2], np.int64), 2), ValueError, "offsets: expected"),
        ((ok[0], np.array([0, 3, 2, 3], np.int64), 2), ValueError, "offsets: must be non-decr"),
        ((ok[0], np.zeros(0, np.int64), 2), ValueError, "offsets: expected"),
        ((ok[0], ok[1], 0), ValueError, "window: must be >= 1"),
    ]
    for args, err, match in cases:
        with pytest.raises(err, match=match):
            _C.best_windows(*args)
    with pytest.raises(ValueError, match="backend"):
        S.best_windows(*ok, 2, backend="gpu")
