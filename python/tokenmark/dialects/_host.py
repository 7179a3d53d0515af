"""Token sequences of any form (CUDA tensors included) as host arrays: the dialects score on the
host."""

from __future__ import annotations

import numpy as np

from .._inputs import Ragged, as_ragged, device_ragged
from .._validate import check_prefix, clamp_prefix
from ..ops._common import cuda_available, resolve_host


def _as_host_ragged(sequences) -> Ragged:
    if isinstance(sequences, Ragged) and hasattr(sequences.offsets, "cpu"):
        sequences = Ragged(sequences.tokens, sequences.offsets.detach().cpu().numpy())
    return as_ragged(sequences)  # copies tensors on any device to the host


def host_ragged(sequences) -> tuple[np.ndarray, np.ndarray]:
    """``(tokens int64 [n_tokens], offsets int64 [n_docs + 1])`` of validated token ids (the
    checks of :func:`host_batch`), for the dialects that index with them in numpy."""
    tokens, offsets, _ = host_batch(sequences)
    return tokens.astype(np.int64), offsets


def host_batch(sequences, prefix_lengths=None):
    """``(tokens, offsets, prefix)`` as the host backends take them, checked once: int32 ids in
    ``[0, 2^31)`` (C-contiguous), int64 offsets from 0 to ``n_tokens``, non-decreasing (both
    checked by :func:`tokenmark._inputs.as_ragged`), and the prefix lengths (None, a scalar or one
    per document) as int64 ``[n_docs]`` clamped to each document's length. The dialects call
    their backend with these directly: the op's checks of the same arrays, and of the scheme's
    own settings (checked when the scheme was made), would only repeat per call; a C-contiguous
    int64 array is checked and narrowed in one C++ pass there."""
    rag = _as_host_ragged(sequences)
    tokens = np.ascontiguousarray(rag.tokens, dtype=np.int32)
    offsets = np.ascontiguousarray(rag.offsets, dtype=np.int64)
    return tokens, offsets, clamp_prefix(check_prefix(prefix_lengths, len(offsets) - 1), offsets)


def host_scorer(op: str, backend: str):
    """The host backend's function for ``op`` (``auto``: C++ unless TOKENMARK_BACKEND names the
    numpy reference), resolved per call as :mod:`tokenmark.ops` does."""
    return resolve_host(op, backend)[1]


def device_batch(sequences, backend: str) -> Ragged | None:
    """The CUDA input that a dialect with CUDA scorers counts on its device, as a Ragged there:
    with ``backend="cuda"``, or ``"auto"`` where tokenmark has its CUDA kernels; else None (the
    host path, which copies CUDA input to the host)."""
    rag = device_ragged(sequences) if backend in ("auto", "cuda") else None
    return rag if rag is not None and (backend == "cuda" or cuda_available()) else None
