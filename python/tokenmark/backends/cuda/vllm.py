"""The vLLM dialect's detector on a CUDA device (``_cuda.score_vllm``, csrc/cuda/vllm_score.cu)."""

from __future__ import annotations

import numpy as np
import torch

from ._common import _cuda, check_score_inputs, require_cuda, scratch


def score_vllm(
    tokens: torch.Tensor,
    offsets: torch.Tensor,
    starts: torch.Tensor | None,
    context_width: int,
    keys: np.ndarray,
    weights: np.ndarray,
    dedup: bool,
    want_flags: bool,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
    """``(n_scored, score, counted)`` of ragged documents ``tokens[offsets[d]:offsets[d+1]]`` on
    their device, as the host backends' ``score_vllm``: ``starts`` (int64 per document, or None
    for 0) is each document's first scored position; ``keys`` uint64 ``[1]`` or ``[2]`` and their
    float64 ``weights``, checked by :func:`tokenmark.ops.score_vllm`."""
    require_cuda()
    check_score_inputs(tokens, offsets, starts, dedup)
    n_tokens, n_docs = tokens.shape[0], offsets.shape[0] - 1
    device = tokens.device
    n_scored = torch.empty(n_docs, dtype=torch.int64, device=device)
    score = torch.empty(n_docs, dtype=torch.float64, device=device)
    counted = torch.empty(n_tokens, dtype=torch.uint8, device=device) if want_flags else None
    _ws, ws_ptr, ws_size = scratch(
        _cuda.score_vllm_workspace_bytes(n_tokens, len(keys), bool(dedup)), device
    )
    _cuda.score_vllm(
        tokens.data_ptr(), n_tokens, offsets.data_ptr(), n_docs,
        starts.data_ptr() if starts is not None else 0, int(context_width),
        [int(k) for k in keys], [float(w) for w in weights], bool(dedup),
        n_scored.data_ptr(), score.data_ptr(), counted.data_ptr() if counted is not None else 0,
        ws_ptr, ws_size,
        device.index, torch.cuda.current_stream(device).cuda_stream,
    )  # fmt: skip
    return n_scored, score, counted
