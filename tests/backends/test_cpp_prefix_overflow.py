"""Prefix lengths near 2**63 through the `_C` scorers (issue #11).

`offsets[d] + prefix[d]` used to be computed in int64 and overflowed: a segfault for KGW, Gumbel
and SynthID alike, or a negative `n_scored`. The scorers now clamp each prefix to its document's
length before adding. Every case runs in a child process, so a segfault or a hang is a test
failure, not the end of the pytest run. Expected values come from the numpy reference (Python
ints, no overflow) or from the definition: a prefix at least as long as its document leaves
nothing to score.
"""

import json
import os
import subprocess
import sys

import numpy as np
import pytest
from tokenmark import reference as ref

BIG = 2**63 - 1
KEY = np.array([0x01234567, 0x89ABCDEF, 0xDEADBEEF, 0x0BADF00D], dtype=np.uint32)
WIDTH = 2
LAYERS = 5
SALTS = np.array([7], dtype=np.uint32)
# A small corpus the reference scores quickly: documents of length 0, 1, 10 (with repeats, so
# dedup matters) and 13.
DOC_LENGTHS = [10, 0, 13, 1, 10]
PREFIX_CASES = {
    "all_big": [BIG] * 5,
    "mixed_zero_big": [0, BIG, BIG, 0, 0],
    "mixed_big_zero": [BIG, 0, 0, BIG, 3],
    # Each offsets[d] + prefix[d] is exactly 2**63 - 1, or just past it.
    "edge": [BIG - 0, BIG - 10, BIG - 10, BIG - 23, BIG - 24],
    "edge_plus_one": [BIG - 0, BIG - 9, BIG - 9, BIG - 22, BIG - 23],
    "near_doc_length": [9, 10**6, 13, 1, 11],
    "pow2": [2**62, 2**62 + 1, 2**32, 2**31, 2**63 - 2**31],
}
SCHEMES = ["kgw", "gumbel", "synthid"]
TIMEOUT_S = 120


def _corpus():
    rng = np.random.default_rng(11)
    docs = []
    for n in DOC_LENGTHS:
        docs.append(rng.integers(0, 6, size=n))  # a small vocabulary, so pairs repeat
    tokens = np.concatenate(docs).astype(np.int32)
    offsets = np.concatenate([[0], np.cumsum(DOC_LENGTHS)]).astype(np.int64)
    return tokens, offsets


def _score_c(scheme, tokens, offsets, prefix, dedup):
    from tokenmark import _C

    if scheme == "kgw":
        n, g, flags, counted = _C.score_kgw(
            tokens, offsets, prefix, KEY, 2**31, WIDTH, 0, dedup, True
        )
        return {"n_scored": n, "n_green": g, "green": flags, "counted": counted}
    if scheme == "gumbel":
        n, s, counted = _C.score_gumbel(
            tokens, offsets, prefix, KEY, SALTS, WIDTH, 0, dedup, True, False
        )
        return {"n_scored": n, "score": s, "counted": counted}
    n, ones, counted = _C.score_synthid(
        tokens, offsets, prefix, KEY, WIDTH, 0, LAYERS, dedup, True, False
    )
    return {"n_scored": n, "ones": ones, "counted": counted}


def _score_reference(scheme, tokens, offsets, prefix, dedup):
    if scheme == "kgw":
        n, g, flags, counted = ref.kgw.score_kgw(
            tokens, offsets, prefix, KEY, 2**31, WIDTH, 0, dedup
        )
        return {"n_scored": n, "n_green": g, "green": flags, "counted": counted}
    if scheme == "gumbel":
        n, s, counted = ref.gumbel.score_gumbel(
            tokens, offsets, prefix, KEY, SALTS, WIDTH, 0, dedup
        )
        return {"n_scored": n, "score": s, "counted": counted}
    n, ones, counted = ref.synthid.score_synthid(
        tokens, offsets, prefix, KEY, WIDTH, 0, LAYERS, dedup
    )
    return {"n_scored": n, "ones": ones, "counted": counted}


def _child(scheme: str, dedup: bool) -> None:
    """Runs in the child: score every prefix case with `_C`, print the outputs as JSON."""
    tokens, offsets = _corpus()
    results = {}
    for case, prefix in PREFIX_CASES.items():
        out = _score_c(scheme, tokens, offsets, np.array(prefix, dtype=np.int64), dedup)
        results[case] = {k: np.asarray(v).tolist() for k, v in out.items()}
    print(json.dumps(results))


