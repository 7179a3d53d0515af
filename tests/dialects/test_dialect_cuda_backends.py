"""The dialects' CUDA backend modules (``tokenmark.backends.cuda.{vllm,sglang,synthid_text}``)
call their ``_cuda`` bindings with arguments that pass every check, on a CUDA build without a
GPU: CPU tensors stand in for device ones (the device checks and the stream patched), and the
call must get as far as the launch, which then reports the missing device. A wrong argument
order, count, type, size or alignment fails earlier, with another error."""

from __future__ import annotations

import types

import numpy as np
import pytest
import torch

HAS_GPU = torch.cuda.is_available()
pytestmark = pytest.mark.skipif(HAS_GPU, reason="checks the calls without a CUDA device")


@pytest.fixture
def backends(monkeypatch):
    cuda_mod = pytest.importorskip(
        "tokenmark._cuda", reason="tokenmark was built without CUDA", exc_type=ModuleNotFoundError
    )
    from tokenmark.backends.cuda import sglang, synthid_text, vllm

    class Binding:  # the real binding, with the CPU device's index None passed as device 0
        def __getattr__(self, name):
            fn = getattr(cuda_mod, name)
            return lambda *a: fn(*[0 if x is None else x for x in a])

    for m in (vllm, sglang, synthid_text):
        monkeypatch.setattr(m, "require_cuda", lambda: None)
        monkeypatch.setattr(m, "check_score_inputs", lambda *a: None)
        monkeypatch.setattr(m, "_cuda", Binding())
    monkeypatch.setattr(torch.cuda, "current_stream", lambda d=None: types.SimpleNamespace(
        cuda_stream=0))  # fmt: skip
    return types.SimpleNamespace(vllm=vllm, sglang=sglang, synthid_text=synthid_text)


def _batch():
    tokens = torch.arange(40, dtype=torch.int32) % 7
    offsets = torch.tensor([0, 10, 10, 40], dtype=torch.int64)
    return tokens, offsets, torch.tensor([2, 0, 5], dtype=torch.int64)


@pytest.mark.parametrize("flags", [False, True])
def test_calls_reach_the_launch(backends, flags):
    t, o, p = _batch()
    keys2 = np.array([5, 2**64 - 1], np.uint64)
    calls = {
        "score_vllm": lambda: backends.vllm.score_vllm(t, o, p, 4, keys2, np.array([0.5, 0.5]),
                                                       True, flags),
        "score_sglang": lambda: backends.sglang.score_sglang(t, o, p, 4, 100, keys2, 2**31,
                                                             flags),
        "score_synthid_text": lambda: backends.synthid_text.score_synthid_text(
            t, o, p, 5, np.arange(30, dtype=np.uint64), np.ones(2**16, np.uint8), 1024, True, 2,
            flags),
    }  # fmt: skip
    for op, call in calls.items():
        with pytest.raises(RuntimeError, match=f"tokenmark CUDA {op}"):
            call()
