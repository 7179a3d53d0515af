"""The SGLang dialect's detector on a CUDA device (``_cuda.score_sglang``,
csrc/cuda/sglang_score.cu)."""

from __future__ import annotations

import numpy as np
import torch

from ._common import _cuda, check_score_inputs, require_cuda, scratch


def score_sglang(
    tokens: torch.Tensor,
    offsets: torch.Tensor,
    prefix_lengths: torch.Tensor | None,
    context_width: int,
    max_contexts: int,
    keys: np.ndarray,
    threshold: int,
    want_flags: bool,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor | None]:
    """``(n_scored, n_key_a, sums [n_docs, 5], counted)`` of ragged documents on their device, as
    the host backends' ``score_sglang`` (arguments checked by :func:`tokenmark.ops.score_sglang`;
    ``keys`` uint64 ``[1]`` or ``[2]``)."""
    require_cuda()
    check_score_inputs(tokens, offsets, prefix_lengths, True)
    n_tokens, n_docs = tokens.shape[0], offsets.shape[0] - 1
    device = tokens.device
    n_scored = torch.empty(n_docs, dtype=torch.int64, device=device)
    n_key_a = torch.empty(n_docs, dtype=torch.int64, device=device)
    sums = torch.empty((n_docs, 5), dtype=torch.float64, device=device)
    counted = torch.empty(n_tokens, dtype=torch.uint8, device=device) if want_flags else None
    _ws, ws_ptr, ws_size = scratch(_cuda.score_sglang_workspace_bytes(n_tokens, len(keys)), device)
    _cuda.score_sglang(
        tokens.data_ptr(), n_tokens, offsets.data_ptr(), n_docs,
        prefix_lengths.data_ptr() if prefix_lengths is not None else 0, int(context_width),
        int(max_contexts), [int(k) for k in keys], int(threshold), n_scored.data_ptr(),
        n_key_a.data_ptr(), sums.data_ptr(), counted.data_ptr() if counted is not None else 0,
        ws_ptr, ws_size,
        device.index, torch.cuda.current_stream(device).cuda_stream,
    )  # fmt: skip
    return n_scored, n_key_a, sums, counted
