"""The CUDA SynthID-Text sampler: argument checks everywhere; on a GPU, tokens and marks against
the CPU op (``_C``, itself bit-exact with the numpy reference, see test_synthid.py). The spec's
sums are exact integers, so the GPU must agree bit for bit, top-k candidates included."""

from __future__ import annotations

import numpy as np
import pytest
import tokenmark as tm
import torch
from tokenmark import ops
from tokenmark.backends import _torch as torch_helpers
from tokenmark.backends.cuda import synthid as cuda_synthid
from tokenmark.integrations.transformers import SynthIDLogitsProcessor
from tokenmark.reference import synthid as ref

cuda_mod = pytest.importorskip(
    "tokenmark._cuda", reason="tokenmark was built without CUDA", exc_type=ModuleNotFoundError
)

HAS_GPU = torch.cuda.is_available() and cuda_mod.device_count() > 0
KEY = (0x01234567, 0x89ABCDEF, 0xDEADBEEF, 0x0BADF00D)
DTYPES = [torch.float32, torch.float16, torch.bfloat16]


def on_gpu(test):
    """Marks a test as needing a GPU: skipped, with that reason, where none is present."""
    return pytest.mark.gpu(pytest.mark.skipif(not HAS_GPU, reason="no CUDA device")(test))


# --- everywhere (CPU-only machines included) -----------------------------------------------


def _binding(**overrides):
    args = dict(
        logits=256, batch=2, n=8, logits_row_stride=8, logits_dtype=0, candidates=0,
        input_ids=512, ids_is_int64=True, ids_len=3, ids_row_stride=3, keys=1024, key_stride=0,
        uniforms=2048, enabled=0, width=1, seeding=0, layers=30, history=1024, top_k=0, out=4096,
        marked=8192, workspace=1 << 16, workspace_bytes=1 << 20, device=0, stream=0,
    )  # fmt: skip
    args.update(overrides)
    return cuda_mod.sample_synthid(**args)


@pytest.mark.parametrize(
    ("overrides", "match"),
    [
        ({"layers": 0}, "layers"),
        ({"layers": 33}, "layers"),
        ({"history": -1}, "history"),
        ({"top_k": -1}, "top_k"),
        ({"top_k": 3, "candidates": 256}, "candidates picked twice"),
        ({"width": 2000}, "context_width"),
        ({"seeding": 5}, "seeding"),
        ({"logits_dtype": 7}, "logits_dtype"),
        ({"key_stride": 3}, "keys: stride"),
        ({"batch": -1}, "batch"),
        ({"n": -1}, "vocab"),
        ({"logits_row_stride": 4}, "rows overlap"),
        ({"workspace_bytes": 16}, "workspace: needs"),
        ({"workspace": 8200}, "workspace: device pointer not aligned to 16"),
        ({"uniforms": 0}, "uniforms: null"),
        ({"out": 0}, "out: null"),
        ({"marked": 0}, "marked: null"),
        ({"logits": 2}, "logits: device pointer not aligned"),
        ({"candidates": 2}, "candidates: device pointer not aligned"),
        ({"device": -1}, "device"),
        ({"chunk": 1536}, "chunk: must be 0"),
        ({"chunk": 17408}, "chunk: must be 0"),
        ({"chunk": -1024}, "chunk: must be 0"),
        (
            {"n": 65535 * 1024 + 1, "logits_row_stride": 65535 * 1024 + 1, "chunk": 1024},
            "65535 \\* chunk",
        ),
        # profiling stamps: [5 launches, 2 rows, 1 chunk, 5 stages, 2] uint64 = 800 bytes
        ({"stage_times": 1 << 17, "stage_times_bytes": 799}, "stage_times: needs 800 bytes"),
        ({"stage_times": (1 << 17) + 4, "stage_times_bytes": 800}, "stage_times: device pointer"),
    ],
)
def test_binding_validates(overrides, match):
    with pytest.raises(ValueError, match=match):
        _binding(**overrides)


