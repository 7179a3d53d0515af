"""K keys in one pass (``score_kgw_keys``, ``score_gumbel_keys``, ``score_synthid_keys`` and the
schemes' ``detect_many``): every key's output equals the single-key operation's bit for bit, on
odd shapes, both seedings, with and without dedup, on the AVX2 and the scalar paths; bad keys
give clear errors that never show them; the p-values over keys are uniform on random tokens.
(The single-key operations are checked against the numpy reference elsewhere, and the K-key
operations against theirs in test_parity_grid.py.)"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import tokenmark as tm
from scipy import stats
from tokenmark import _C, ops

LENGTHS = [0, 1, 4, 5, 3, 37, 257, 2, 1000]  # 0, 1, h, h + 1, long, for h = 4


def _batch(seed: int, vocab: int = 60):
    rng = np.random.default_rng(seed)
    tokens = rng.integers(0, vocab, sum(LENGTHS)).astype(np.int32)
    tokens[400:500] = tokens[300:400]  # repeated (context, token) pairs: dedup matters
    offsets = np.concatenate([[0], np.cumsum(LENGTHS)]).astype(np.int64)
    prefix = rng.integers(0, 8, len(LENGTHS)).astype(np.int64)
    return tokens, offsets, prefix


def _keys(k: int) -> np.ndarray:
    return np.stack([tm.Key(i).words for i in range(k)]) if k else np.zeros((0, 4), np.uint32)


@pytest.fixture(params=[True, False], ids=["simd", "scalar"])
def simd(request):
    if request.param and not _C.info()["avx2"]:
        pytest.skip("no AVX2 on this CPU")
    _C.set_simd_enabled(request.param)
    yield request.param
    _C.set_simd_enabled(True)


@pytest.mark.parametrize("width", [0, 1, 4])
@pytest.mark.parametrize("seeding", [0, 1])
@pytest.mark.parametrize("dedup", [True, False])
def test_each_key_equals_the_single_key_op(simd, width, seeding, dedup):
    tokens, offsets, prefix = _batch(width * 4 + seeding * 2 + dedup)
    keys = _keys(3)
    common = dict(context_width=width, seeding=seeding, dedup=dedup, prefix_lengths=prefix,
                  want_flags=True)  # fmt: skip
    salts = np.arange(len(LENGTHS), dtype=np.uint32) * 0x9E3779B9
    n, g, c = ops.score_kgw_keys(tokens, offsets, keys=keys, threshold=2**30, **common)
    ng, s, cg = ops.score_gumbel_keys(tokens, offsets, keys=keys, salts=salts, **common)
    ns, ones, cs = ops.score_synthid_keys(tokens, offsets, keys=keys, layers=30, **common)
    assert g.shape == (3, len(LENGTHS)) and ones.shape == (3, len(LENGTHS), 30)
    for k, key in enumerate(keys):
        n1, g1, _, c1 = ops.score_kgw(tokens, offsets, key=key, threshold=2**30, **common)
        np.testing.assert_array_equal(n, n1)
        np.testing.assert_array_equal(g[k], g1)
        np.testing.assert_array_equal(c, c1)
        n2, s2, c2 = ops.score_gumbel(tokens, offsets, key=key, salts=salts, **common)
        np.testing.assert_array_equal(ng, n2)
        np.testing.assert_array_equal(s[k], s2)  # bit for bit: same terms, same order
        np.testing.assert_array_equal(cg, c2)
        n3, o3, c3 = ops.score_synthid(tokens, offsets, key=key, layers=30, **common)
        np.testing.assert_array_equal(ns, n3)
        np.testing.assert_array_equal(ones[k], o3)
        np.testing.assert_array_equal(cs, c3)


@pytest.mark.parametrize("n_keys", [0, 1, 64])
def test_key_counts_and_empty_batches(n_keys):
    tokens, offsets, prefix = _batch(11)
    keys = _keys(n_keys)
    n, g, c = ops.score_kgw_keys(tokens, offsets, keys=keys, threshold=2**31, context_width=2,
                                 seeding=0)  # fmt: skip
    assert g.shape == (n_keys, len(LENGTHS)) and c is None
    n1 = ops.score_kgw(tokens, offsets, key=_keys(1)[0], threshold=2**31, context_width=2,
                       seeding=0)[0]  # fmt: skip
    np.testing.assert_array_equal(n, n1)  # what is scored does not depend on the keys
    if n_keys:
        last = ops.score_kgw(tokens, offsets, key=keys[-1], threshold=2**31, context_width=2,
                             seeding=0)  # fmt: skip
        np.testing.assert_array_equal(g[-1], last[1])
    empty = ops.score_synthid_keys(np.zeros(0, np.int32), np.zeros(1, np.int64), keys=keys,
                                   context_width=1, seeding=0, layers=3)  # fmt: skip
    assert empty[0].shape == (0,) and empty[1].shape == (n_keys, 0, 3)


def test_keys_as_key_objects_or_words():
    tokens, offsets, _ = _batch(3)
    objs = [tm.Key(b"v1"), tm.Key(b"v2")]
    a = ops.score_gumbel_keys(tokens, offsets, keys=objs, context_width=1, seeding=0)
    b = ops.score_gumbel_keys(tokens, offsets, keys=np.stack([k.words for k in objs]),
                              context_width=1, seeding=0)  # fmt: skip
    np.testing.assert_array_equal(a[1], b[1])


SECRET = 2**32 + 12345


@pytest.mark.parametrize(
    ("keys", "exc"),
    [
        (tm.Key(b"one"), TypeError),  # one key, not a list
        (np.zeros((2, 3), np.uint32), TypeError),  # [K, 3]
        (np.zeros(4, np.uint32), TypeError),  # [4]: one key's words
        (np.full((1, 4), 0.5), TypeError),  # floats
        (np.array([[1, 2, 3, -1]]), TypeError),  # negative
        (np.array([[1, 2, 3, SECRET]]), TypeError),  # past 2^32; must not be echoed
        ([tm.Key(b"a"), np.zeros(4, np.uint32)], TypeError),  # mixed
        ("abc", TypeError),
    ],
)
def test_bad_keys(keys, exc):
    tokens, offsets, _ = _batch(0)
    with pytest.raises(exc, match="keys") as e:
        ops.score_kgw_keys(tokens, offsets, keys=keys, threshold=2**31, context_width=1, seeding=0)
    assert str(SECRET) not in str(e.value) and "12345" not in str(e.value)


def test_bad_documents_and_parameters():
    tokens, offsets, _ = _batch(0)
    keys = _keys(2)
    kw = dict(keys=keys, context_width=1, seeding=0)
    with pytest.raises(ValueError, match="tokens"):
        ops.score_kgw_keys(-np.ones(3, np.int32), [0, 3], threshold=2**31, **kw)
    with pytest.raises(ValueError, match="offsets"):
        ops.score_gumbel_keys(tokens, offsets[::-1], **kw)
    with pytest.raises(ValueError, match="threshold"):
        ops.score_kgw_keys(tokens, offsets, threshold=0, **kw)
    with pytest.raises(ValueError, match="layers"):
        ops.score_synthid_keys(tokens, offsets, layers=33, **kw)
    with pytest.raises(ValueError, match="salts"):
        ops.score_gumbel_keys(tokens, offsets, salts=np.zeros(2, np.uint32), **kw)
    with pytest.raises(ValueError, match="backend"):
        ops.score_kgw_keys(tokens, offsets, threshold=2**31, backend="triton", **kw)
    # the binding checks on its own too (a caller of _C directly)
    with pytest.raises(ValueError, match="keys"):
        _C.score_kgw_keys(tokens, offsets, None, np.zeros((2, 3), np.uint32), 2**31, 1, 0, True,
                          False)  # fmt: skip
    with pytest.raises(TypeError, match="keys"):
        _C.score_kgw_keys(tokens, offsets, None, np.zeros((2, 4), np.int64), 2**31, 1, 0, True,
                          False)  # fmt: skip


def _configs():
    return [
        (tm.KGW(key=b"unused", gamma=0.25, context_width=2), {}),
        (tm.KGW(key=b"unused", gamma=0.5, context_width=1, seeding="minhash", dedup=False), {}),
        (tm.Gumbel(key=b"unused", context_width=3), {"salt": 7}),
        (tm.SynthID(key=b"unused", layers=12, context_width=2), {"eos_token_id": 5}),
    ]


@pytest.mark.parametrize(
    ("wm", "opts"), _configs(), ids=["kgw", "kgw-minhash", "gumbel", "synthid"]
)
def test_detect_many_equals_detect_per_key(wm, opts):
    tokens, offsets, prefix = _batch(5)
    seqs = [tokens[offsets[d] : offsets[d + 1]] for d in range(len(LENGTHS))]
    keys = [b"customer-1", "customer-2", 3, tm.Key(b"v4")]
    many = wm.detect_many(seqs, keys=keys, prefix_lengths=prefix, **opts)
    assert len(many) == len(keys)
    for key, got in zip(keys, many, strict=True):
        want = dataclasses.replace(wm, key=tm.Key(key)).detect(seqs, prefix_lengths=prefix, **opts)
        for f in dataclasses.fields(want):
            w, g = getattr(want, f.name), getattr(got, f.name)
            if w is None:
                assert g is None, f.name
            else:
                np.testing.assert_array_equal(g, w, err_msg=f.name)


def test_detect_many_bad_keys_name_the_argument():
    wm = tm.KGW(key=b"unused")
    for bad in (b"one key", tm.Key(b"k"), 7):
        with pytest.raises(TypeError, match="^keys: expected a list"):
            wm.detect_many([[1, 2, 3]], keys=bad)
    with pytest.raises(TypeError, match=r"^keys\[1\]"):
        wm.detect_many([[1, 2, 3]], keys=[b"ok", b""])
    assert wm.detect_many([[1, 2, 3]], keys=[]) == []


def test_null_p_values_uniform_over_keys_and_documents():
    """Random tokens are unwatermarked for every key: the Gumbel p-values (continuous) of 64 keys
    x 300 documents are uniform, and so is each key's share of p <= 0.05 for KGW, over keys."""
    rng = np.random.default_rng(2024)
    lens = rng.integers(20, 120, 300)
    tokens = rng.integers(0, 50000, lens.sum()).astype(np.int32)
    rag = tm.Ragged(tokens, np.concatenate([[0], np.cumsum(lens)]).astype(np.int64))
    keys = [tm.Key(i) for i in range(1000, 1064)]
    gum = tm.Gumbel(key=b"unused", context_width=2).detect_many(rag, keys=keys)
    p = np.concatenate([r.p_value for r in gum])
    assert stats.kstest(p, "uniform").pvalue > 1e-3
    per_key = np.array([stats.kstest(r.p_value, "uniform").pvalue for r in gum])
    assert stats.kstest(per_key, "uniform").pvalue > 1e-3  # per key too (independent tokens)
    kgw = tm.KGW(key=b"unused", gamma=0.25, context_width=2).detect_many(rag, keys=keys)
    fpr = np.array([(r.p_value <= 0.05).mean() for r in kgw])
    # exact binomial tails on discrete counts: P[p <= 0.05] <= 0.05 per document and key
    assert stats.binomtest(int((fpr * 300).sum()), 300 * 64, 0.05, "greater").pvalue > 1e-3
