"""The vLLM dialect on CUDA tensors: ``detect`` keeps the tokens on their device
(``ops.score_vllm`` on the CUDA backend, csrc/cuda/vllm_score.cu) and only per-document results
come back. Without a GPU the glue runs with CPU torch tensors standing in for CUDA ones and the
host op standing in for the kernel (the kernel itself runs under the emulator:
tests/cuda_emu/test_cuda_emu_vllm_score.py); on a GPU, real CUDA tensors against the host."""

from __future__ import annotations

import importlib

import numpy as np
import pytest
import tokenmark as tm
import torch
from device_stand_in import stand_in_device
from tokenmark import ops
from tokenmark._inputs import Ragged

vllm_dialect = importlib.import_module("tokenmark.dialects.vllm")  # the module, not the factory

HAS_GPU = torch.cuda.is_available()
SCHEMES = [
    dict(key=31337, algorithm="gumbel", context_width=4),
    dict(key=2**64 - 5, algorithm="dual_key_gumbel", context_width=5, alpha=0.3),
    dict(key=7, algorithm="gumbel", context_width=1, deduplicate_contexts=False),
]


def docs(seed: int, n_docs: int = 9, vocab: int = 6) -> list[np.ndarray]:
    """Small vocabularies: contexts repeat, so dedup matters."""
    rng = np.random.default_rng(seed)
    return [
        rng.integers(0, vocab, int(rng.integers(0, 60))).astype(np.int32) for _ in range(n_docs)
    ]


def assert_same(got, want, flags: bool):
    np.testing.assert_array_equal(got.n_scored, want.n_scored)
    np.testing.assert_allclose(got.score, want.score, rtol=1e-12)
    np.testing.assert_allclose(got.p_value, want.p_value, rtol=1e-9)
    if flags:
        for a, b in zip(got.counted, want.counted, strict=True):
            np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("cfg", SCHEMES)
def test_device_branch_without_host_copy(monkeypatch, cfg):
    """CPU torch tensors stand in for CUDA ones and the host op for the kernel: detect takes the
    device branch (never copying the tokens to the host) and returns the host detection."""
    wm = tm.dialects.vllm(**cfg)
    seqs = docs(1)
    prefix = np.arange(len(seqs)) % 4
    want = wm.detect(seqs, prefix_lengths=prefix, return_flags=True)
    on_dev = stand_in_device(monkeypatch, vllm_dialect, "score_vllm", seqs)
    got = wm.detect(on_dev, prefix_lengths=prefix, return_flags=True)
    assert_same(got, want, flags=True)


def test_host_input_and_backends():
    wm = tm.dialects.vllm(key=5)
    with pytest.raises(ValueError, match="backend='cuda' needs CUDA tensors"):
        wm.detect(np.zeros((2, 8), np.int64), backend="cuda")
    with pytest.raises(ValueError, match="backend: expected one of"):
        wm.detect(np.zeros((2, 8), np.int64), backend="triton")


@pytest.mark.gpu
@pytest.mark.skipif(not HAS_GPU, reason="no CUDA device")
@pytest.mark.parametrize("cfg", SCHEMES)
@pytest.mark.parametrize("backend", ["auto", "cuda"])
def test_cuda_tensors_scored_on_device(cfg, backend):
    wm = tm.dialects.vllm(**cfg)
    seqs = docs(2, n_docs=37, vocab=5)
    prefix = np.arange(len(seqs)) % 7
    want = wm.detect(seqs, prefix_lengths=prefix, return_flags=True)
    rag = Ragged.from_sequences(seqs)
    t = Ragged(torch.from_numpy(rag.tokens).cuda(), torch.from_numpy(rag.offsets).cuda())
    got = wm.detect(t, prefix_lengths=prefix, return_flags=True, backend=backend)
    assert_same(got, want, flags=True)
    square = np.stack([np.resize(s, 30) if len(s) else np.zeros(30, np.int32) for s in seqs])
    got = wm.detect(torch.from_numpy(square).cuda(), backend=backend)
    assert_same(got, wm.detect(square), flags=False)