def test_workspace_bytes_and_empty_batch():
    small = cuda_mod.sample_synthid_workspace_bytes(1, 10, 30, 0)
    assert small >= 3 * 16 * 1024  # histograms and factors of 3 phases
    assert cuda_mod.sample_synthid_workspace_bytes(2, 10, 30, 0) > small
    assert cuda_mod.sample_synthid_workspace_bytes(0, 10, 30, 0) == 0
    # Top-k on the device: room for the picked ids and logits (8 bytes per row and candidate).
    assert cuda_mod.sample_synthid_workspace_bytes(1, 10, 30, 4) >= small + 32
    assert cuda_mod.sample_synthid_workspace_bytes(1, 10, 30, 10) == small  # k >= n: all
    with pytest.raises(ValueError, match="batch"):
        cuda_mod.sample_synthid_workspace_bytes(-1, 10, 30, 0)
    with pytest.raises(ValueError, match="top_k"):
        cuda_mod.sample_synthid_workspace_bytes(1, 10, 30, -1)
    _binding(batch=0, logits=0, out=0, marked=0, workspace_bytes=0)  # nothing to launch


def test_stage_shape():
    # [setup + phases + the draw, rows, chunks of 1024 candidates (top_k when picked), stages, 2]
    assert cuda_mod.sample_synthid_stage_shape(32, 128256, 30, 0) == (5, 32, 126, 5, 2)
    assert cuda_mod.sample_synthid_stage_shape(3, 128256, 7, 40) == (3, 3, 1, 5, 2)
    assert cuda_mod.sample_synthid_stage_shape(1, 1025, 32, 0) == (6, 1, 2, 5, 2)
    with pytest.raises(ValueError, match="layers"):
        cuda_mod.sample_synthid_stage_shape(1, 10, 0, 0)


@pytest.mark.skipif(HAS_GPU, reason="checks the behaviour without a CUDA device")
def test_no_device_gives_clear_errors():
    with pytest.raises(RuntimeError, match="no CUDA device"):
        cuda_synthid.sample_synthid(torch.zeros(2, 8), None, None, None, None, 1, 0, 30, 0, 0)
    with pytest.raises(RuntimeError, match="tokenmark CUDA sample_synthid"):
        _binding()


# --- on a GPU --------------------------------------------------------------------------------


