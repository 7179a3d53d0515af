"""The SGLang dialect on CUDA tensors: ``detect`` scores them on their device
(``ops.score_sglang`` on the CUDA backend, csrc/cuda/sglang_score.cu) and only per-document
results come back. Without a GPU the glue runs with CPU torch tensors standing in for CUDA ones
and the host op for the kernel (the kernel itself runs under the emulator:
tests/cuda_emu/test_cuda_emu_sglang_score.py); on a GPU, real CUDA tensors against the host;
everywhere with a CUDA build, the binding's checks."""

from __future__ import annotations

import importlib

import numpy as np
import pytest
import tokenmark as tm
import torch
from device_stand_in import stand_in_device
from tokenmark import ops
from tokenmark._inputs import Ragged

sg_dialect = importlib.import_module("tokenmark.dialects.sglang")  # the module
HAS_GPU = torch.cuda.is_available()
SCHEMES = [
    dict(key=0x0123ABCD, context_width=4),
    dict(key=7, key_b=2**64 - 9, context_width=2, mixing_probability=0.3, max_contexts=20),
]
FIELDS = ("n_scored", "score", "p_value", "n_key_a", "score_key_a_all", "score_partition_b")


def docs(seed: int, n_docs: int = 9, vocab: int = 4) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [
        rng.integers(0, vocab, int(rng.integers(0, 60))).astype(np.int32) for _ in range(n_docs)
    ]


def assert_same(got, want, flags: bool = False):
    for f in FIELDS:
        np.testing.assert_allclose(getattr(got, f), getattr(want, f), rtol=1e-12)
    if flags:
        for a, b in zip(got.counted, want.counted, strict=True):
            np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("cfg", SCHEMES)
def test_device_branch_without_host_copy(monkeypatch, cfg):
    wm = tm.dialects.sglang(**cfg)
    seqs = docs(1)
    prefix = np.arange(len(seqs)) % 6
    want = wm.detect(seqs, prefix_lengths=prefix, return_flags=True)
    on_dev = stand_in_device(monkeypatch, sg_dialect, "score_sglang", seqs)
    assert_same(wm.detect(on_dev, prefix_lengths=prefix, return_flags=True), want, flags=True)


def test_host_input_refuses_cuda():
    with pytest.raises(ValueError, match="backend='cuda' needs CUDA tensors"):
        tm.dialects.sglang(key=5).detect(np.zeros((2, 8), np.int64), backend="cuda")


@pytest.mark.gpu
@pytest.mark.skipif(not HAS_GPU, reason="no CUDA device")
@pytest.mark.parametrize("cfg", SCHEMES)
@pytest.mark.parametrize("backend", ["auto", "cuda"])
def test_cuda_tensors_scored_on_device(cfg, backend):
    wm = tm.dialects.sglang(**cfg)
    seqs = docs(2, n_docs=37)
    prefix = np.arange(len(seqs)) % 7
    rag = Ragged.from_sequences(seqs)
    t = Ragged(torch.from_numpy(rag.tokens).cuda(), torch.from_numpy(rag.offsets).cuda())
    want = wm.detect(seqs, prefix_lengths=prefix, return_flags=True)
    got = wm.detect(t, prefix_lengths=prefix, return_flags=True, backend=backend)
    assert_same(got, want, flags=True)
    square = np.stack([np.resize(s, 30) if len(s) else np.zeros(30, np.int32) for s in seqs])
    assert_same(wm.detect(torch.from_numpy(square).cuda(), backend=backend), wm.detect(square))