def _run_child(code: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, OMP_NUM_THREADS="2")
    here = os.path.dirname(os.path.abspath(__file__))
    env["PYTHONPATH"] = here + os.pathsep + env.get("PYTHONPATH", "")
    return subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=TIMEOUT_S,
        env=env,
        cwd=here,
    )


def _assert_child_ok(proc: subprocess.CompletedProcess) -> None:
    # A negative return code is a signal (-11: segfault); a timeout raises TimeoutExpired.
    assert proc.returncode == 0, (
        f"child exited with {proc.returncode}\nstdout: {proc.stdout[-2000:]}\n"
        f"stderr: {proc.stderr[-2000:]}"
    )


@pytest.mark.parametrize("dedup", [False, True], ids=["nodedup", "dedup"])
@pytest.mark.parametrize("scheme", SCHEMES)
def test_huge_prefix_matches_reference(scheme, dedup):
    proc = _run_child(f"import test_cpp_prefix_overflow as t; t._child({scheme!r}, {dedup!r})")
    _assert_child_ok(proc)
    results = json.loads(proc.stdout.strip().splitlines()[-1])
    tokens, offsets = _corpus()
    lengths = np.diff(offsets)
    assert set(results) == set(PREFIX_CASES)
    for case, got in results.items():
        prefix = np.array(PREFIX_CASES[case], dtype=np.int64)
        want = _score_reference(scheme, tokens, offsets, prefix, dedup)
        assert set(got) == set(want), case
        for name, expected in want.items():
            actual = np.asarray(got[name])
            msg = f"{case}: {name}"
            if name == "score":
                # float64 sums of -log(1 - u) in token order; log may differ in the last ulp.
                np.testing.assert_allclose(actual, expected, rtol=1e-12, atol=0, err_msg=msg)
            else:
                np.testing.assert_array_equal(actual, np.asarray(expected), err_msg=msg)
        n_scored = np.asarray(got["n_scored"])
        assert (n_scored >= 0).all() and (n_scored <= lengths).all(), case
        # By definition: a prefix at least as long as its document leaves nothing to score.
        assert (n_scored[prefix >= lengths] == 0).all(), case


def _child_long(scheme: str, dedup: bool) -> None:
    """A corpus long enough for the multi-threaded and chunked paths (KGW splits tokens into
    chunks of 2**16), scored with huge and with clamped prefixes: the two must agree, and the
    documents covered by their prefix must score nothing."""
    rng = np.random.default_rng(5)
    lengths = np.array([70_000, 3, 0, 66_000, 5_000], dtype=np.int64)
    tokens = rng.integers(0, 50, size=int(lengths.sum())).astype(np.int32)
    offsets = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
    huge = np.array([BIG, 0, BIG, BIG - int(offsets[3]), 100], dtype=np.int64)
    clamped = np.minimum(huge, lengths)
    a = _score_c(scheme, tokens, offsets, huge, dedup)
    b = _score_c(scheme, tokens, offsets, clamped, dedup)
    for name in a:
        np.testing.assert_array_equal(a[name], b[name], err_msg=name)
    assert (a["n_scored"][[0, 2, 3]] == 0).all()
    assert a["n_scored"][4] > 0
    assert (a["counted"][: offsets[1]] == 0).all()
    print("ok")


@pytest.mark.parametrize("dedup", [False, True], ids=["nodedup", "dedup"])
@pytest.mark.parametrize("scheme", SCHEMES)
def test_huge_prefix_long_documents(scheme, dedup):
    proc = _run_child(f"import test_cpp_prefix_overflow as t; t._child_long({scheme!r}, {dedup!r})")
    _assert_child_ok(proc)
    assert proc.stdout.strip().endswith("ok")


@pytest.mark.parametrize("scheme", SCHEMES)
def test_negative_prefix_rejected(scheme):
    code = (
        "import numpy as np, test_cpp_prefix_overflow as t\n"
        "tokens, offsets = t._corpus()\n"
        "for bad in (-1, -(2**63)):\n"
        "    prefix = np.array([0, 0, bad, 0, 0], dtype=np.int64)\n"
        "    try:\n"
        f"        t._score_c({scheme!r}, tokens, offsets, prefix, True)\n"
        "    except ValueError as e:\n"
        "        print('ValueError:', e)\n"
    )
    proc = _run_child(code)
    _assert_child_ok(proc)
    assert proc.stdout.count("ValueError: prefix_lengths: must be >= 0") == 2, proc.stdout