def _logits(batch, vocab, dtype, gen):
    x = torch.randn(batch, vocab, generator=gen) * 3
    if vocab > 1:
        n = max(1, batch * vocab // 40)
        flat = x.view(-1)
        flat[torch.randint(0, flat.numel(), (n,), generator=gen)] = -float("inf")
        flat[torch.randint(0, flat.numel(), (n,), generator=gen)] = float("nan")
        x[:, min(5, vocab - 1)] = x[:, 0]  # equal logits: top-k takes the lower id first
        x[0, 0] = 50.0  # row 0 always has a finite logit
    return x.to(dtype)


def _both(logits, ids, uniforms, enabled=None, **kw):
    """(CPU tokens, CPU marked), (GPU tokens, GPU marked) as numpy arrays."""
    en = None if enabled is None else enabled.numpy()
    want = ops.sample_synthid(logits, ids, uniforms=uniforms.numpy(), enabled=en, **kw)
    en_gpu = None if enabled is None else enabled.cuda()
    got_t, got_m = ops.sample_synthid(
        logits.cuda(), ids.cuda(), uniforms=uniforms.cuda(), enabled=en_gpu, backend="cuda", **kw
    )
    assert got_t.is_cuda and got_t.dtype == torch.int64 and got_m.dtype == torch.uint8
    return want, (got_t.cpu().numpy(), got_m.cpu().numpy())


def _finite_rows(logits):
    return (torch.nan_to_num(logits.float(), nan=-float("inf")) > -float("inf")).any(1)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("vocab", [1, 17, 2048, 2049, 32000, 128256])
@pytest.mark.parametrize("batch", [1, 5, 37])
@pytest.mark.parametrize("top_k", [0, 40])
@pytest.mark.parametrize("ids_dtype", [torch.int64, torch.int32])
@on_gpu
def test_sample_matches_cpu(dtype, vocab, batch, top_k, ids_dtype):
    gen = torch.Generator().manual_seed(vocab * 131 + batch + top_k)
    logits = _logits(batch, vocab, dtype, gen)
    logits = logits[_finite_rows(logits)]  # the CPU op raises on the others (tested below)
    batch = logits.shape[0]
    width, seeding = (1, 0) if vocab % 2 else (4, 1)
    layers = [30, 1, 10, 11, 32, 21][vocab % 6]
    # Odd rows draw ids from a small range, so that they repeat their context (history
    # matters); even rows from a large one, so that the tournament runs on them.
    ids = torch.randint(0, 50000, (batch, 40), generator=gen)
    ids[1::2] = torch.randint(0, 30, (batch // 2, 40), generator=gen)
    ids = ids.to(ids_dtype)
    rng = np.random.default_rng(vocab + batch)
    keys = rng.integers(0, 2**32, size=(batch, 4), dtype=np.uint64).astype(np.uint32)
    uniforms = torch.rand(batch, generator=gen, dtype=torch.float64)
    uniforms[0] = 0.0
    uniforms[-1] = 1.0 - 2.0**-53
    enabled = torch.from_numpy((rng.random(batch) < 0.8).astype(np.uint8))
    # Minhash contexts of neighbouring positions often share their minimum, so the history
    # search would leave most rows unmarked: it is exercised with prev seeding.
    history = 16 if seeding == 0 else 0
    kw = dict(
        keys=keys,
        context_width=width,
        seeding=seeding,
        layers=layers,
        top_k=top_k,
        context_history=history,
    )
    ran = False
    for en in (None, enabled):
        (want_t, want_m), (got_t, got_m) = _both(logits, ids, uniforms, en, **kw)
        np.testing.assert_array_equal(got_t, want_t)
        np.testing.assert_array_equal(got_m, want_m)
        ran |= bool(want_m.any())
    assert ran  # the tournament ran, not only the plain draw


@on_gpu
@pytest.mark.parametrize("context", [(0, 0), (2, 1), (3, 0)])
def test_sample_special_rows(context):
    width, history = context
    gen = torch.Generator().manual_seed(7)
    logits = torch.randn(7, 3000, generator=gen)
    logits[1] = -float("inf")  # no finite logit: -2, not raised on CUDA
    logits[2] = float("nan")
    logits[3, 100] = float("inf")  # +inf entries share the mass
    logits[3, 2500] = float("inf")
    logits[4] = 0.0  # all equal
    logits[5, 1:] = -float("inf")  # one candidate
    ids = torch.arange(7 * 5).reshape(7, 5) % 3
    u = torch.rand(7, generator=gen, dtype=torch.float64)
    kw = dict(keys=KEY, context_width=width, seeding=0, context_history=history)
    got_t, got_m = ops.sample_synthid(logits.cuda(), ids.cuda(), uniforms=u.cuda(), **kw)
    got_t, got_m = got_t.cpu(), got_m.cpu()
    rows = [0, 3, 4, 5, 6]
    want_t, want_m = ops.sample_synthid(logits[rows], ids[rows], uniforms=u[rows].numpy(), **kw)
    np.testing.assert_array_equal(got_t[rows].numpy(), want_t)
    np.testing.assert_array_equal(got_m[rows].numpy(), want_m)
    assert got_t[1] == -2 and got_t[2] == -2 and got_m[1] == 0 and got_m[2] == 0
    assert got_t[3] in (100, 2500) and got_t[5] == 0


@pytest.mark.parametrize(
    "device", ["cpu", pytest.param("cuda", marks=[pytest.mark.gpu, pytest.mark.skipif(
        not HAS_GPU, reason="no CUDA device")])],
)  # fmt: skip
@pytest.mark.parametrize("top_k", [1, 7, 300])
def test_top_k_candidates_follow_the_spec(top_k, device):
    # Torch ops only, so the host run checks the same code the GPU runs.
    gen = torch.Generator().manual_seed(top_k)
    x = torch.randint(-3, 3, (6, 1000), generator=gen).float()  # many ties
    x[1, ::7] = float("nan")
    x[2, ::3] = -float("inf")
    x[3, ::2] = -0.0
    x[4] = 0.0
    x[5, 10] = float("inf")
    got = torch_helpers.top_k_candidates(x.to(device), top_k).cpu().numpy()
    want = np.stack([ref.candidates(r, top_k) for r in x.numpy()])
    np.testing.assert_array_equal(got, want)


@on_gpu
def test_sample_many_chunks():
    # More than 256 chunks of 2048 candidates: the draw scans the chunk totals in several tiles.
    gen = torch.Generator().manual_seed(9)
    logits = torch.randn(3, 600_001, generator=gen) * 0.1  # flat: the draw lands anywhere
    ids = torch.randint(0, 600_000, (3, 8), generator=gen)
    u = torch.tensor([0.0, 0.5, 1.0 - 2.0**-53], dtype=torch.float64)
    kw = dict(keys=KEY, context_width=2, seeding=0, layers=30)
    got_t, got_m = ops.sample_synthid(logits.cuda(), ids.cuda(), uniforms=u.cuda(), **kw)
    want_t, want_m = ops.sample_synthid(logits, ids, uniforms=u.numpy(), **kw)
    np.testing.assert_array_equal(got_t.cpu().numpy(), want_t)
    np.testing.assert_array_equal(got_m.cpu().numpy(), want_m)
    assert want_t[2] > 256 * 2048  # the last tile was reached


@on_gpu
def test_stage_times_leave_tokens_and_stamp_in_order():
    """The profiling stamps (bench/profile_gpu_synthid.py --stages) change no token, and every
    block of a tournament row stamps stages 0-3 of each launch in order on both clocks, the row's
    last block its tail too; tests/cuda_emu checks the same layout on the CPU."""
    gen = torch.Generator().manual_seed(12)
    batch, vocab, layers, chunk = 4, 20011, 30, 2048
    logits = (torch.randn(batch, vocab, generator=gen) * 3).cuda()
    ids = torch.randint(0, vocab, (batch, 6), generator=gen).cuda()
    keys = torch.tensor([list(KEY)] * batch, dtype=torch.int64).to(torch.int32).cuda()
    u = torch.rand(batch, generator=gen, dtype=torch.float64).cuda()
    args = (logits, ids, keys, u, None, 3, 0, layers, 0, 0)
    want = cuda_synthid._sample(*args, torch_top_k=False, chunk=chunk)
    shape = cuda_mod.sample_synthid_stage_shape(batch, vocab, layers, 0)
    times = torch.full(shape, 7, dtype=torch.int64, device="cuda")
    got = cuda_synthid._sample(*args, torch_top_k=False, chunk=chunk, stage_times=times)
    assert torch.equal(got[0], want[0]) and torch.equal(got[1], want[1])
    assert bool(want[1].all())  # every row plays the tournament: all passes run
    t = times.cpu().numpy()
    chunks = -(-vocab // chunk)
    assert (t[:, :, chunks:] == 0).all()
    for row in np.flatnonzero(want[1].cpu().numpy()):
        for launch in range(1, shape[0]):
            blocks = t[launch, row, :chunks]  # [chunks, stages, 2]
            assert (blocks[:, :4] > 0).all(), (launch, row)
            assert (np.diff(blocks[:, :4].astype(np.int64), axis=1) >= 0).all()  # ns and clock
            tails = np.flatnonzero(blocks[:, 4, 0])
            assert len(tails) == 1 and (blocks[tails[0], 4] >= blocks[tails[0], 3]).all()


@on_gpu
def test_sample_strided_rows_and_broadcast_params():
    gen = torch.Generator().manual_seed(3)
    full = torch.randn(3, 4, 5003, generator=gen).to(torch.bfloat16)
    logits = full[:, -1, :]  # rows 4 * 5003 elements apart
    ids = torch.randint(0, 1000, (3, 9), generator=gen)
    u = torch.rand(3, generator=gen, dtype=torch.float64)
    kw = dict(keys=KEY, context_width=3, seeding=1, layers=30)
    got_t, got_m = ops.sample_synthid(logits.cuda(), ids.cuda(), uniforms=u.cuda(), **kw)
    want_t, want_m = ops.sample_synthid(logits.contiguous(), ids, uniforms=u.numpy(), **kw)
    np.testing.assert_array_equal(got_t.cpu().numpy(), want_t)
    np.testing.assert_array_equal(got_m.cpu().numpy(), want_m)


@on_gpu
def test_sample_inside_a_cuda_graph():
    gen = torch.Generator().manual_seed(5)
    batch, vocab = 8, 32000
    logits = torch.randn(batch, vocab, generator=gen).cuda()
    ids = torch.randint(0, 1000, (batch, 20), generator=gen).cuda()
    u = torch.rand(batch, generator=gen, dtype=torch.float64).cuda()
    keys = torch.tensor([KEY], dtype=torch.int64).to(torch.int32).cuda()
    args = (ids, keys, u, None, 4, 0, 30, 0, 1024)
    cuda_synthid.sample_synthid(logits, *args)  # warm-up outside the capture
    torch.cuda.synchronize()
    graph = torch.cuda.CUDAGraph()
    with torch.cuda.graph(graph):
        tokens, marked = cuda_synthid.sample_synthid(logits, *args)
    for step in range(3):
        logits.copy_(torch.randn(batch, vocab, generator=gen).cuda())
        u.copy_(torch.rand(batch, generator=gen, dtype=torch.float64).cuda())
        graph.replay()
        want_t, want_m = ops.sample_synthid(
            logits.cpu(), ids.cpu(), keys=KEY, uniforms=u.cpu().numpy(), context_width=4, seeding=0
        )
        np.testing.assert_array_equal(tokens.cpu().numpy(), want_t, err_msg=f"step {step}")
        np.testing.assert_array_equal(marked.cpu().numpy(), want_m)


@on_gpu
def test_processor_on_cuda():
    wm = tm.SynthID(key=b"processor-key", context_width=2)
    gen = torch.Generator().manual_seed(11)
    scores = torch.randn(5, 32000, generator=gen)
    scores[3] = -float("inf")  # no finite logit: passed on unchanged
    ids = torch.randint(0, 50, (5, 12), generator=gen)
    torch.cuda.manual_seed(1234)
    got = SynthIDLogitsProcessor(wm)(ids.cuda(), scores.cuda().clone()).cpu()
    torch.cuda.manual_seed(1234)
    u = torch.rand(5, dtype=torch.float64, device="cuda").cpu()
    rows = [0, 1, 2, 4]
    want = wm.sample(scores[rows], ids[rows], uniforms=u[rows].numpy(), backend="cpu")
    for i, row in enumerate(rows):
        assert got[row, want[i]] == 0.0
        assert torch.isinf(got[row]).sum() == scores.shape[1] - 1
    assert torch.equal(got[3], scores[3])


@on_gpu
@pytest.mark.parametrize(
    ("overrides", "match"),
    [
        ({"top_k": -1}, "top_k"),
        ({"context_history": -1}, "context_history"),
        ({"layers": 0}, "layers"),
    ],
)
def test_wrapper_rejects_bad_arguments(overrides, match):
    args = dict(
        logits=torch.zeros(2, 8, device="cuda"),
        input_ids=torch.zeros(2, 3, dtype=torch.int64, device="cuda"),
        keys=torch.zeros(1, 4, dtype=torch.int32, device="cuda"),
        uniforms=torch.zeros(2, dtype=torch.float64, device="cuda"),
        enabled=None, context_width=1, seeding=0, layers=30, top_k=0, context_history=0,
    )  # fmt: skip
    args.update(overrides)
    with pytest.raises(ValueError, match=match):
        cuda_synthid.sample_synthid(**args)


@on_gpu
def test_processors_do_not_sync_the_host():
    # After the first call has put the key (and salt) on the device, a decode step of either
    # distortion-free processor must not wait for the GPU.
    from tokenmark.integrations.transformers import GumbelLogitsProcessor

    gen = torch.Generator().manual_seed(2)
    scores = (torch.randn(4, 32000, generator=gen) * 3).cuda()
    ids = torch.randint(0, 1000, (4, 12), generator=gen).cuda()
    for proc in (
        SynthIDLogitsProcessor(tm.SynthID(key=b"k", context_width=2)),
        GumbelLogitsProcessor(tm.Gumbel(key=b"k", context_width=2), salt=7),
    ):
        proc(ids, scores.clone())
        torch.cuda.synchronize()
        torch.cuda.set_sync_debug_mode("error")  # any host sync raises
        try:
            out = proc(ids, scores.clone())
        finally:
            torch.cuda.set_sync_debug_mode("default")
        assert (out == 0).sum(1).le(1).all()