@pytest.mark.gpu
@pytest.mark.skipif(not HAS_GPU, reason="no CUDA device")
def test_op_on_a_large_batch():
    """10^6 tokens in 2000 documents of a 40-id vocabulary, two keys, a context limit."""
    rng = np.random.default_rng(3)
    lens = rng.integers(0, 1000, 2000)
    tokens = rng.integers(0, 40, int(lens.sum())).astype(np.int32)
    offsets = np.concatenate([[0], np.cumsum(lens)]).astype(np.int64)
    prefix = rng.integers(0, 20, len(lens)).astype(np.int64)
    kw = dict(keys=np.array([11, 2**63 + 9], np.uint64), context_width=3, threshold=2**31,
              max_contexts=500, want_flags=True)  # fmt: skip
    want = ops.score_sglang(tokens, offsets, prefix_lengths=prefix, backend="cpu", **kw)
    dev = [torch.from_numpy(x).cuda() for x in (tokens, offsets, prefix)]
    got = [x.cpu().numpy() for x in ops.score_sglang(dev[0], dev[1], prefix_lengths=dev[2], **kw)]
    for i in (0, 1, 3):
        np.testing.assert_array_equal(got[i], want[i])
    np.testing.assert_allclose(got[2], want[2], rtol=1e-12)


SECRET = 0x5EC12E7_5EC12E7


def _binding(**overrides):
    cuda_mod = pytest.importorskip(
        "tokenmark._cuda", reason="tokenmark was built without CUDA", exc_type=ModuleNotFoundError
    )
    args = dict(
        tokens=256, n_tokens=4, offsets=512, n_docs=1, prefix=0, context_width=4,
        max_contexts=4096, keys=[SECRET], threshold=0, n_scored=2048, n_key_a=3072, sums=4096,
        counted=0, workspace=8192, workspace_bytes=1 << 10, device=0, stream=0,
    )  # fmt: skip
    args.update(overrides)
    return cuda_mod.score_sglang(**args)


@pytest.mark.parametrize(
    ("overrides", "match"),
    [
        ({"context_width": 0}, "context_width"),
        ({"context_width": 65}, "context_width"),
        ({"max_contexts": 0}, "max_contexts"),
        ({"keys": []}, "keys: expected 1 or 2"),
        ({"keys": [1, 2, 3]}, "keys: expected 1 or 2"),
        ({"threshold": 2**32}, "threshold"),
        ({"n_tokens": -1}, "n_tokens"),
        ({"n_tokens": 2**31}, "tokens: at most"),
        ({"n_docs": 0}, "offsets"),
        ({"tokens": 0}, "tokens: null"),
        ({"prefix": 3}, "prefix_lengths: device pointer not aligned"),
        ({"n_key_a": 0}, "n_key_a: null"),
        ({"sums": 4100}, "sums: device pointer not aligned"),
        ({"workspace_bytes": 8}, "workspace: needs"),
        ({"workspace": 8196}, "workspace: device pointer not aligned"),
        ({"device": -2}, "device"),
    ],
)
def test_binding_validates_without_showing_the_key(overrides, match):
    with pytest.raises(ValueError, match=match) as err:
        _binding(**overrides)
    assert str(SECRET) not in str(err.value) and hex(SECRET) not in str(err.value)


def test_binding_workspace_and_empty_batch():
    cuda_mod = pytest.importorskip(
        "tokenmark._cuda", reason="tokenmark was built without CUDA", exc_type=ModuleNotFoundError
    )
    assert cuda_mod.score_sglang_workspace_bytes(10, 1) == 80 + 16 + 80
    assert cuda_mod.score_sglang_workspace_bytes(10, 2) == 160 + 16 + 80
    assert cuda_mod.score_sglang_workspace_bytes(0, 2) == 0
    with pytest.raises(ValueError, match="keys"):
        cuda_mod.score_sglang_workspace_bytes(10, 3)
    _binding(n_tokens=0, n_docs=0, tokens=0, n_scored=0, n_key_a=0, sums=0, workspace_bytes=0)


@pytest.mark.skipif(HAS_GPU, reason="checks the behaviour without a CUDA device")
def test_binding_without_a_device_fails_clearly():
    pytest.importorskip(
        "tokenmark._cuda", reason="tokenmark was built without CUDA", exc_type=ModuleNotFoundError
    )
    with pytest.raises(RuntimeError, match="tokenmark CUDA score_sglang"):
        _binding()
