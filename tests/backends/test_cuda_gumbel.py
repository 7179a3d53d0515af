"""The CUDA Gumbel kernels: argument checks everywhere, kernels against the CPU op on a GPU.

The CPU op (``_C``, itself bit-exact with the numpy reference, see test_gumbel.py) is the oracle.
Sampled tokens, counts and flags must match exactly. Scores are float64 sums of ``-log(1 - u)``
in the same order as on the CPU, but CUDA's ``log`` may differ from the host's in the last bit,
so scores are compared to a relative 1e-12. Outputs are poisoned before launches where the
kernels write into given buffers.
"""

from __future__ import annotations

import numpy as np
import pytest
import tokenmark as tm
import torch
from cuda_helpers import ROW_BINDING_CASES, SCORE_BINDING_CASES
from tokenmark import ops
from tokenmark.backends.cuda import gumbel as cuda_gumbel
from tokenmark.integrations.transformers import GumbelLogitsProcessor

cuda_mod = pytest.importorskip(
    "tokenmark._cuda", reason="tokenmark was built without CUDA", exc_type=ModuleNotFoundError
)

HAS_GPU = torch.cuda.is_available() and cuda_mod.device_count() > 0

KEY = (0x01234567, 0x89ABCDEF, 0xDEADBEEF, 0x0BADF00D)
DTYPES = [torch.float32, torch.float16, torch.bfloat16]


# --- everywhere (CPU-only machines included) -----------------------------------------------


def _sample_binding(**overrides):
    args = dict(
        logits=256, batch=2, vocab=8, logits_row_stride=8, logits_dtype=0, input_ids=512,
        ids_is_int64=True, ids_len=3, ids_row_stride=3, keys=1024, key_stride=0, salts=2048,
        salt_stride=0, enabled=0, width=1, seeding=0, skip_repeated=True, out=4096, device=0,
        stream=0, splits=0, workspace=0, workspace_bytes=0,
    )  # fmt: skip
    args.update(overrides)
    return cuda_mod.sample_gumbel(**args)


def _score_binding(**overrides):
    args = dict(
        tokens=256, n_tokens=4, offsets=512, n_docs=1, prefix=0, key=KEY, salts=1024,
        salt_stride=0, width=1, seeding=0, dedup=False, n_scored=2048, score=4096, counted=0,
        workspace=8192, workspace_bytes=1 << 10, device=0, stream=0,
    )  # fmt: skip
    args.update(overrides)
    return cuda_mod.score_gumbel(**args)


@pytest.mark.parametrize(
    ("overrides", "match"),
    ROW_BINDING_CASES
    + [
        ({"salt_stride": 4}, "salts"),
        ({"salts": 2}, "salts: device pointer not aligned"),
        ({"out": 0}, "out: null"),
        ({"out": 4100}, "out: device pointer not aligned"),
        ({"splits": -1}, "splits"),
        ({"vocab": 5000, "logits_row_stride": 5000}, "workspace: needs 96 bytes, got 0"),
        (
            {"vocab": 5000, "logits_row_stride": 5000, "workspace": 4, "workspace_bytes": 96},
            "workspace: device pointer not aligned to 8",
        ),
    ],
)
def test_sample_binding_validates(overrides, match):
    with pytest.raises(ValueError, match=match):
        _sample_binding(**overrides)


def test_sample_binding_empty_batch_is_a_no_op():
    _sample_binding(batch=0, logits=0, input_ids=0, keys=0, salts=0, out=0)


@pytest.mark.parametrize(
    ("overrides", "match"),
    SCORE_BINDING_CASES
    + [
        ({"salt_stride": 2}, "salts"),
        ({"salts": 0}, "salts: null"),
        ({"workspace_bytes": 8}, "workspace: needs"),
        ({"workspace": 0}, "workspace: null"),
        ({"workspace": 8196}, "workspace: device pointer not aligned"),
        ({"score": 4100}, "score: device pointer not aligned"),
    ],
)
def test_score_binding_validates(overrides, match):
    with pytest.raises(ValueError, match=match):
        _score_binding(**overrides)


