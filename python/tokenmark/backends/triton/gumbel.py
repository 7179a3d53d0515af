"""Gumbel on Triton: the sampler and the scorer."""

from __future__ import annotations

import torch

from ...kernels import gumbel_sample, gumbel_score
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
    is_interpreted,
    kernel_logits,
    launch_score,
    on_device,
    per_doc_sums,
    pow2_block,
    sm_count,
)


def sample_gumbel(
    logits: torch.Tensor,
    input_ids: torch.Tensor,
    keys: torch.Tensor,
    salts: torch.Tensor,
    enabled: torch.Tensor | None,
    context_width: int,
    seeding: int,
    skip_repeated: bool,
) -> torch.Tensor:
    """The Gumbel-max choice of each row of ``logits``, as the CUDA backend's sample_gumbel.

    Arguments as :func:`tokenmark.ops.sample_gumbel`, already normalised (tensors on one
    device, scalars checked); see there for shapes and dtypes.
    """
    kernels = gumbel_sample
    kernel = kernels.gumbel_sample_kernel
    check_width_seeding(context_width, seeding)
    batch, vocab, enabled, key_stride = check_logits_ids(kernel, logits, input_ids, keys, enabled)
    device, ids_len = logits.device, input_ids.shape[1]
    salt_stride = row_param_stride(salts, "salts", device, torch.int32, batch)
    if device.type == "cpu":
        check_id_range(input_ids)
    out = torch.empty(batch, dtype=torch.int64, device=device)
    if batch == 0:
        return out
    interpreted = is_interpreted(kernel)
    block = block_for(kernel, vocab, _common.SAMPLE_BLOCK)
    ids_block = block_for(kernel, ids_len, _common.SAMPLE_IDS_BLOCK)
    n_blocks = max(1, cdiv(vocab, block))
    if interpreted:
        splits = min(n_blocks, _common.INTERPRETER_SPLITS)
    else:
        splits = min(n_blocks, cdiv(_common.PROGRAMS_PER_SM * sm_count(device), batch))
    split_cols = cdiv(n_blocks, splits) * block
    n_splits = max(1, cdiv(vocab, split_cols))
    part_s = torch.empty(batch, n_splits, dtype=torch.float64, device=device)
    part_id = torch.empty(batch, n_splits, dtype=torch.int32, device=device)
    x, is_bf16 = kernel_logits(logits)
    with on_device(device):
        kernel[(batch, n_splits)](
            x,
            input_ids,
            keys,
            salts,
            enabled,
            part_s,
            part_id,
            vocab,
            logits.stride(0),
            ids_len,
            input_ids.stride(0),
            key_stride,
            salt_stride,
            split_cols,
            WIDTH=context_width,
            SEEDING=seeding,
            SKIP_REPEATED=bool(skip_repeated),
            HAS_ENABLED=enabled is not None,
            IS_BF16=is_bf16,
            IDS_BLOCK=ids_block,
            BLOCK=block,
            INTERPRETED=interpreted,
            num_warps=_common.NUM_WARPS,
        )
        kernels.gumbel_pick_kernel[(batch,)](
            part_s, part_id, out, n_splits, SPLITS=pow2_block(n_splits, 1 << 20), num_warps=1
        )
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
    """Gumbel scores of ragged documents, as the CUDA backend's score_gumbel.

    Arguments as :func:`tokenmark.ops.score_gumbel`, already normalised (tensors on one
    device, scalars checked); see there for shapes and dtypes.
    """
    kernels = gumbel_score
    kernel = kernels.gumbel_term_kernel
    words = check_score_args(
        kernel, tokens, offsets, prefix_lengths, key_words, context_width, seeding
    )
    n_tokens, n_docs, device = tokens.shape[0], offsets.shape[0] - 1, tokens.device
    salt_stride = row_param_stride(salts, "salts", device, torch.int32, max(n_docs, 1))
    term = torch.empty(n_tokens, dtype=torch.float64, device=device)
    ctx = context_hashes(tokens, dedup)
    words32 = tuple(i32_bits(w) for w in words)
    launch_score(
        kernel, tokens, offsets, prefix_lengths,
        (salts, term, ctx, n_tokens, n_docs, salt_stride, *words32),
        context_width, seeding, dedup, INTERPRETED=is_interpreted(kernel),
    )  # fmt: skip
    # Every scored term is > 0 (1 - u < 1), so the nonzero terms are the scored positions.
    counted, _, doc = counted_positions(tokens, offsets, term > 0, ctx)
    n_scored = per_doc_sums(doc, n_docs)
    term.masked_fill_(counted == 0, 0.0)
    score = torch.empty(n_docs, dtype=torch.float64, device=device)
    if n_docs > 0:
        with on_device(device):
            kernels.gumbel_sum_kernel[(n_docs,)](term, offsets, score, num_warps=1)
    return n_scored, score, counted if want_flags else None
