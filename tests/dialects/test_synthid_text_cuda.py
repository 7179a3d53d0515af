"""The SynthID-Text dialect on CUDA tensors: ``detect`` counts them on their device
(``ops.score_synthid_text`` on the CUDA backend, csrc/cuda/synthid_text_score.cu) and only the
per-document counts come back. Without a GPU the glue runs with CPU torch tensors standing in for
CUDA ones and the host op for the kernel (the kernel itself runs under the emulator:
tests/cuda_emu/test_cuda_emu_synthid_text_score.py); on a GPU, real CUDA tensors against the
host; everywhere with a CUDA build, the binding's checks."""

from __future__ import annotations

import importlib

import numpy as np
import pytest
import tokenmark as tm
import torch
from device_stand_in import stand_in_device
from tokenmark import ops
from tokenmark._inputs import Ragged

st_dialect = importlib.import_module("tokenmark.dialects.synthid_text")  # the module
HAS_GPU = torch.cuda.is_available()
SCHEMES = [
    dict(keys=list(range(654, 684)), ngram_len=5, eos_token_id=2),
    dict(keys=[2**63 - 1, 3, 5], ngram_len=2, context_history_size=3, sampling_table_size=1000),
]


def docs(seed: int, n_docs: int = 9, vocab: int = 5) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [
        rng.integers(0, vocab, int(rng.integers(0, 80))).astype(np.int32) for _ in range(n_docs)
    ]


def assert_same(got, want):
    for f in ("n_scored", "ones", "mean_score", "p_value", "weighted_z"):
        np.testing.assert_array_equal(getattr(got, f), getattr(want, f))


@pytest.mark.parametrize("cfg", SCHEMES)
def test_device_branch_without_host_copy(monkeypatch, cfg):
    wm = tm.dialects.synthid_text(**cfg)
    seqs = docs(1)
    prefix = np.arange(len(seqs)) % 6
    want = wm.detect(seqs, prefix_lengths=prefix)
    on_dev = stand_in_device(monkeypatch, st_dialect, "score_synthid_text", seqs)
    assert_same(wm.detect(on_dev, prefix_lengths=prefix), want)


def test_host_input_refuses_cuda():
    wm = tm.dialects.synthid_text(keys=[1, 2], ngram_len=3)
    with pytest.raises(ValueError, match="backend='cuda' needs CUDA tensors"):
        wm.detect(np.zeros((2, 8), np.int64), backend="cuda")
    for kw in (dict(dedup=True), dict(return_g_values=True)):
        with pytest.raises(ValueError, match="dedup and return_g_values run on the host"):
            wm.detect(np.zeros((2, 8), np.int64), backend="cuda", **kw)


@pytest.mark.gpu
@pytest.mark.skipif(not HAS_GPU, reason="no CUDA device")
@pytest.mark.parametrize("cfg", SCHEMES)
@pytest.mark.parametrize("backend", ["auto", "cuda"])
def test_cuda_tensors_counted_on_device(cfg, backend):
    wm = tm.dialects.synthid_text(**cfg)
    seqs = docs(2, n_docs=37)
    prefix = np.arange(len(seqs)) % 7
    rag = Ragged.from_sequences(seqs)
    t = Ragged(torch.from_numpy(rag.tokens).cuda(), torch.from_numpy(rag.offsets).cuda())
    for mask in (True, False):
        want = wm.detect(seqs, prefix_lengths=prefix, mask_repeated_contexts=mask)
        got = wm.detect(t, prefix_lengths=prefix, mask_repeated_contexts=mask, backend=backend)
        assert_same(got, want)
    square = np.stack([np.resize(s, 30) if len(s) else np.zeros(30, np.int32) for s in seqs])
    assert_same(wm.detect(torch.from_numpy(square).cuda(), backend=backend), wm.detect(square))


