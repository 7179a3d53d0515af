"""The Triton Gumbel sampler, Gumbel scorer and SynthID scorer against the numpy reference.

Without a GPU the kernels run under the Triton interpreter on CPU tensors (conftest.py sets
TRITON_INTERPRET=1), where ``log`` is numpy's, the reference's own: every output, float64 scores
included, must match bit for bit. Compiled kernels use CUDA's double ``log`` (within 1 ulp of the
host's), so on a GPU the scores are compared to a relative 1e-12, as tests/test_cuda_gumbel.py
does for the CUDA kernels; sampled tokens, counts and flags stay exact (docs/prf.md). The `gpu`
tests add real vocabularies and corpora, against the C++ kernels on host copies.
"""

import numpy as np
import pytest
import torch
from tensor_helpers import as_i32, host_logits, random_logits

triton = pytest.importorskip("triton", reason="triton is not installed")
from tokenmark import _C, ops  # noqa: E402
from tokenmark.backends.triton import _common as triton_common  # noqa: E402
from tokenmark.backends.triton import gumbel as triton_gumbel  # noqa: E402
from tokenmark.backends.triton import synthid as triton_synthid  # noqa: E402
from tokenmark.reference import gumbel as ref_gumbel  # noqa: E402
from tokenmark.reference import synthid as ref_synthid  # noqa: E402
from triton_helpers import (  # noqa: E402
    DEVICE,
    INTERPRETING,
    assert_rejects,
    gpu_test,
    row_bad_cases,
    score_bad_cases,
    score_ok,
)

# Scores: bit for bit where the log is numpy's; else CUDA's log, as in test_cuda_gumbel.py.
SCORE_RTOL = 0.0 if INTERPRETING else 1e-12
KEY = (0x01234567, 0x89ABCDEF, 0xDEADBEEF, 0x0BADF00D)
DTYPES = [torch.float32, torch.float16, torch.bfloat16]


@pytest.fixture
def small_blocks(monkeypatch):
    """Interpreter blocks of 64: several vocabulary blocks per row and several programs per
    corpus, so the cross-block argmax and the document search are exercised."""
    monkeypatch.setattr(triton_common, "INTERPRETER_BLOCK", 64)


def random_words(rng, shape) -> np.ndarray:
    return rng.integers(0, 2**32, size=shape, dtype=np.uint64).astype(np.uint32)


def triton_sample(logits, ids, keys, salts, enabled, width, seeding, skip) -> np.ndarray:
    out = triton_gumbel.sample_gumbel(
        logits.to(DEVICE),
        ids.to(DEVICE),
        as_i32(keys).reshape(-1, 4).to(DEVICE),
        as_i32(salts).reshape(-1).to(DEVICE),
        None if enabled is None else enabled.to(DEVICE),
        width,
        seeding,
        skip,
    )
    assert out.dtype == torch.int64 and out.device.type == DEVICE
    return out.cpu().numpy()


def reference_sample(logits, ids, keys, salts, enabled, width, seeding, skip) -> np.ndarray:
    arr, dtype = host_logits(logits)
    en = None if enabled is None else enabled.numpy().astype(np.uint8)
    return ref_gumbel.sample_gumbel(
        arr, ids.numpy(), keys, salts, en, width, seeding, skip, dtype
    )  # fmt: skip


# ---------------------------------------------------------------------------------------------
# Gumbel sampling.


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize(
    ("batch", "vocab", "width", "seeding", "ids_dtype"),
    [(1, 1, 1, 0, torch.int64), (3, 17, 2, 1, torch.int32), (4, 203, 1, 0, torch.int64)],
)
def test_sample_matches_reference(small_blocks, dtype, batch, vocab, width, seeding, ids_dtype):
    gen = torch.Generator().manual_seed(vocab * 7 + batch)
    logits = random_logits(batch, vocab, dtype, gen)
    # Ids from a small range, so some rows repeat their context (skip_repeated matters).
    ids = torch.randint(0, 6, (batch, 70), generator=gen).to(ids_dtype)
    rng = np.random.default_rng(vocab)
    keys, salts = random_words(rng, (batch, 4)), random_words(rng, batch)
    outs = {}
    for skip in (True, False):
        want = reference_sample(logits, ids, keys, salts, None, width, seeding, skip)
        got = triton_sample(logits, ids, keys, salts, None, width, seeding, skip)
        np.testing.assert_array_equal(got, want)
        outs[skip] = want
    assert (outs[False] >= 0).any()  # rows were watermarked, not only skipped


