"""CUDA backend of the KGW operations: torch tensors in, cheap host-side checks, ``_cuda`` out.

The tensors are already on one CUDA device (the dispatcher moves them). Checks here read only
tensor metadata (device, dtype, shape, strides), never device memory, so
:func:`apply_kgw_bias_` neither synchronises nor allocates and can be captured in a CUDA graph.
:func:`score_kgw` validates offsets, tokens and prefix lengths on the device and
synchronises once to report a bad value.
"""

from __future__ import annotations

import torch

from .._torch import check_row_inputs, row_param_stride
from .._torch import key_words as checked_key_words
from ._common import LOGITS_DTYPES, _cuda, check_score_inputs, require_cuda

__all__ = ["apply_kgw_bias_", "score_kgw"]

_UINT32_MAX = 0xFFFFFFFF


def apply_kgw_bias_(
    logits: torch.Tensor,
    input_ids: torch.Tensor,
    keys: torch.Tensor,
    thresholds: torch.Tensor,
    deltas: torch.Tensor,
    enabled: torch.Tensor | None,
    context_width: int,
    seeding: int,
) -> None:
    """Add the KGW bias to the green entries of ``logits`` in place, on its CUDA device.

    The launch goes to ``torch.cuda.current_stream(logits.device)``; nothing is allocated and
    nothing synchronises, so the call can be captured in a CUDA graph.

    Arguments as :func:`tokenmark.ops.apply_kgw_bias_`, already normalised (tensors on one
    device, scalars checked); see there for shapes and dtypes.
    """
    require_cuda()
    batch, vocab, key_stride = check_row_inputs(logits, input_ids, keys, enabled, LOGITS_DTYPES)
    device = logits.device
    threshold_stride = row_param_stride(thresholds, "thresholds", device, torch.int32, batch)
    delta_stride = row_param_stride(deltas, "deltas", device, torch.float32, batch)
    enabled_ptr = 0 if enabled is None else enabled.data_ptr()
    _cuda.apply_kgw_bias_(
        logits.data_ptr(), batch, vocab, logits.stride(0), LOGITS_DTYPES[logits.dtype],
        input_ids.data_ptr(), input_ids.dtype == torch.int64, input_ids.shape[1],
        input_ids.stride(0), keys.data_ptr(), key_stride, thresholds.data_ptr(),
        threshold_stride, deltas.data_ptr(), delta_stride, enabled_ptr, int(context_width),
        int(seeding), device.index, torch.cuda.current_stream(device).cuda_stream,
    )  # fmt: skip


def _check_key_threshold(key_words, threshold: int) -> tuple[int, ...]:
    words = checked_key_words(key_words, "key")
    if not 0 < int(threshold) <= _UINT32_MAX:
        raise ValueError("threshold: must be in [1, 2^32)")
    return words


def _score_kgw_into(
    tokens: torch.Tensor,
    offsets: torch.Tensor,
    prefix_lengths: torch.Tensor | None,
    key_words: tuple[int, int, int, int],
    threshold: int,
    context_width: int,
    seeding: int,
    dedup: bool,
    n_scored: torch.Tensor,
    n_green: torch.Tensor,
    green: torch.Tensor | None,
    counted: torch.Tensor | None,
    workspace: torch.Tensor | None,
) -> None:
    """Launch the scoring kernels into given outputs; the inputs are already checked."""
    device = tokens.device
    _cuda.score_kgw(
        tokens.data_ptr(), tokens.shape[0], offsets.data_ptr(), offsets.shape[0] - 1,
        prefix_lengths.data_ptr() if prefix_lengths is not None else 0, key_words, int(threshold),
        int(context_width), int(seeding), bool(dedup), n_scored.data_ptr(), n_green.data_ptr(),
        green.data_ptr() if green is not None else 0,
        counted.data_ptr() if counted is not None else 0,
        workspace.data_ptr() if workspace is not None else 0,
        workspace.numel() if workspace is not None else 0,
        device.index, torch.cuda.current_stream(device).cuda_stream,
    )  # fmt: skip


def score_kgw(
    tokens: torch.Tensor,
    offsets: torch.Tensor,
    prefix_lengths: torch.Tensor | None,
    key_words: tuple[int, int, int, int],
    threshold: int,
    context_width: int,
    seeding: int,
    dedup: bool,
    want_flags: bool,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None, torch.Tensor | None]:
    """Score ragged documents ``tokens[offsets[d]:offsets[d+1]]`` on their CUDA device.

    The inputs are validated on the device with one host sync (offsets, tokens >= 0, prefix_lengths
    >= 0); the kernels then run asynchronously on ``torch.cuda.current_stream``.

    Arguments as :func:`tokenmark.ops.score_kgw`, already normalised (tensors on one
    device, scalars checked); see there for shapes and dtypes.
    """
    require_cuda()
    words = _check_key_threshold(key_words, threshold)
    check_score_inputs(tokens, offsets, prefix_lengths, dedup)
    n_tokens, n_docs = tokens.shape[0], offsets.shape[0] - 1
    device = tokens.device
    n_scored = torch.empty(n_docs, dtype=torch.int64, device=device)
    n_green = torch.empty(n_docs, dtype=torch.int64, device=device)
    green = counted = None
    if want_flags:
        green = torch.empty(n_tokens, dtype=torch.int8, device=device)
        counted = torch.empty(n_tokens, dtype=torch.uint8, device=device)
    ws_bytes = _cuda.score_kgw_workspace_bytes(n_tokens, bool(dedup))
    workspace = torch.empty(ws_bytes, dtype=torch.uint8, device=device) if ws_bytes else None
    _score_kgw_into(
        tokens, offsets, prefix_lengths, words, threshold, context_width, seeding, dedup,
        n_scored, n_green, green, counted, workspace,
    )  # fmt: skip
    return n_scored, n_green, green, counted