@pytest.mark.gpu
@pytest.mark.skipif(not HAS_GPU, reason="no CUDA device")
def test_op_on_a_large_batch():
    """10^6 tokens in 2000 documents of a 40-id vocabulary, 30 layers, flags."""
    rng = np.random.default_rng(3)
    lens = rng.integers(0, 1000, 2000)
    tokens = rng.integers(0, 40, int(lens.sum())).astype(np.int32)
    offsets = np.concatenate([[0], np.cumsum(lens)]).astype(np.int64)
    prefix = rng.integers(0, 20, len(lens)).astype(np.int64)
    kw = dict(keys=rng.integers(0, 2**64, 30, dtype=np.uint64), ngram_len=5, eos_token_id=7,
              table=rng.integers(0, 2, 2**16).astype(np.uint8), want_flags=True)  # fmt: skip
    want = ops.score_synthid_text(tokens, offsets, prefix_lengths=prefix, backend="cpu", **kw)
    dev = [torch.from_numpy(x).cuda() for x in (tokens, offsets, prefix)]
    got = ops.score_synthid_text(dev[0], dev[1], prefix_lengths=dev[2], **kw)
    for g, w in zip(got, want, strict=True):
        np.testing.assert_array_equal(g.cpu().numpy(), w)


def _binding(**overrides):
    cuda_mod = pytest.importorskip(
        "tokenmark._cuda", reason="tokenmark was built without CUDA", exc_type=ModuleNotFoundError
    )
    args = dict(
        tokens=256, n_tokens=4, offsets=512, n_docs=1, prefix=0, ngram_len=5, key_terms=1024,
        depth=30, table=2048, table_size=2**16, history=1024, mask_repeated=True, eos=2,
        n_scored=4096, ones=8192, counted=0, workspace=16384, workspace_bytes=1 << 10,
        device=0, stream=0,
    )  # fmt: skip
    args.update(overrides)
    return cuda_mod.score_synthid_text(**args)


@pytest.mark.parametrize(
    ("overrides", "match"),
    [
        ({"ngram_len": 0}, "ngram_len"),
        ({"ngram_len": 1025}, "ngram_len"),
        ({"depth": 0}, "keys: 1 to 256"),
        ({"depth": 257}, "keys: 1 to 256"),
        ({"table_size": 0}, "table"),
        ({"history": -1}, "history"),
        ({"eos": -2}, "eos"),
        ({"n_tokens": -1}, "n_tokens"),
        ({"n_tokens": 2**31}, "tokens: at most"),
        ({"n_docs": 0}, "offsets"),
        ({"tokens": 0}, "tokens: null"),
        ({"offsets": 514}, "offsets: device pointer not aligned"),
        ({"prefix": 3}, "prefix_lengths: device pointer not aligned"),
        ({"key_terms": 0}, "key_terms: null"),
        ({"table": 0}, "table: null"),
        ({"ones": 4100}, "ones: device pointer not aligned"),
        ({"n_scored": 0}, "n_scored: null"),
        ({"workspace_bytes": 8}, "workspace: needs"),
        ({"workspace": 16388}, "workspace: device pointer not aligned"),
        ({"device": -2}, "device"),
    ],
)
def test_binding_validates(overrides, match):
    with pytest.raises(ValueError, match=match):
        _binding(**overrides)


def test_binding_workspace_and_empty_batch():
    cuda_mod = pytest.importorskip(
        "tokenmark._cuda", reason="tokenmark was built without CUDA", exc_type=ModuleNotFoundError
    )
    assert cuda_mod.score_synthid_text_workspace_bytes(10) == 80
    assert cuda_mod.score_synthid_text_workspace_bytes(0) == 0
    with pytest.raises(ValueError, match="n_tokens"):
        cuda_mod.score_synthid_text_workspace_bytes(-1)
    _binding(n_tokens=0, n_docs=0, tokens=0, n_scored=0, ones=0, workspace_bytes=0)  # no-op


@pytest.mark.skipif(HAS_GPU, reason="checks the behaviour without a CUDA device")
def test_binding_without_a_device_fails_clearly():
    pytest.importorskip(
        "tokenmark._cuda", reason="tokenmark was built without CUDA", exc_type=ModuleNotFoundError
    )
    with pytest.raises(RuntimeError, match="tokenmark CUDA score_synthid_text"):
        _binding()