def test_sample_skips_repeated_contexts(small_blocks):
    # Row 0's last context (7, 8) occurs earlier, past the first ids block of 64; row 1's not.
    ids = torch.arange(100, 300, dtype=torch.int64).reshape(2, 100)
    ids[0, 80:82] = torch.tensor([7, 8])
    ids[0, -2:] = torch.tensor([7, 8])
    logits = torch.randn(2, 50, generator=torch.Generator().manual_seed(1))
    keys, salts = np.array([KEY], np.uint32), np.zeros(1, np.uint32)
    for skip in (True, False):
        want = reference_sample(logits, ids, keys, salts, None, 2, 0, skip)
        got = triton_sample(logits, ids, keys, salts, None, 2, 0, skip)
        np.testing.assert_array_equal(got, want)
        assert (got[0] == -1) == skip and got[1] >= 0


def test_sample_special_rows(small_blocks):
    gen = torch.Generator().manual_seed(7)
    logits = random_logits(7, 700, torch.float32, gen)
    logits[1] = -float("inf")  # no finite logit: -2
    logits[2] = float("nan")
    logits[3, 100] = float("inf")  # +inf wins; of two +inf (in different blocks) the lowest id
    logits[3, 500] = float("inf")
    logits[4] = 0.0  # all equal: the noise alone decides
    ids = torch.arange(7 * 5).reshape(7, 5)
    enabled = torch.tensor([1, 1, 1, 1, 1, 0, 1], dtype=torch.bool)
    keys, salts = np.array([KEY], np.uint32), np.array([99], np.uint32)
    want = reference_sample(logits, ids, keys, salts, enabled, 2, 0, True)
    got = triton_sample(logits, ids, keys, salts, enabled, 2, 0, True)
    np.testing.assert_array_equal(got, want)
    assert got[1] == -2 and got[2] == -2 and got[3] == 100 and got[5] == -1
    short = triton_sample(logits, ids[:, :1], keys, salts, None, 2, 0, True)
    assert (short == -1).all()  # fewer ids than the context width: not watermarked


def test_sample_strided_rows_and_broadcast_params(small_blocks):
    gen = torch.Generator().manual_seed(3)
    full = random_logits(3 * 4, 101, torch.bfloat16, gen).reshape(3, 4, 101)
    logits = full[:, -1, :]  # rows 4 * 101 elements apart
    ids = torch.randint(0, 1000, (3, 9), generator=gen)
    keys, salts = np.array([KEY], np.uint32), np.array([5], np.uint32)
    want = reference_sample(logits, ids, keys, salts, None, 3, 1, True)
    np.testing.assert_array_equal(triton_sample(logits, ids, keys, salts, None, 3, 1, True), want)


def test_sample_empty_batch():
    out = triton_gumbel.sample_gumbel(
        torch.zeros(0, 10, device=DEVICE),
        torch.zeros(0, 3, dtype=torch.int64, device=DEVICE),
        as_i32([KEY]).to(DEVICE),
        as_i32([0]).to(DEVICE),
        None,
        1,
        0,
        True,
    )
    assert out.shape == (0,) and out.dtype == torch.int64


def test_sample_dispatch(rng):
    # ops.sample_gumbel(backend="triton") takes host arrays (the interpreter) or CUDA tensors.
    x = rng.standard_normal((3, 40)).astype(np.float32)
    ids = rng.integers(0, 40, (3, 6))
    kw = dict(keys=KEY, salts=[1, 2, 3], context_width=2, seeding=0, enabled=[True, False, True])
    want = ops.sample_gumbel(x, ids, backend="cpu", **kw)
    if DEVICE == "cpu":
        got = ops.sample_gumbel(x, ids, backend="triton", **kw)
    else:
        got = ops.sample_gumbel(
            torch.from_numpy(x).cuda(), torch.from_numpy(ids).cuda(), backend="triton", **kw
        )
    np.testing.assert_array_equal(got.cpu().numpy(), want)
    assert want[1] == -1 and (want[[0, 2]] >= 0).all()


