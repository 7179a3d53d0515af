"""Gumbel and SynthID detection of CUDA input stays on the device (as KGW's): the tokens are
never copied to the host, only per-document results come back. On CPU-only machines the same
code path runs on CPU torch tensors through the Triton interpreter (``device_ragged`` stood in
for); on a GPU, real CUDA tensors against the host detection. Also the ``auto`` rule that may
send Gumbel sampling to Triton per shape (``backends.TRITON_GUMBEL_MIN_VOCAB``)."""

from __future__ import annotations

import numpy as np
import pytest
import tokenmark as tm
import torch
from tokenmark import backends, gumbel, synthid
from tokenmark._inputs import Ragged

HAS_GPU = torch.cuda.is_available()


def docs(seed: int, n_docs: int = 4, vocab: int = 500) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [
        rng.integers(0, vocab, int(rng.integers(0, 40))).astype(np.int32) for _ in range(n_docs)
    ]


def flat(seqs: list[np.ndarray]) -> Ragged:
    return Ragged.from_sequences(seqs)


def assert_same(got, want, fields):
    for f in fields:
        np.testing.assert_allclose(getattr(got, f), getattr(want, f), rtol=1e-12, equal_nan=True)


def refuse_host_copy(monkeypatch, module):
    def no_host(*_a, **_k):
        raise AssertionError("detect() copied device tokens to the host")

    monkeypatch.setattr(module, "as_ragged", no_host)


@pytest.mark.parametrize("scheme", ["gumbel", "synthid"])
def test_device_path_without_host_copy(monkeypatch, scheme):
    """CPU torch tensors stand in for CUDA ones (device_ragged patched): the scores come from the
    device path (Triton, interpreted here) and equal the host detection."""
    seqs = docs(3)
    key = tm.Key(b"device-detect")
    wm = tm.Gumbel(key=key) if scheme == "gumbel" else tm.SynthID(key=key)
    module = gumbel if scheme == "gumbel" else synthid
    want = wm.detect(seqs, return_flags=True)
    rag = flat(seqs)
    on_dev = Ragged(torch.from_numpy(rag.tokens), torch.from_numpy(rag.offsets))
    monkeypatch.setattr(module, "device_ragged", lambda s: on_dev)
    refuse_host_copy(monkeypatch, module)
    got = wm.detect(on_dev, return_flags=True, backend="triton")
    fields = ["n_scored", "score", "p_value"] if scheme == "gumbel" else ["n_scored", "ones"]
    assert_same(got, want, fields)
    for a, b in zip(got.counted, want.counted, strict=True):
        np.testing.assert_array_equal(a, b)


def test_truncate_at_eos_on_device_matches_host():
    rng = np.random.default_rng(11)
    for n_docs in (0, 1, 5, 17):
        seqs = [
            rng.integers(0, 6, int(rng.integers(0, 12))).astype(np.int32) for _ in range(n_docs)
        ]
        rag = flat(seqs)
        for prefix in (None, rng.integers(0, 8, n_docs).astype(np.int64)):
            want = synthid._truncate_at_eos(rag, 3, prefix)
            t = Ragged(torch.from_numpy(rag.tokens), torch.from_numpy(rag.offsets))
            got = synthid._truncate_at_eos_device(t, 3, prefix)
            np.testing.assert_array_equal(got.tokens.numpy(), want.tokens)
            np.testing.assert_array_equal(got.offsets.numpy(), want.offsets)


def test_auto_gumbel_rule(monkeypatch):
    assert backends.TRITON_GUMBEL_MIN_VOCAB is None  # measured: CUDA is faster at every shape
    assert not backends.gumbel_sample_prefers_triton(1 << 30)
    monkeypatch.setattr(backends, "TRITON_GUMBEL_MIN_VOCAB", 1000)
    assert backends.gumbel_sample_prefers_triton(1000)
    assert not backends.gumbel_sample_prefers_triton(999)
    monkeypatch.delenv("TOKENMARK_BACKEND", raising=False)
    want = "triton" if backends.triton_importable() else "cuda"
    assert backends.resolve("auto", True, prefer_triton=True) == want
    assert backends.resolve("auto", True, prefer_triton=False) == "cuda"
    assert backends.resolve("auto", False, prefer_triton=True) == "cpu"
    assert backends.resolve("cuda", True, prefer_triton=True) == "cuda"
    monkeypatch.setenv("TOKENMARK_BACKEND", "cuda")
    assert backends.resolve("auto", True, prefer_triton=True) == "cuda"


def test_ops_sample_gumbel_asks_the_rule(monkeypatch):
    """ops.sample_gumbel passes the row length of CUDA logits to the rule (is_cuda stood in)."""
    from tokenmark.ops import gumbel as ops_gumbel

    seen = {}

    class Stop(Exception):
        pass

    def fake_resolve(op, backend, on_cuda, large_fp32_bias=False, prefer_triton=False):
        seen.update(op=op, on_cuda=on_cuda, prefer_triton=prefer_triton)
        raise Stop

    monkeypatch.setattr(ops_gumbel, "is_cuda", lambda x: True)
    monkeypatch.setattr(ops_gumbel, "resolve", fake_resolve)
    monkeypatch.setattr(backends, "TRITON_GUMBEL_MIN_VOCAB", 64)
    for vocab, expect in ((63, False), (64, True)):
        with pytest.raises(Stop):
            ops_gumbel.sample_gumbel(torch.zeros(2, vocab), [[1], [2]], keys=tm.Key(b"k").words,
                                     context_width=1, seeding=0)  # fmt: skip
        assert seen == {"op": "sample_gumbel", "on_cuda": True, "prefer_triton": expect}


@pytest.mark.gpu
@pytest.mark.skipif(not HAS_GPU, reason="no CUDA device")
@pytest.mark.parametrize("scheme", ["gumbel", "synthid"])
@pytest.mark.parametrize("backend", ["auto", "cuda", "triton"])
def test_cuda_tensors_scored_on_device(monkeypatch, scheme, backend):
    seqs = docs(5, n_docs=37, vocab=32000)
    key = tm.Key(b"device-detect")
    wm = tm.Gumbel(key=key) if scheme == "gumbel" else tm.SynthID(key=key)
    module = gumbel if scheme == "gumbel" else synthid
    want = wm.detect(seqs, return_flags=True)
    length = 30
    square = np.stack(
        [np.resize(s, length) if len(s) else np.zeros(length, np.int32) for s in seqs]
    )
    want_sq = wm.detect(square, return_flags=True)
    want_eos = wm.detect(seqs, eos_token_id=7) if scheme == "synthid" else None
    refuse_host_copy(monkeypatch, module)
    got = wm.detect(torch.from_numpy(square).cuda(), return_flags=True, backend=backend)
    fields = ["n_scored", "p_value"] + (["score"] if scheme == "gumbel" else ["ones"])
    assert_same(got, want_sq, fields)
    rag = flat(seqs)
    t = Ragged(torch.from_numpy(rag.tokens).cuda(), torch.from_numpy(rag.offsets).cuda())
    got = wm.detect(t, backend=backend)
    assert_same(got, want, fields)
    if scheme == "synthid":
        got = wm.detect(t, eos_token_id=7, backend=backend)
        assert_same(got, want_eos, fields)
