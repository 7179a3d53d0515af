"""Every (operation, backend) pair of the dispatch table against the numpy reference, through the
public ops: integers bit for bit, float scores to a stated tolerance. A pair that cannot run on
this machine is a visible skipped row with the reason, never a missing test."""

from __future__ import annotations

import os

import numpy as np
import pytest
import tokenmark as tm
from tokenmark import backends, ops

KEY = tm.Key(b"parity grid").words
THR = int(0.25 * 2**32)


def _unavailable(backend: str) -> str | None:
    if backend in backends.HOST_BACKENDS:
        return None
    import torch

    if backend == "cuda":
        from tokenmark.backends.cuda import _common

        return None if _common.available() else "no CUDA build or no CUDA device"
    if not backends.triton_importable():
        return "triton is not installed"
    if torch.cuda.is_available() or os.environ.get("TRITON_INTERPRET") == "1":
        return None
    return "no CUDA device and TRITON_INTERPRET is not set"


def _device(backend: str) -> str | None:
    """Where the inputs live: None (numpy) for the host backends, else a torch device."""
    if backend in backends.HOST_BACKENDS:
        return None
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def _to(device, *arrays):
    if device is None:
        return arrays
    import torch

    return tuple(None if a is None else torch.as_tensor(a, device=device) for a in arrays)


def _np(x):
    return x if isinstance(x, np.ndarray) or x is None else x.cpu().numpy()


def _ragged(rng):
    lens = [0, 1, 5, 40, 3, 17]
    tokens = rng.integers(0, 50, sum(lens)).astype(np.int32)
    tokens[40:60] = tokens[20:40]  # repeated (context, token) pairs: dedup matters
    offsets = np.concatenate([[0], np.cumsum(lens)]).astype(np.int64)
    prefix = np.array([0, 3, 2, 0, 1, 2**62], np.int64)  # a prefix past its document: clamped
    return tokens, offsets, prefix


def _rows(rng, batch=5, vocab=67):
    logits = rng.normal(0, 3, (batch, vocab)).astype(np.float32)
    logits[1, ::3] = -np.inf  # masked entries stay masked
    ids = rng.integers(0, vocab, (batch, 6)).astype(np.int64)
    return logits, ids


def case_apply_kgw_bias_(backend, rng):
    logits, ids = _rows(rng)
    dev = _device(backend)
    (x, i) = _to(dev, logits.copy(), ids)
    kw = dict(keys=KEY, thresholds=THR, deltas=2.0, context_width=2, seeding=0)
    ops.apply_kgw_bias_(x, i, backend=backend, **kw)
    want = ops.apply_kgw_bias_(logits.copy(), ids, backend="reference", **kw)
    np.testing.assert_array_equal(_np(x), want)


def case_score_kgw(backend, rng):
    tokens, offsets, prefix = _ragged(rng)
    kw = dict(key=KEY, threshold=THR, context_width=2, seeding=1, want_flags=True)
    got = ops.score_kgw(*_to(_device(backend), tokens, offsets), prefix_lengths=
                        _to(_device(backend), prefix)[0], backend=backend, **kw)  # fmt: skip
    want = ops.score_kgw(tokens, offsets, prefix_lengths=prefix, backend="reference", **kw)
    for g, w in zip(got, want, strict=True):
        np.testing.assert_array_equal(_np(g), w)


def case_sample_gumbel(backend, rng):
    logits, ids = _rows(rng)
    kw = dict(keys=KEY, salts=7, context_width=2, seeding=0, skip_repeated=False)
    got = ops.sample_gumbel(*_to(_device(backend), logits, ids), backend=backend, **kw)
    want = ops.sample_gumbel(logits, ids, backend="reference", **kw)
    np.testing.assert_array_equal(_np(got), want)


def case_score_gumbel(backend, rng):
    tokens, offsets, prefix = _ragged(rng)
    dev = _device(backend)
    kw = dict(key=KEY, context_width=2, seeding=0, want_flags=True)
    got = ops.score_gumbel(*_to(dev, tokens, offsets), prefix_lengths=_to(dev, prefix)[0],
                           backend=backend, **kw)  # fmt: skip
    want = ops.score_gumbel(tokens, offsets, prefix_lengths=prefix, backend="reference", **kw)
    np.testing.assert_array_equal(_np(got[0]), want[0])
    np.testing.assert_allclose(_np(got[1]), want[1], rtol=1e-12)  # float64 sums, same order
    np.testing.assert_array_equal(_np(got[2]), want[2])


