"""KGW on Triton: the bias and the scorer."""

from __future__ import annotations

import torch

from ...kernels import kgw_bias, kgw_score
from .._torch import row_param_stride
from . import _common
from ._common import (
    block_for,
    cdiv,
    check_id_range,
    check_logits_ids,
    check_score_args,
    check_width_seeding,
    context_hashes,
    counted_positions,
    i32_bits,
    kernel_logits,
    launch_score,
    on_device,
    per_doc_sums,
)


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
    """Add ``deltas[b]`` to the green logits of each row ``b``, in place.

    Arguments as :func:`tokenmark.ops.apply_kgw_bias_`, already normalised (tensors on one
    device, scalars checked); see there for shapes and dtypes.
    """
    kernel = kgw_bias.kgw_bias_kernel
    check_width_seeding(context_width, seeding)
    batch, vocab, enabled, key_stride = check_logits_ids(kernel, logits, input_ids, keys, enabled)
    device, ids_len = logits.device, input_ids.shape[1]
    threshold_stride = row_param_stride(thresholds, "thresholds", device, torch.int32, batch)
    delta_stride = row_param_stride(deltas, "deltas", device, torch.float32, batch)
    if device.type == "cpu":
        if not torch.isfinite(deltas).all():
            raise ValueError("deltas: must be finite")
        if (thresholds == 0).any():
            raise ValueError("thresholds: must be > 0 (gamma too small)")
        if ids_len >= context_width:
            check_id_range(input_ids[:, ids_len - context_width :])
    if batch == 0 or vocab == 0 or ids_len < context_width:
        return

    block = block_for(kernel, vocab, _common.BIAS_BLOCK)
    target, is_bf16 = kernel_logits(logits)
    grid = (batch, cdiv(vocab, block))
    with on_device(device):
        kernel[grid](
            target,
            input_ids,
            keys,
            thresholds,
            deltas,
            enabled,
            vocab,
            logits.stride(0),
            ids_len,
            input_ids.stride(0),
            key_stride,
            threshold_stride,
            delta_stride,
            WIDTH=context_width,
            SEEDING=seeding,
            HAS_ENABLED=enabled is not None,
            IS_BF16=is_bf16,
            BLOCK=block,
            num_warps=_common.NUM_WARPS,
        )


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
    """Score ragged documents ``tokens[offsets[d]:offsets[d+1]]`` for the KGW watermark.

    Position ``i`` of document ``d`` is scored when
    ``i - offsets[d] >= max(context_width, prefix_lengths[d])``; its context is the
    ``context_width`` tokens before it. With ``dedup`` only the first occurrence of each
    (context hash, token) pair in a document enters the counts.

    Arguments as :func:`tokenmark.ops.score_kgw`, already normalised (tensors on one
    device, scalars checked); see there for shapes and dtypes.
    """
    kernel = kgw_score.kgw_score_kernel
    words = check_score_args(
        kernel, tokens, offsets, prefix_lengths, key_words, context_width, seeding
    )
    if not 1 <= threshold < 1 << 32:
        raise ValueError("threshold: must be in [1, 2^32)")

    n_tokens, n_docs, device = tokens.shape[0], offsets.shape[0] - 1, tokens.device
    n_scored = torch.zeros(n_docs, dtype=torch.int64, device=device)
    n_green = torch.zeros(n_docs, dtype=torch.int64, device=device)
    green = torch.empty(n_tokens, dtype=torch.int8, device=device)
    ctx = context_hashes(tokens, dedup)
    words32 = tuple(i32_bits(w) for w in words)
    launch_score(
        kernel, tokens, offsets, prefix_lengths,
        (green, ctx, n_scored, n_green, n_tokens, n_docs, *words32, i32_bits(threshold)),
        context_width, seeding, dedup, COUNT=not dedup,
    )  # fmt: skip
    if dedup:
        counted, kept, doc = counted_positions(tokens, offsets, green >= 0, ctx)
        n_scored = per_doc_sums(doc, n_docs)
        n_green = per_doc_sums(doc, n_docs, green[kept].to(torch.int64))
    else:
        counted = (green >= 0).to(torch.uint8) if want_flags else None
    if not want_flags:
        return n_scored, n_green, None, None
    return n_scored, n_green, green, counted