def test_sample_bad_input():
    logits = torch.zeros(2, 10, device=DEVICE)
    ids = torch.zeros(2, 4, dtype=torch.int64, device=DEVICE)
    keys = torch.zeros(1, 4, dtype=torch.int32, device=DEVICE)
    salts = torch.zeros(1, dtype=torch.int32, device=DEVICE)
    ok = dict(
        logits=logits,
        input_ids=ids,
        keys=keys,
        salts=salts,
        enabled=None,
        context_width=2,
        seeding=0,
        skip_repeated=True,
    )
    cases = row_bad_cases(logits, ids, keys) + [
        (TypeError, "logits", dict(logits=logits.cpu().numpy())),
        (ValueError, "logits", dict(logits=logits[0])),
        (TypeError, "salts", dict(salts=salts.to(torch.int64))),
        (ValueError, "salts", dict(salts=torch.zeros(3, dtype=torch.int32, device=DEVICE))),
        (ValueError, "enabled", dict(enabled=torch.ones(3, dtype=torch.uint8, device=DEVICE))),
        (ValueError, "context_width", dict(context_width=1025)),
    ]
    if DEVICE != "cpu":
        cases.append((ValueError, "keys", dict(keys=keys.cpu())))
    assert_rejects(triton_gumbel.sample_gumbel, ok, cases)


# ---------------------------------------------------------------------------------------------
# Scoring.

LENS = [[0, 1, 4, 5, 90, 0, 0, 2], [0], [7], [], [1] * 20 + [0] * 5 + [40]]


def ragged(lens, vocab, seed) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    offsets = np.concatenate([[0], np.cumsum(lens)]).astype(np.int64)
    return rng.integers(0, vocab, int(offsets[-1])).astype(np.int32), offsets


def on_device(*arrays):
    return [None if a is None else torch.from_numpy(a).to(DEVICE) for a in arrays]


@pytest.mark.parametrize("lens", LENS)
@pytest.mark.parametrize(("width", "seeding"), [(0, 0), (1, 0), (3, 1)])
@pytest.mark.parametrize("dedup", [False, True])
def test_score_gumbel_matches_reference(small_blocks, lens, width, seeding, dedup):
    # A small vocabulary makes (context, token) pairs repeat, so dedup matters.
    tokens, offsets = ragged(lens, 4 if dedup else 50000, len(lens) + width)
    rng = np.random.default_rng(width + 17 * len(lens))
    n_docs = len(lens)
    prefix = rng.integers(0, 8, n_docs).astype(np.int64)
    for salts in (random_words(rng, max(n_docs, 1)), np.array([77], np.uint32)):
        for pre in (None, prefix):
            want = ref_gumbel.score_gumbel(
                tokens, offsets, pre, np.array(KEY, np.uint32), salts, width, seeding, dedup
            )
            tok, off, pre_t = on_device(tokens, offsets, pre)
            got = triton_gumbel.score_gumbel(
                tok, off, pre_t, KEY, as_i32(salts).to(DEVICE), width, seeding, dedup, True
            )
            assert all(t.device.type == DEVICE for t in got)
            np.testing.assert_array_equal(got[0].cpu().numpy(), want[0])
            np.testing.assert_allclose(got[1].cpu().numpy(), want[1], rtol=SCORE_RTOL, atol=0)
            np.testing.assert_array_equal(got[2].cpu().numpy(), want[2])


@pytest.mark.parametrize("lens", LENS)
@pytest.mark.parametrize(("width", "seeding", "layers"), [(0, 0, 1), (1, 0, 30), (3, 1, 32)])
@pytest.mark.parametrize("dedup", [False, True])
def test_score_synthid_matches_reference(small_blocks, lens, width, seeding, layers, dedup):
    tokens, offsets = ragged(lens, 4 if dedup else 50000, len(lens) + layers)
    prefix = np.random.default_rng(layers).integers(0, 8, len(lens)).astype(np.int64)
    for pre in (None, prefix):
        want = ref_synthid.score_synthid(
            tokens, offsets, pre, np.array(KEY, np.uint32), width, seeding, layers, dedup
        )
        tok, off, pre_t = on_device(tokens, offsets, pre)
        got = triton_synthid.score_synthid(
            tok, off, pre_t, KEY, width, seeding, layers, dedup, True
        )
        assert got[1].shape == (len(lens), layers) and got[1].dtype == torch.int64
        for g, w in zip(got, want, strict=True):
            np.testing.assert_array_equal(g.cpu().numpy(), w)


