"""CUDA backend of the SynthID-Text operations: torch tensors in, checks, ``_cuda`` out.

:func:`sample_synthid` checks tensor metadata only: it neither synchronises nor allocates beyond
its outputs and scratch (from torch's caching allocator), so it runs inside a decode loop and
under CUDA graph capture. :func:`score_synthid` validates its inputs as ``score_kgw`` does
(values on the device, one host sync). Kernels run on ``torch.cuda.current_stream``.
"""

from __future__ import annotations

import torch

from .._torch import check_row_inputs, check_tensor, synthid_layers, top_k_candidates
from .._torch import key_words as checked_key_words
from ._common import LOGITS_DTYPES, _cuda, check_score_inputs, require_cuda

__all__ = ["sample_synthid", "score_synthid"]


def sample_synthid(
    logits: torch.Tensor,
    input_ids: torch.Tensor,
    keys: torch.Tensor,
    uniforms: torch.Tensor,
    enabled: torch.Tensor | None,
    context_width: int,
    seeding: int,
    layers: int,
    top_k: int,
    context_history: int,
) -> tuple[torch.Tensor, torch.Tensor]:
    """SynthID-Text tournament sampling of each row of ``logits``, on its CUDA device, bit for bit
    as the CPU and the numpy reference. With ``0 < top_k < vocab`` the candidates are picked on
    the device by the sampler's own top-k kernel (csrc/cuda/top_k.cuh: one launch, or two for
    rows long enough to split over blocks).

    Arguments as :func:`tokenmark.ops.sample_synthid`, already normalised (tensors on one
    device, scalars checked); see there for shapes and dtypes.
    """
    return _sample(logits, input_ids, keys, uniforms, enabled, context_width, seeding, layers,
                   top_k, context_history, torch_top_k=False)  # fmt: skip


def _sample(
    logits: torch.Tensor,
    input_ids: torch.Tensor,
    keys: torch.Tensor,
    uniforms: torch.Tensor,
    enabled: torch.Tensor | None,
    context_width: int,
    seeding: int,
    layers: int,
    top_k: int,
    context_history: int,
    *,
    torch_top_k: bool,
    chunk: int = 0,
    stage_times: torch.Tensor | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """:func:`sample_synthid`; ``torch_top_k`` picks the top-k candidates with torch ops
    (:func:`top_k_candidates` and a gather, as before the top-k kernel) instead: kept for the
    benchmark and the tests that compare the two. ``chunk``: candidates per block of a pass (0:
    the kernel's default), for bench/profile_gpu_synthid.py's sweep; the tokens do not change.
    ``stage_times``: an int64 tensor on the device of ``_cuda.sample_synthid_stage_shape``'s
    shape, filled with each block's stage stamps (bench/profile_gpu_synthid.py --stages)."""
    require_cuda()
    batch, vocab, key_stride = check_row_inputs(logits, input_ids, keys, enabled, LOGITS_DTYPES)
    device = logits.device
    check_tensor(uniforms, "uniforms", device, (torch.float64,), 1)
    if uniforms.shape[0] != batch or not uniforms.is_contiguous():
        raise ValueError(f"uniforms: expected a contiguous tensor of shape [{batch}]")
    layers = synthid_layers(layers)
    if int(top_k) < 0:
        raise ValueError(f"top_k: must be >= 0 (0: the whole vocabulary), got {top_k}")
    if int(context_history) < 0:
        raise ValueError(f"context_history: must be >= 0, got {context_history}")
    cand = None
    top_k = int(top_k) if 0 < int(top_k) < vocab else 0
    if top_k and torch_top_k:
        cand = top_k_candidates(logits, top_k)
        logits = torch.gather(logits, 1, cand.to(torch.int64))
        top_k = 0
    n = logits.shape[1]
    tokens = torch.empty(batch, dtype=torch.int64, device=device)
    marked = torch.empty(batch, dtype=torch.uint8, device=device)
    ws_bytes = _cuda.sample_synthid_workspace_bytes(batch, n, int(layers), top_k)
    workspace = torch.empty(max(ws_bytes, 16), dtype=torch.uint8, device=device)
    _cuda.sample_synthid(
        logits.data_ptr(), batch, n, logits.stride(0), LOGITS_DTYPES[logits.dtype],
        cand.data_ptr() if cand is not None else 0, input_ids.data_ptr(),
        input_ids.dtype == torch.int64, input_ids.shape[1], input_ids.stride(0), keys.data_ptr(),
        key_stride, uniforms.data_ptr(), 0 if enabled is None else enabled.data_ptr(),
        int(context_width), int(seeding), int(layers), int(context_history), top_k,
        tokens.data_ptr(), marked.data_ptr(), workspace.data_ptr(), ws_bytes, device.index,
        torch.cuda.current_stream(device).cuda_stream, int(chunk), *_stamps(stage_times, device),
    )  # fmt: skip
    return tokens, marked


def _stamps(stage_times: torch.Tensor | None, device: torch.device) -> tuple[int, int]:
    """The stage stamps' pointer and bytes for ``_cuda.sample_synthid`` ((0, 0): none)."""
    if stage_times is None:
        return 0, 0
    check_tensor(stage_times, "stage_times", device, (torch.int64,), 5)
    if not stage_times.is_contiguous():
        raise ValueError("stage_times: expected a contiguous tensor")
    return stage_times.data_ptr(), stage_times.numel() * 8


def score_synthid(
    tokens: torch.Tensor,
    offsets: torch.Tensor,
    prefix_lengths: torch.Tensor | None,
    key_words: tuple[int, int, int, int],
    context_width: int,
    seeding: int,
    layers: int,
    dedup: bool,
    want_flags: bool,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
    """SynthID-Text counts of ragged documents ``tokens[offsets[d]:offsets[d+1]]`` on their device.

    Arguments as :func:`tokenmark.ops.score_synthid`, already normalised (tensors on one
    device, scalars checked); see there for shapes and dtypes.
    """
    require_cuda()
    words = checked_key_words(key_words, "key")
    layers = synthid_layers(layers)
    check_score_inputs(tokens, offsets, prefix_lengths, dedup)
    n_tokens, n_docs = tokens.shape[0], offsets.shape[0] - 1
    device = tokens.device
    n_scored = torch.empty(n_docs, dtype=torch.int64, device=device)
    ones = torch.empty(n_docs, int(layers), dtype=torch.int64, device=device)
    counted = torch.empty(n_tokens, dtype=torch.uint8, device=device) if want_flags else None
    ws_bytes = _cuda.score_synthid_workspace_bytes(n_tokens, bool(dedup))
    workspace = torch.empty(ws_bytes, dtype=torch.uint8, device=device) if ws_bytes else None
    _cuda.score_synthid(
        tokens.data_ptr(), n_tokens, offsets.data_ptr(), n_docs,
        prefix_lengths.data_ptr() if prefix_lengths is not None else 0, words, int(context_width),
        int(seeding),
        int(layers), bool(dedup), n_scored.data_ptr(), ones.data_ptr(),
        counted.data_ptr() if counted is not None else 0,
        workspace.data_ptr() if workspace is not None else 0, ws_bytes,
        device.index, torch.cuda.current_stream(device).cuda_stream,
    )  # fmt: skip
    return n_scored, ones, counted