def test_score_workspace_bytes():
    assert cuda_mod.score_gumbel_workspace_bytes(10, False) == 80
    assert cuda_mod.score_gumbel_workspace_bytes(10, True) == 80 + 80
    assert cuda_mod.score_gumbel_workspace_bytes(0, True) == 0
    with pytest.raises(ValueError, match="n_tokens"):
        cuda_mod.score_gumbel_workspace_bytes(-1, False)
    _score_binding(n_tokens=0, n_docs=0, tokens=0, n_scored=0, score=0, workspace_bytes=0)


@pytest.mark.skipif(HAS_GPU, reason="checks the behaviour without a CUDA device")
def test_no_device_gives_clear_errors():
    with pytest.raises(RuntimeError, match="no CUDA device"):
        cuda_gumbel.sample_gumbel(torch.zeros(2, 8), None, None, None, None, 1, 0, True)
    with pytest.raises(RuntimeError, match="no CUDA device"):
        cuda_gumbel.score_gumbel(None, None, None, KEY, None, 1, 0, False, False)
    # Arguments pass validation, then the launch reports the missing device, never crashes.
    with pytest.raises(RuntimeError, match="tokenmark CUDA sample_gumbel"):
        _sample_binding(batch=1, vocab=4)
    with pytest.raises(RuntimeError, match="tokenmark CUDA score_gumbel"):
        _score_binding()


# --- on a GPU --------------------------------------------------------------------------------