def case_sample_synthid(backend, rng):
    logits, ids = _rows(rng)
    u = rng.random(logits.shape[0])
    kw = dict(keys=KEY, context_width=2, seeding=0, layers=12, top_k=0, context_history=0)
    dev = _device(backend)
    got = ops.sample_synthid(*_to(dev, logits, ids), uniforms=_to(dev, u)[0], backend=backend,
                             **kw)  # fmt: skip
    want = ops.sample_synthid(logits, ids, uniforms=u, backend="reference", **kw)
    for g, w in zip(got, want, strict=True):
        np.testing.assert_array_equal(_np(g), w)


def case_score_synthid(backend, rng):
    tokens, offsets, prefix = _ragged(rng)
    dev = _device(backend)
    kw = dict(key=KEY, context_width=2, seeding=1, layers=12, want_flags=True)
    got = ops.score_synthid(*_to(dev, tokens, offsets), prefix_lengths=_to(dev, prefix)[0],
                            backend=backend, **kw)  # fmt: skip
    want = ops.score_synthid(tokens, offsets, prefix_lengths=prefix, backend="reference", **kw)
    for g, w in zip(got, want, strict=True):
        np.testing.assert_array_equal(_np(g), w)


def case_apply_ginsew_(backend, rng):
    logits, ids = _rows(rng)
    dev = _device(backend)
    (x, i) = _to(dev, logits.copy(), ids)
    kw = dict(keys=KEY, epsilon=0.2, frequency=16.0, context_width=2, fraction=0.5)
    ops.apply_ginsew_(x, i, backend=backend, **kw)
    want = ops.apply_ginsew_(logits.copy(), ids, backend="reference", **kw)
    # float32 exp/log against the reference's float64: a stated tolerance (as in
    # tests/backends/test_ginsew_backends.py); -inf entries stay exactly -inf.
    got = _np(x)
    np.testing.assert_array_equal(np.isneginf(got), np.isneginf(want))
    fin = np.isfinite(want)
    np.testing.assert_allclose(
        got[fin], want[fin], rtol=0, atol=4e-6 * (1 + np.abs(want[fin])).max()
    )


def case_score_sglang(backend, rng):
    tokens, offsets, prefix = _ragged(rng)
    prefix[0] = 0  # a document without a prompt: its first context_width tokens are not scored
    kw = dict(keys=np.array([2**64 - 3, 5], np.uint64), context_width=2, threshold=THR,
              max_contexts=12, want_flags=True)  # fmt: skip
    want = ops.score_sglang(tokens, offsets, prefix_lengths=prefix, backend="reference", **kw)
    t, o, p = _to(_device(backend), tokens, offsets, prefix)
    got = [_np(x) for x in ops.score_sglang(t, o, prefix_lengths=p, backend=backend, **kw)]
    for i in (0, 1, 3):
        np.testing.assert_array_equal(got[i], want[i])
    np.testing.assert_allclose(got[2], want[2], rtol=1e-12)  # float64 sums, another order


def case_score_vllm(backend, rng):
    tokens, offsets, prefix = _ragged(rng)
    kw = dict(keys=np.array([2**64 - 3, 5], np.uint64), weights=np.array([0.7, 0.3]),
              context_width=2, want_flags=True)  # fmt: skip
    want = ops.score_vllm(tokens, offsets, prefix_lengths=prefix, backend="reference", **kw)
    t, o, p = _to(_device(backend), tokens, offsets, prefix)
    got = [_np(x) for x in ops.score_vllm(t, o, prefix_lengths=p, backend=backend, **kw)]
    np.testing.assert_array_equal(got[0], want[0])
    np.testing.assert_allclose(got[1], want[1], rtol=1e-12)  # float64 sums, another order
    np.testing.assert_array_equal(got[2], want[2])


def case_synthid_text_g_values(backend, rng):
    hashes = rng.integers(0, 2**64, 50, dtype=np.uint64)
    keys = rng.integers(0, 2**64, 7, dtype=np.uint64)
    for size in (1, 64, 1000):  # a power of 2 (low bits) and not (floor modulo of the int64)
        table = rng.integers(0, 2, size).astype(np.uint8)
        got = ops.synthid_text_g_values(hashes, keys=keys, table=table, backend=backend)
        want = ops.synthid_text_g_values(hashes, keys=keys, table=table, backend="reference")
        np.testing.assert_array_equal(got, want)


def case_score_synthid_text(backend, rng):
    tokens, offsets, prefix = _ragged(rng)
    tokens[60:75] = 3  # a run: repeated contexts within the history, and EOS (3) inside
    kw = dict(keys=rng.integers(0, 2**64, 5, dtype=np.uint64), ngram_len=3,
              table=rng.integers(0, 2, 1000).astype(np.uint8), context_history_size=4,
              want_flags=True)  # fmt: skip
    t, o, p = _to(_device(backend), tokens, offsets, prefix)
    for eos in (None, 3):
        got = ops.score_synthid_text(t, o, prefix_lengths=p, eos_token_id=eos, backend=backend,
                                     **kw)  # fmt: skip
        want = ops.score_synthid_text(tokens, offsets, prefix_lengths=prefix, eos_token_id=eos,
                                      backend="reference", **kw)  # fmt: skip
        for g, w in zip(got, want, strict=True):
            np.testing.assert_array_equal(_np(g), w)