def test_score_dispatch_and_no_flags():
    tokens, offsets = ragged([5, 0, 30, 9], 7, 0)
    # Host arrays run under the interpreter; on a GPU the triton backend takes CUDA tensors.
    args = (tokens, offsets) if DEVICE == "cpu" else on_device(tokens, offsets)
    kw = dict(key=KEY, context_width=2, seeding=0, want_flags=True)
    want = ops.score_gumbel(tokens, offsets, salts=[1, 2, 3, 4], backend="cpu", **kw)
    got = ops.score_gumbel(*args, salts=[1, 2, 3, 4], backend="triton", **kw)
    np.testing.assert_array_equal(got[0].cpu().numpy(), want[0])
    np.testing.assert_allclose(got[1].cpu().numpy(), want[1], rtol=SCORE_RTOL, atol=0)
    np.testing.assert_array_equal(got[2].cpu().numpy(), want[2])
    want = ops.score_synthid(tokens, offsets, layers=30, backend="cpu", **kw)
    got = ops.score_synthid(*args, layers=30, backend="triton", **kw)
    for g, w in zip(got, want, strict=True):
        np.testing.assert_array_equal(g.cpu().numpy(), w)
    no_flags = dict(kw, want_flags=False)
    assert ops.score_gumbel(*args, backend="triton", **no_flags)[2] is None
    assert ops.score_synthid(*args, backend="triton", **no_flags)[2] is None


def test_score_empty_corpus():
    tok, off = on_device(np.zeros(0, np.int32), np.zeros(1, np.int64))
    salts = as_i32([0]).to(DEVICE)
    n, score, counted = triton_gumbel.score_gumbel(tok, off, None, KEY, salts, 1, 0, True, True)
    assert n.shape == score.shape == (0,) and counted.shape == (0,)
    n, ones, counted = triton_synthid.score_synthid(tok, off, None, KEY, 1, 0, 30, True, True)
    assert n.shape == (0,) and ones.shape == (0, 30) and counted.shape == (0,)


def test_score_gumbel_bad_input():
    salts = torch.zeros(2, dtype=torch.int32, device=DEVICE)
    ok = score_ok(salts=salts)
    cases = score_bad_cases(ok) + [
        (TypeError, "salts", dict(salts=salts.long())),
        (ValueError, "salts", dict(salts=torch.zeros(3, dtype=torch.int32, device=DEVICE))),
    ]
    assert_rejects(triton_gumbel.score_gumbel, ok, cases)


def test_score_synthid_bad_input():
    ok = score_ok(layers=30)
    cases = score_bad_cases(ok) + [
        (ValueError, "layers", dict(layers=0)),
        (ValueError, "layers", dict(layers=33)),
    ]
    assert_rejects(triton_synthid.score_synthid, ok, cases)


def test_key_never_in_errors():
    secret = (0x5EC12E7, 0x5EC12E8, 0x5EC12E9, 2**32)
    tokens, offsets = on_device(np.zeros(3, np.int32), np.array([0, 3], np.int64))
    with pytest.raises(ValueError) as err:
        triton_synthid.score_synthid(tokens, offsets, None, secret, 1, 0, 30, True, False)
    assert not any(f"{w}" in str(err.value) or f"{w:x}" in str(err.value) for w in secret[:3])


# ---------------------------------------------------------------------------------------------
# GPU: the compiled kernels at real sizes, against the C++ kernels on host copies.


