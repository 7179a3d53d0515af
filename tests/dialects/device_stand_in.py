"""CPU torch tensors standing in for CUDA ones in a dialect's ``detect``: the device branch runs
(``dialects._host.device_batch`` sees them as CUDA input: its ``device_ragged`` and
``cuda_available`` patched), the host op stands in for the CUDA kernel, and any copy of the
tokens to the host (``host_batch``) fails the test."""

from __future__ import annotations

import numpy as np
import torch
from tokenmark._inputs import Ragged
from tokenmark.dialects import _host


def stand_in_device(monkeypatch, module, op: str, seqs: list[np.ndarray]) -> Ragged:
    """Patches ``module`` (a dialect's module) so that ``detect`` of the returned Ragged (CPU
    torch tensors) takes its device branch, ``module.ops.<op>`` answering as the host op."""
    rag = Ragged.from_sequences(seqs)
    on_dev = Ragged(torch.from_numpy(rag.tokens), torch.from_numpy(rag.offsets))
    host_op = getattr(module.ops, op)

    def kernel(tokens, offsets, *, prefix_lengths, backend, **kw):
        assert backend == "cuda" and isinstance(tokens, torch.Tensor)
        out = host_op(tokens.numpy(), offsets.numpy(), prefix_lengths=prefix_lengths, **kw)
        return tuple(None if x is None else torch.from_numpy(x) for x in out)

    def no_host(*_a, **_k):
        raise AssertionError("detect() copied device tokens to the host")

    monkeypatch.setattr(_host, "device_ragged", lambda s: on_dev)
    monkeypatch.setattr(_host, "cuda_available", lambda: True)
    monkeypatch.setattr(module, "host_batch", no_host)
    monkeypatch.setattr(module.ops, op, kernel)
    return on_dev
