"""CUDA backend of the Gumbel operations: torch tensors in, metadata checks, ``_cuda`` out.

Like :mod:`.kgw`: checks read tensor metadata only, so :func:`sample_gumbel`
neither synchronises nor allocates beyond its output and can run inside a decode loop.
:func:`score_gumbel` validates its inputs on the device with one host sync, as ``score_kgw``.
"""

from __future__ import annotations

import torch

from .._torch import check_row_inputs, row_param_stride
from .._torch import key_words as checked_key_words
from ._common import LOGITS_DTYPES, _cuda, check_score_inputs, require_cuda, scratch

__all__ = ["sample_gumbel", "score_gumbel"]


def sample_gumbel(
    logits: torch.Tensor,
    input_ids: torch.Tensor,
    keys: torch.Tensor,
    salts: torch.Tensor,
    enabled: torch.Tensor | None,
    context_width: int,
    seeding: int,
    skip_repeated: bool,
    *,
    splits: int = 0,
) -> torch.Tensor:
    """The Gumbel-max choice of each row of ``logits``, on its CUDA device.

    Arguments as :func:`tokenmark.ops.sample_gumbel`, already normalised (tensors on one
    device, scalars checked); see there for shapes and dtypes. ``splits``: blocks per row (0:
    the launcher's rule, long rows split; 1: one block per row; n: n blocks), for benchmarks.
    """
    require_cuda()
    batch, vocab, key_stride = check_row_inputs(logits, input_ids, keys, enabled, LOGITS_DTYPES)
    device = logits.device
    salt_stride = row_param_stride(salts, "salts", device, torch.int32, batch)
    enabled_ptr = 0 if enabled is None else enabled.data_ptr()
    out = torch.empty(batch, dtype=torch.int64, device=device)
    ws_bytes = 0 if splits == 1 else _cuda.sample_gumbel_workspace_bytes(batch, vocab)
    # float64 elements: the split blocks' winners need 8-byte alignment.
    workspace = torch.empty(ws_bytes // 8, dtype=torch.float64, device=device) if ws_bytes else None
    _cuda.sample_gumbel(
        logits.data_ptr(), batch, vocab, logits.stride(0), LOGITS_DTYPES[logits.dtype],
        input_ids.data_ptr(), input_ids.dtype == torch.int64, input_ids.shape[1],
        input_ids.stride(0), keys.data_ptr(), key_stride, salts.data_ptr(), salt_stride,
        enabled_ptr, int(context_width), int(seeding), bool(skip_repeated), out.data_ptr(),
        device.index, torch.cuda.current_stream(device).cuda_stream, int(splits),
        workspace.data_ptr() if workspace is not None else 0, ws_bytes,
    )  # fmt: skip
    return out


def score_gumbel(
    tokens: torch.Tensor,
    offsets: torch.Tensor,
    prefix_lengths: torch.Tensor | None,
    key_words: tuple[int, int, int, int],
    salts: torch.Tensor,
    context_width: int,
    seeding: int,
    dedup: bool,
    want_flags: bool,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
    """Gumbel scores of ragged documents ``tokens[offsets[d]:offsets[d+1]]`` on their device.

    Arguments as :func:`tokenmark.ops.score_gumbel`, already normalised (tensors on one
    device, scalars checked); see there for shapes and dtypes.
    """
    require_cuda()
    words = checked_key_words(key_words, "key")
    check_score_inputs(tokens, offsets, prefix_lengths, dedup)
    n_tokens, n_docs = tokens.shape[0], offsets.shape[0] - 1
    device = tokens.device
    salt_stride = row_param_stride(salts, "salts", device, torch.int32, max(n_docs, 1))
    n_scored = torch.empty(n_docs, dtype=torch.int64, device=device)
    score = torch.empty(n_docs, dtype=torch.float64, device=device)
    counted = torch.empty(n_tokens, dtype=torch.uint8, device=device) if want_flags else None
    ws_bytes = _cuda.score_gumbel_workspace_bytes(n_tokens, bool(dedup))
    _ws, ws_ptr, ws_size = scratch(ws_bytes, device)
    _cuda.score_gumbel(
        tokens.data_ptr(), n_tokens, offsets.data_ptr(), n_docs,
        prefix_lengths.data_ptr() if prefix_lengths is not None else 0, words, salts.data_ptr(),
        salt_stride,
        int(context_width), int(seeding), bool(dedup), n_scored.data_ptr(), score.data_ptr(),
        counted.data_ptr() if counted is not None else 0,
        ws_ptr, ws_size,
        device.index, torch.cuda.current_stream(device).cuda_stream,
    )  # fmt: skip
    return n_scored, score, counted