def case_torch_cpu_randperm(backend, rng):
    for n in (0, 1, 2, 67):
        want = ops.torch_cpu_randperm(2**40 + 3, n, backend="reference")
        np.testing.assert_array_equal(ops.torch_cpu_randperm(2**40 + 3, n, backend=backend), want)


def case_torch_cpu_green_lists(backend, rng):
    seeds = np.array([0, 1, 2**32 + 1, 15485863 * 7], np.uint64)
    kw = dict(vocab=67, green_size=16)
    got = ops.torch_cpu_green_lists(seeds, backend=backend, **kw)
    np.testing.assert_array_equal(got, ops.torch_cpu_green_lists(seeds, backend="reference", **kw))


# K keys in one pass: against the reference (which loops over keys), and each key against the
# single-key op on the same backend, bit for bit (the Gumbel sums included: same terms, same order).
KEYS = np.stack([tm.Key(i).words for i in range(5)])


def _check_keys(got, want, single, float_stat=False):
    np.testing.assert_array_equal(got[0], want[0])
    np.testing.assert_array_equal(got[2], want[2])
    if float_stat:
        np.testing.assert_allclose(got[1], want[1], rtol=1e-12)  # float64 sums, same order
    else:
        np.testing.assert_array_equal(got[1], want[1])
    assert got[1].shape[0] == len(KEYS)
    for k, one in enumerate(single):
        np.testing.assert_array_equal(one[0], got[0])
        np.testing.assert_array_equal(one[1], got[1][k])
        np.testing.assert_array_equal(one[-1], got[2])


def case_score_kgw_keys(backend, rng):
    tokens, offsets, prefix = _ragged(rng)
    kw = dict(threshold=THR, context_width=2, seeding=1, want_flags=True, prefix_lengths=prefix)
    got = ops.score_kgw_keys(tokens, offsets, keys=KEYS, backend=backend, **kw)
    want = ops.score_kgw_keys(tokens, offsets, keys=KEYS, backend="reference", **kw)
    single = [ops.score_kgw(tokens, offsets, key=k, backend=backend, **kw) for k in KEYS]
    _check_keys(got, want, [(n, g, c) for n, g, _, c in single])


def case_score_gumbel_keys(backend, rng):
    tokens, offsets, prefix = _ragged(rng)
    salts = rng.integers(0, 2**32, len(offsets) - 1).astype(np.uint32)
    kw = dict(salts=salts, context_width=2, seeding=0, want_flags=True, prefix_lengths=prefix)
    got = ops.score_gumbel_keys(tokens, offsets, keys=KEYS, backend=backend, **kw)
    want = ops.score_gumbel_keys(tokens, offsets, keys=KEYS, backend="reference", **kw)
    single = [ops.score_gumbel(tokens, offsets, key=k, backend=backend, **kw) for k in KEYS]
    _check_keys(got, want, single, float_stat=True)


def case_score_synthid_keys(backend, rng):
    tokens, offsets, prefix = _ragged(rng)
    kw = dict(context_width=2, seeding=1, layers=12, want_flags=True, prefix_lengths=prefix)
    got = ops.score_synthid_keys(tokens, offsets, keys=KEYS, backend=backend, **kw)
    want = ops.score_synthid_keys(tokens, offsets, keys=KEYS, backend="reference", **kw)
    single = [ops.score_synthid(tokens, offsets, key=k, backend=backend, **kw) for k in KEYS]
    _check_keys(got, want, single)


CASES = {name.removeprefix("case_"): fn for name, fn in globals().items() if name[:5] == "case_"}


def _params():
    """Every (op, backend) pair of the table. The reference's own rows compare it with itself:
    they only check that the case runs there and its internal consistency (K keys against one
    key at a time, flags against counts), hence their id."""
    out = []
    for op, backend in backends.pairs():
        reason = _unavailable(backend)
        marks = [pytest.mark.skip(reason=reason)] if reason else []
        name = f"{op}-{backend}" + ("-runs" if backend == "reference" else "")
        out.append(pytest.param(op, backend, marks=marks, id=name))
    return out


def test_every_op_has_a_case():
    assert set(CASES) == set(backends.OPS)
    assert {op for op, _ in backends.pairs()} == set(backends.OPS)


@pytest.mark.parametrize(("op", "backend"), _params())
def test_parity(op, backend):
    CASES[op](backend, np.random.default_rng(7))
