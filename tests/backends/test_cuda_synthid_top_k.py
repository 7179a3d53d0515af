"""The CUDA top-k candidate kernel (csrc/cuda/top_k.cuh) that SynthID top-k sampling uses in
place of the torch ops: argument checks where ``_cuda`` is built; on a GPU, the candidates bit
for bit with the numpy reference and the torch helper, and sampling with the kernel bit for bit
with the torch-picked path and the CPU op. The same kernel runs under the host emulation in CI
(tests/cuda_emu/test_cuda_emu_top_k.py)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from tokenmark import ops
from tokenmark.backends import _torch as torch_helpers
from tokenmark.backends.cuda import synthid as cuda_synthid
from tokenmark.reference import synthid as ref

cuda_mod = pytest.importorskip(
    "tokenmark._cuda", reason="tokenmark was built without CUDA", exc_type=ModuleNotFoundError
)

HAS_GPU = torch.cuda.is_available() and cuda_mod.device_count() > 0
KEY = (0x01234567, 0x89ABCDEF, 0xDEADBEEF, 0x0BADF00D)
CODES = {torch.float32: 0, torch.float16: 1, torch.bfloat16: 2}


def on_gpu(test):
    """Marks a test as needing a GPU: skipped, with that reason, where none is present."""
    return pytest.mark.gpu(pytest.mark.skipif(not HAS_GPU, reason="no CUDA device")(test))


def _binding(**overrides):
    args = dict(
        logits=256, batch=2, vocab=100, logits_row_stride=100, logits_dtype=0, k=40,
        candidates=512, values=1024, workspace=0, workspace_bytes=0, device=0, stream=0,
    )  # fmt: skip
    args.update(overrides)
    return cuda_mod.top_k_candidates(**args)


@pytest.mark.parametrize(
    ("overrides", "match"),
    [
        ({"k": 0}, "k: must satisfy"),
        ({"k": 100}, "k: must satisfy"),
        ({"batch": -1}, "batch"),
        ({"logits_dtype": 5}, "logits_dtype"),
        ({"logits_row_stride": 50}, "rows overlap"),
        ({"candidates": 0}, "candidates: null"),
        ({"values": 0}, "values: null"),
        ({"logits": 2}, "logits: device pointer not aligned"),
        ({"device": -1}, "device"),
        # A long row is split over blocks: its scratch must be given.
        ({"vocab": 100_000, "logits_row_stride": 100_000}, "workspace: needs 15360 bytes"),
        (
            {"vocab": 100_000, "logits_row_stride": 100_000, "workspace_bytes": 15360},
            "workspace: null",
        ),
    ],
)
def test_top_k_binding_validates(overrides, match):
    with pytest.raises(ValueError, match=match):
        _binding(**overrides)


def test_top_k_workspace_bytes():
    """No scratch for rows under two slices of 4096 ids (and 4 k); else each row's slices * k
    picks, 8 bytes each, with at most 64 slices."""
    bytes_for = cuda_mod.top_k_workspace_bytes
    assert bytes_for(8, 8191, 40) == 0 and bytes_for(8, 5000, 1) == 0
    assert bytes_for(2, 8192, 40) == 2 * 2 * 40 * 8
    assert bytes_for(3, 128256, 40) == 3 * 31 * 40 * 8
    assert bytes_for(1, 128256, 4000) == 1 * 8 * 4000 * 8  # slices of at least 4 k
    assert bytes_for(1, 10**9, 40) == 64 * 40 * 8
    assert bytes_for(0, 128256, 40) == 0 and bytes_for(4, 100, 100) == 0
    assert bytes_for(2**62, 2**40, 40) == 2**64 - 1  # past any memory: no wrapped small size
    with pytest.raises(ValueError, match="vocab"):
        bytes_for(1, -1, 40)


def _tricky(batch: int, vocab: int, gen: torch.Generator) -> torch.Tensor:
    """Rows with ties at the threshold, NaN, -inf, +inf, -0 and +0, and no finite logit."""
    x = torch.randn(batch, vocab, generator=gen) * 3
    x[1] = torch.randint(-3, 4, (vocab,), generator=gen).float()  # ties everywhere
    x[2, ::7] = float("nan")
    x[2, 1::5] = -float("inf")
    x[3] = torch.where(torch.rand(vocab, generator=gen) < 0.5, 0.0, -0.0)
    x[4] = -float("inf")
    x[5] = float("nan")
    x[6, 3] = float("inf")
    return x


def _device_top_k(logits: torch.Tensor, k: int) -> tuple[torch.Tensor, torch.Tensor]:
    batch, vocab = logits.shape
    cand = torch.empty(batch, k, dtype=torch.int32, device=logits.device)
    values = torch.empty(batch, k, dtype=torch.float32, device=logits.device)
    size = cuda_mod.top_k_workspace_bytes(batch, vocab, k)
    scratch = torch.full((max(size, 1),), 0xA5, dtype=torch.uint8, device=logits.device)
    cuda_mod.top_k_candidates(
        logits.data_ptr(), batch, vocab, logits.stride(0), CODES[logits.dtype], k,
        cand.data_ptr(), values.data_ptr(), scratch.data_ptr(), size, logits.device.index,
        torch.cuda.current_stream(logits.device).cuda_stream,
    )  # fmt: skip
    return cand, values


@on_gpu
@pytest.mark.parametrize("dtype", list(CODES))
@pytest.mark.parametrize("vocab", [67, 4099, 32000, 128256])
@pytest.mark.parametrize("k", [1, 2, 40, 64, 1000])
def test_top_k_kernel_is_the_spec(dtype, vocab, k):
    if k >= vocab:
        pytest.skip("k >= vocab: every id is a candidate, no kernel runs")
    gen = torch.Generator().manual_seed(vocab + k)
    logits = _tricky(8, vocab, gen).to(dtype)
    cand, values = _device_top_k(logits.cuda(), k)
    x = logits.float().numpy()
    want = np.stack([ref.candidates(row, k) for row in x]).astype(np.int32)
    np.testing.assert_array_equal(cand.cpu().numpy(), want)
    np.testing.assert_array_equal(
        torch_helpers.top_k_candidates(logits.cuda(), k).cpu().numpy(), want
    )
    np.testing.assert_array_equal(values.cpu().numpy(), np.take_along_axis(x, want, 1))


@on_gpu
@pytest.mark.parametrize("dtype", list(CODES))
@pytest.mark.parametrize(("vocab", "k"), [(32000, 40), (128256, 40), (128256, 64), (5000, 1)])
def test_sample_device_top_k_equals_torch_path_and_cpu(dtype, vocab, k):
    gen = torch.Generator().manual_seed(vocab * 3 + k)
    batch = 8
    logits = _tricky(batch, vocab, gen).to(dtype)
    ids = torch.randint(0, vocab, (batch, 12), generator=gen)
    u = torch.rand(batch, generator=gen, dtype=torch.float64)
    keys = torch.tensor([KEY], dtype=torch.int64).to(torch.int32).cuda()
    args = (ids.cuda(), keys, u.cuda(), None, 2, 0, 30, k, 8)
    new = cuda_synthid.sample_synthid(logits.cuda(), *args)
    old = cuda_synthid._sample(logits.cuda(), *args, torch_top_k=True)
    for a, b in zip(new, old, strict=True):
        np.testing.assert_array_equal(a.cpu().numpy(), b.cpu().numpy())
    rows = [r for r in range(batch) if r not in (4, 5)]  # the CPU op raises on no finite logit
    want_t, want_m = ops.sample_synthid(
        logits[rows], ids[rows], keys=KEY, uniforms=u[rows].numpy(), context_width=2, seeding=0,
        layers=30, top_k=k, context_history=8,
    )  # fmt: skip
    np.testing.assert_array_equal(new[0].cpu().numpy()[rows], want_t)
    np.testing.assert_array_equal(new[1].cpu().numpy()[rows], want_m)
    assert new[0][4] == ref.NO_FINITE_LOGIT and new[0][5] == ref.NO_FINITE_LOGIT


@on_gpu
def test_device_top_k_inside_a_cuda_graph_without_sync():
    gen = torch.Generator().manual_seed(4)
    batch, vocab, k = 4, 32000, 40
    logits = torch.randn(batch, vocab, generator=gen).cuda()
    ids = torch.randint(0, 1000, (batch, 20), generator=gen).cuda()
    u = torch.rand(batch, generator=gen, dtype=torch.float64).cuda()
    keys = torch.tensor([KEY], dtype=torch.int64).to(torch.int32).cuda()
    args = (ids, keys, u, None, 4, 0, 30, k, 0)
    cuda_synthid.sample_synthid(logits, *args)  # warm-up outside the capture
    torch.cuda.synchronize()
    torch.cuda.set_sync_debug_mode("error")  # any host sync raises
    try:
        cuda_synthid.sample_synthid(logits, *args)
    finally:
        torch.cuda.set_sync_debug_mode("default")
    graph = torch.cuda.CUDAGraph()
    with torch.cuda.graph(graph):
        tokens, marked = cuda_synthid.sample_synthid(logits, *args)
    for step in range(2):
        logits.copy_(torch.randn(batch, vocab, generator=gen).cuda())
        graph.replay()
        want_t, want_m = ops.sample_synthid(
            logits.cpu(), ids.cpu(), keys=KEY, uniforms=u.cpu().numpy(), context_width=4,
            seeding=0, top_k=k,
        )  # fmt: skip
        np.testing.assert_array_equal(tokens.cpu().numpy(), want_t, err_msg=f"step {step}")
        np.testing.assert_array_equal(marked.cpu().numpy(), want_m)