@pytest.mark.gpu
@pytest.mark.skipif(not HAS_GPU, reason="no CUDA device")
@pytest.mark.parametrize("dedup", [False, True])
def test_op_on_a_large_batch(dedup):
    """10^6 tokens in 2000 documents of a 40-id vocabulary (dedup drops many), two keys."""
    rng = np.random.default_rng(3)
    lens = rng.integers(0, 1000, 2000)
    tokens = rng.integers(0, 40, int(lens.sum())).astype(np.int32)
    offsets = np.concatenate([[0], np.cumsum(lens)]).astype(np.int64)
    prefix = rng.integers(0, 20, len(lens)).astype(np.int64)
    kw = dict(keys=np.array([11, 2**63 + 9], np.uint64), weights=np.array([0.6, 0.4]),
              context_width=3, dedup=dedup, want_flags=True)  # fmt: skip
    want = ops.score_vllm(tokens, offsets, prefix_lengths=prefix, backend="cpu", **kw)
    dev = [torch.from_numpy(x).cuda() for x in (tokens, offsets, prefix)]
    got = ops.score_vllm(dev[0], dev[1], prefix_lengths=dev[2], **kw)
    np.testing.assert_array_equal(got[0].cpu().numpy(), want[0])
    np.testing.assert_allclose(got[1].cpu().numpy(), want[1], rtol=1e-12)
    np.testing.assert_array_equal(got[2].cpu().numpy(), want[2])


# --- the `_cuda` binding's checks (a CUDA build, with or without a device) ---------------------

SECRET = 0x5EC12E7_5EC12E7


def _binding(**overrides):
    cuda_mod = pytest.importorskip(
        "tokenmark._cuda", reason="tokenmark was built without CUDA", exc_type=ModuleNotFoundError
    )
    args = dict(
        tokens=256, n_tokens=4, offsets=512, n_docs=1, prefix=0, context_width=4,
        keys=[SECRET], weights=[1.0], dedup=False, n_scored=2048, score=4096, counted=0,
        workspace=8192, workspace_bytes=1 << 10, device=0, stream=0,
    )  # fmt: skip
    args.update(overrides)
    return cuda_mod.score_vllm(**args)


@pytest.mark.parametrize(
    ("overrides", "match"),
    [
        ({"context_width": 0}, "context_width"),
        ({"context_width": 1025}, "context_width"),
        ({"keys": []}, "keys: expected 1 or 2"),
        ({"keys": [1, 2, 3], "weights": [1.0, 1.0, 1.0]}, "keys: expected 1 or 2"),
        ({"weights": [1.0, 2.0]}, "weights: expected one per key"),
        ({"weights": [float("nan")]}, "weights: must be finite"),
        ({"n_tokens": -1}, "n_tokens"),
        ({"n_docs": 0}, "offsets"),
        ({"tokens": 0}, "tokens: null"),
        ({"offsets": 514}, "offsets: device pointer not aligned"),
        ({"prefix": 3}, "prefix_lengths: device pointer not aligned"),
        ({"n_scored": 0}, "n_scored: null"),
        ({"score": 4100}, "score: device pointer not aligned"),
        ({"workspace_bytes": 8}, "workspace: needs"),
        ({"workspace": 8196}, "workspace: device pointer not aligned"),
        ({"dedup": True, "n_tokens": 2**31}, "dedup supports at most"),
        ({"device": -2}, "device"),
    ],
)
def test_binding_validates_without_showing_the_key(overrides, match):
    with pytest.raises(ValueError, match=match) as err:
        _binding(**overrides)
    assert str(SECRET) not in str(err.value) and hex(SECRET) not in str(err.value)


def test_binding_workspace_bytes():
    cuda_mod = pytest.importorskip(
        "tokenmark._cuda", reason="tokenmark was built without CUDA", exc_type=ModuleNotFoundError
    )
    assert cuda_mod.score_vllm_workspace_bytes(10, 1, False) == 80
    assert cuda_mod.score_vllm_workspace_bytes(10, 2, True) == 160 + 80
    assert cuda_mod.score_vllm_workspace_bytes(0, 2, True) == 0
    with pytest.raises(ValueError, match="keys"):
        cuda_mod.score_vllm_workspace_bytes(10, 3, False)
    with pytest.raises(ValueError, match="n_tokens"):
        cuda_mod.score_vllm_workspace_bytes(-1, 1, False)
    _binding(n_tokens=0, n_docs=0, tokens=0, n_scored=0, score=0, workspace_bytes=0)  # no-op


@pytest.mark.skipif(HAS_GPU, reason="checks the behaviour without a CUDA device")
def test_binding_without_a_device_fails_clearly():
    pytest.importorskip(
        "tokenmark._cuda", reason="tokenmark was built without CUDA", exc_type=ModuleNotFoundError
    )
    with pytest.raises(RuntimeError, match="tokenmark CUDA score_vllm"):
        _binding()