@gpu_test
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("vocab", [1, 1019, 32000, 128256, 151936])
@pytest.mark.parametrize("batch", [1, 37])
def test_gpu_sample_matches_cpu(dtype, vocab, batch):
    gen = torch.Generator().manual_seed(vocab * 131 + batch)
    logits = random_logits(batch, vocab, dtype, gen)
    # Settings tied to the vocabulary's parity: both id dtypes and seedings, few compilations.
    width, seeding, ids_dtype = (1, 0, torch.int32) if vocab % 2 else (4, 1, torch.int64)
    ids = torch.randint(0, 30, (batch, 600), generator=gen).to(ids_dtype)
    rng = np.random.default_rng(vocab + batch)
    keys, salts = random_words(rng, (batch, 4)), random_words(rng, batch)
    enabled = torch.from_numpy(rng.integers(0, 2, batch).astype(np.uint8))
    arr, dtype_name = host_logits(logits)
    chosen = False
    for skip in (True, False):
        for en in (None, enabled):
            want = _C.sample_gumbel(
                arr, dtype_name, ids.numpy(), keys, salts,
                None if en is None else en.numpy(), width, seeding, skip,
            )  # fmt: skip
            got = triton_sample(logits.cuda(), ids.cuda(), keys, salts, en, width, seeding, skip)
            np.testing.assert_array_equal(got, want)
            chosen |= bool((want >= 0).any())
    assert chosen  # rows were watermarked, not only skipped


@gpu_test
@pytest.mark.parametrize("lens", [[20000, 3, 9000], [1] * 5000 + [0] * 50 + [400] * 200])
@pytest.mark.parametrize(("width", "seeding"), [(0, 0), (1, 0), (4, 1)])
@pytest.mark.parametrize("dedup", [False, True])
def test_gpu_score_matches_cpu(lens, width, seeding, dedup):
    tokens, offsets = ragged(lens, 6 if dedup else 128256, len(lens) + width)
    rng = np.random.default_rng(width)
    n_docs = len(lens)
    salts = random_words(rng, n_docs)
    prefix = rng.integers(0, 8, n_docs).astype(np.int64)
    for pre in (None, prefix):
        kw = dict(key=KEY, context_width=width, seeding=seeding, dedup=dedup, want_flags=True)
        want = ops.score_gumbel(
            tokens, offsets, salts=salts, prefix_lengths=pre, backend="cpu", **kw
        )  # fmt: skip
        tok, off, pre_t = on_device(tokens, offsets, pre)
        got = ops.score_gumbel(tok, off, salts=salts, prefix_lengths=pre_t, backend="triton", **kw)
        assert all(t.is_cuda for t in got)
        np.testing.assert_array_equal(got[0].cpu().numpy(), want[0])
        np.testing.assert_allclose(got[1].cpu().numpy(), want[1], rtol=1e-12, atol=0)
        np.testing.assert_array_equal(got[2].cpu().numpy(), want[2])
        want = ops.score_synthid(tokens, offsets, prefix_lengths=pre, backend="cpu", **kw)
        got = ops.score_synthid(tok, off, prefix_lengths=pre_t, backend="triton", **kw)
        assert all(t.is_cuda for t in got)
        for g, w in zip(got, want, strict=True):
            np.testing.assert_array_equal(g.cpu().numpy(), w)


@gpu_test
def test_gpu_generation_is_detected():
    # End to end on the device: sample with the Triton sampler, score with the Triton scorer.
    gen = torch.Generator().manual_seed(5)
    ids = torch.randint(0, 1000, (4, 1), generator=gen).cuda()
    for _ in range(60):
        logits = torch.randn(4, 1000, generator=gen).cuda()
        nxt = ops.sample_gumbel(logits, ids, keys=KEY, context_width=1, seeding=0, backend="triton")
        nxt = torch.where(nxt >= 0, nxt, torch.zeros_like(nxt))  # repeats: any token will do
        ids = torch.cat([ids, nxt[:, None]], dim=1)
    tokens = ids.flatten().to(torch.int32)
    offsets = torch.arange(0, 4 * 61 + 1, 61, device="cuda")
    n, score, _ = ops.score_gumbel(
        tokens, offsets, key=KEY, context_width=1, seeding=0, backend="triton"
    )
    want = ops.score_gumbel(
        tokens.cpu().numpy(),
        offsets.cpu().numpy(),
        key=KEY,
        context_width=1,
        seeding=0,
        backend="cpu",
    )
    np.testing.assert_array_equal(n.cpu().numpy(), want[0])
    np.testing.assert_allclose(score.cpu().numpy(), want[1], rtol=1e-12)
    # Watermarked: far above the null mean of 1 per counted token.
    assert (score.cpu().numpy() > 1.5 * n.cpu().numpy()).all()