def _logits(batch, vocab, dtype, gen, special=True):
    x = torch.randn(batch, vocab, generator=gen) * 3
    if special and vocab > 1:
        n = max(1, batch * vocab // 40)
        flat = x.view(-1)
        flat[torch.randint(0, flat.numel(), (n,), generator=gen)] = -float("inf")
        flat[torch.randint(0, flat.numel(), (n,), generator=gen)] = float("nan")
        x[:, min(5, vocab - 1)] = x[:, 0]  # equal logits: the noise breaks the tie
    return x.to(dtype)


def _sample_both(logits, ids, keys, salts, enabled, width, seeding, skip):
    kw = dict(keys=keys, salts=salts, context_width=width, seeding=seeding, skip_repeated=skip)
    en_cpu = None if enabled is None else enabled.numpy()
    want = ops.sample_gumbel(logits, ids, enabled=en_cpu, backend="cpu", **kw)
    en_gpu = None if enabled is None else enabled.cuda()
    got = ops.sample_gumbel(logits.cuda(), ids.cuda(), enabled=en_gpu, backend="cuda", **kw)
    assert got.is_cuda and got.dtype == torch.int64
    return want, got.cpu().numpy()


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("vocab", [1, 17, 1019, 32000, 128256])
@pytest.mark.parametrize("batch", [1, 3, 37])
@pytest.mark.parametrize("ids_dtype", [torch.int64, torch.int32])
@pytest.mark.gpu
@pytest.mark.skipif(not HAS_GPU, reason="no CUDA device")
def test_sample_matches_cpu(dtype, vocab, batch, ids_dtype):
    gen = torch.Generator().manual_seed(vocab * 131 + batch)
    logits = _logits(batch, vocab, dtype, gen)
    width, seeding = (1, 0) if vocab % 2 else (4, 1)
    # Ids from a small range so some rows repeat their context (skip_repeated matters).
    ids = torch.randint(0, 30, (batch, 40), generator=gen).to(ids_dtype)
    rng = np.random.default_rng(vocab + batch)
    keys = rng.integers(0, 2**32, size=(batch, 4), dtype=np.uint64).astype(np.uint32)
    salts = rng.integers(0, 2**32, size=batch, dtype=np.uint64).astype(np.uint32)
    for skip in (True, False):
        want, got = _sample_both(logits, ids, keys, salts, None, width, seeding, skip)
        np.testing.assert_array_equal(got, want)
    assert (want >= 0).any()  # rows were watermarked, not only skipped


@pytest.mark.gpu
@pytest.mark.skipif(not HAS_GPU, reason="no CUDA device")
def test_sample_special_rows():
    gen = torch.Generator().manual_seed(7)
    logits = _logits(6, 1019, torch.float32, gen)
    logits[1] = -float("inf")  # no finite logit: -2, not raised on CUDA
    logits[2] = float("nan")
    logits[3, 100] = float("inf")  # +inf wins; the lowest of two +inf
    logits[3, 500] = float("inf")
    logits[4] = 0.0  # all equal: the noise alone decides
    ids = torch.arange(6 * 5).reshape(6, 5)
    enabled = torch.tensor([1, 1, 1, 1, 1, 0], dtype=torch.uint8)
    want_cpu_rows = [0, 3, 4, 5]
    got = ops.sample_gumbel(
        logits.cuda(), ids.cuda(), keys=KEY, context_width=2, seeding=0, enabled=enabled.cuda()
    ).cpu()
    want = ops.sample_gumbel(
        logits[want_cpu_rows], ids[want_cpu_rows], keys=KEY, context_width=2, seeding=0,
        enabled=enabled[want_cpu_rows].numpy(), backend="cpu",
    )  # fmt: skip
    np.testing.assert_array_equal(got[want_cpu_rows].numpy(), want)
    assert got[1] == -2 and got[2] == -2
    assert got[3] == 100 and got[5] == -1
    # Too short a context: not watermarked.
    short = ops.sample_gumbel(
        logits.cuda(), ids[:, :1].cuda(), keys=KEY, context_width=2, seeding=0
    )
    assert (short.cpu() == -1).all()


@pytest.mark.gpu
@pytest.mark.skipif(not HAS_GPU, reason="no CUDA device")
def test_sample_strided_rows_and_broadcast_params():
    gen = torch.Generator().manual_seed(3)
    full = _logits(3 * 4, 1021, torch.bfloat16, gen).reshape(3, 4, 1021)
    logits = full[:, -1, :]  # rows 4 * 1021 elements apart
    ids = torch.randint(0, 1000, (3, 9), generator=gen)
    got = ops.sample_gumbel(
        logits.cuda(), ids.cuda(), keys=KEY, salts=5, context_width=3, seeding=1
    )
    want = ops.sample_gumbel(
        logits.contiguous(), ids, keys=KEY, salts=5, context_width=3, seeding=1, backend="cpu"
    )
    np.testing.assert_array_equal(got.cpu().numpy(), want)


@pytest.mark.gpu
@pytest.mark.skipif(not HAS_GPU, reason="no CUDA device")
def test_processor_on_cuda_matches_cpu():
    wm = tm.Gumbel(key=b"processor-key", context_width=2)
    gen = torch.Generator().manual_seed(11)
    scores = _logits(5, 32000, torch.float32, gen, special=False)
    ids = torch.randint(0, 50, (5, 12), generator=gen)
    ids[0, -4:] = torch.tensor([7, 8, 7, 8])  # a repeated context: left unchanged
    want = GumbelLogitsProcessor(wm)(ids, scores.clone())
    got = GumbelLogitsProcessor(wm)(ids.cuda(), scores.cuda())
    torch.testing.assert_close(got.cpu(), want, rtol=0, atol=0)
    assert torch.equal(want[0], scores[0])


def _docs(lens, vocab, gen):
    offsets = torch.tensor(np.concatenate([[0], np.cumsum(lens)]), dtype=torch.int64)
    tokens = torch.randint(0, vocab, (int(offsets[-1]),), generator=gen, dtype=torch.int32)
    return tokens, offsets


@pytest.mark.parametrize(
    "lens",
    [[0, 1, 4, 5, 300, 0, 0, 2], [0], [7], [], [1] * 100 + [0] * 50 + [40], [20000, 3, 9000]],
)
@pytest.mark.parametrize(("width", "seeding"), [(0, 0), (1, 0), (4, 1)])
@pytest.mark.parametrize("dedup", [False, True])
@pytest.mark.gpu
@pytest.mark.skipif(not HAS_GPU, reason="no CUDA device")
def test_score_matches_cpu(lens, width, seeding, dedup):
    gen = torch.Generator().manual_seed(len(lens) * 7 + width)
    # A small vocabulary makes (context, token) pairs repeat, so dedup matters.
    tokens, offsets = _docs(lens, 6 if dedup else 50000, gen)
    n_docs = len(lens)
    rng = np.random.default_rng(width + 17 * n_docs)
    salts = rng.integers(0, 2**32, size=max(n_docs, 1), dtype=np.uint64).astype(np.uint32)
    prefix = torch.tensor(rng.integers(0, 8, size=n_docs), dtype=torch.int64)
    kw = dict(
        key=KEY, salts=salts, context_width=width, seeding=seeding, dedup=dedup, want_flags=True
    )
    for pre in (None, prefix):
        want = ops.score_gumbel(
            tokens.numpy(), offsets.numpy(), prefix_lengths=None if pre is None else pre.numpy(),
            backend="cpu", **kw,
        )  # fmt: skip
        got = ops.score_gumbel(
            tokens.cuda(), offsets.cuda(), prefix_lengths=None if pre is None else pre.cuda(), **kw
        )
        assert all(t.is_cuda for t in got)
        np.testing.assert_array_equal(got[0].cpu().numpy(), want[0])
        np.testing.assert_allclose(got[1].cpu().numpy(), want[1], rtol=1e-12, atol=0)
        np.testing.assert_array_equal(got[2].cpu().numpy(), want[2])
        no_flags = ops.score_gumbel(tokens.cuda(), offsets.cuda(), **{**kw, "want_flags": False})
        assert no_flags[2] is None


@pytest.mark.gpu
@pytest.mark.skipif(not HAS_GPU, reason="no CUDA device")
def test_score_detects_cuda_generation():
    # End to end on the device: generate with the CUDA sampler, detect with the CUDA scorer.
    wm = tm.Gumbel(key=b"end-to-end", context_width=1)
    gen = torch.Generator().manual_seed(5)
    ids = torch.randint(0, 1000, (4, 1), generator=gen).cuda()
    for _ in range(60):
        logits = torch.randn(4, 1000, generator=gen).cuda()
        nxt = ops.sample_gumbel(logits, ids, keys=wm.key.words, context_width=1, seeding=0)
        nxt = torch.where(nxt >= 0, nxt, torch.zeros_like(nxt))  # repeats: any token will do
        ids = torch.cat([ids, nxt[:, None]], dim=1)
    tokens = ids.flatten().to(torch.int32)
    offsets = torch.arange(0, 4 * 61 + 1, 61, device="cuda")
    n, score, _ = ops.score_gumbel(tokens, offsets, key=wm.key.words, context_width=1, seeding=0)
    want = ops.score_gumbel(
        tokens.cpu().numpy(), offsets.cpu().numpy(), key=wm.key.words, context_width=1, seeding=0,
        backend="cpu",
    )  # fmt: skip
    np.testing.assert_array_equal(n.cpu().numpy(), want[0])
    np.testing.assert_allclose(score.cpu().numpy(), want[1], rtol=1e-12)
    # Watermarked: far above the null mean of 1 per counted token.
    assert (score.cpu().numpy() > 1.5 * n.cpu().numpy()).all()


def test_sample_workspace_bytes():
    """16 bytes per row and block of a split row (blocks of >= 2048 ids); none for short rows."""
    assert cuda_mod.sample_gumbel_workspace_bytes(2, 8) == 0
    assert cuda_mod.sample_gumbel_workspace_bytes(2, 4096) == 2 * 2 * 16
    assert cuda_mod.sample_gumbel_workspace_bytes(3, 128256) == 3 * 63 * 16
    assert cuda_mod.sample_gumbel_workspace_bytes(0, 128256) == 0
    for kw in ({"batch": -1, "vocab": 5}, {"batch": 1, "vocab": -5}):
        with pytest.raises(ValueError, match=next(iter(k for k, v in kw.items() if v < 0))):
            cuda_mod.sample_gumbel_workspace_bytes(**kw)


@pytest.mark.parametrize("vocab", [2049, 50257, 128256, 151936])
@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
@pytest.mark.gpu
@pytest.mark.skipif(not HAS_GPU, reason="no CUDA device")
def test_split_rows_match_cpu(vocab, dtype):
    """Rows split over blocks (forced counts, the launcher's own, more than it allows) pick the
    CPU's token, as one block per row does."""
    gen = torch.Generator().manual_seed(vocab)
    logits = _logits(6, vocab, dtype, gen)
    logits[2] = -float("inf")  # no finite logit: -2 from the pick
    ids = torch.randint(0, vocab, (6, 9), generator=gen)
    ids[3, -4:] = torch.tensor([7, 8, 7, 8])  # repeated context: not watermarked
    enabled = torch.tensor([1, 0, 1, 1, 1, 1], dtype=torch.uint8)
    kw = dict(keys=KEY, salts=3, context_width=2, seeding=0, skip_repeated=True)
    # The host op refuses a row with no finite logit; the device marks it -2 (no host sync).
    live = [0, 1, 3, 4, 5]
    want = np.full(6, -2, np.int64)
    want[live] = ops.sample_gumbel(
        logits[live], ids[live], enabled=enabled.numpy()[live], backend="cpu", **kw
    )
    wm_ids, wm_keys = ids.cuda(), torch.tensor([KEY], dtype=torch.int64).to(torch.int32).cuda()
    salts = torch.full((1,), 3, dtype=torch.int32, device="cuda")
    for splits in (1, 2, 7, 0, 1000):
        got = cuda_gumbel.sample_gumbel(
            logits.cuda(), wm_ids, wm_keys, salts, enabled.cuda(), 2, 0, True, splits=splits
        )
        np.testing.assert_array_equal(got.cpu().numpy(), want, err_msg=f"splits={splits}")


@pytest.mark.gpu
@pytest.mark.skipif(not HAS_GPU, reason="no CUDA device")
def test_split_rows_inside_a_cuda_graph():
    """The split path (workspace, two launches) captures and replays like one block per row."""
    gen = torch.Generator().manual_seed(6)
    batch, vocab = 2, 128256
    logits = torch.randn(batch, vocab, generator=gen).cuda()
    ids = torch.randint(0, 1000, (batch, 20), generator=gen).cuda()
    keys = torch.tensor([KEY], dtype=torch.int64).to(torch.int32).cuda()
    salts = torch.zeros(1, dtype=torch.int32, device="cuda")
    args = (ids, keys, salts, None, 4, 0, True)
    cuda_gumbel.sample_gumbel(logits, *args, splits=0)  # warm-up outside the capture
    torch.cuda.synchronize()
    graph = torch.cuda.CUDAGraph()
    with torch.cuda.graph(graph):
        out = cuda_gumbel.sample_gumbel(logits, *args, splits=0)
    for step in range(3):
        logits.copy_(torch.randn(batch, vocab, generator=gen).cuda())
        graph.replay()
        want = ops.sample_gumbel(
            logits.cpu(), ids.cpu(), keys=KEY, salts=0, context_width=4, seeding=0, backend="cpu"
        )
        np.testing.assert_array_equal(out.cpu().numpy(), want, err_msg=f"step {step}")
