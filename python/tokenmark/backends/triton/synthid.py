"""SynthID-Text on Triton: the tournament sampler and the scorer."""

from __future__ import annotations

import torch

from ...kernels import synthid_sample, synthid_score
from .._torch import check_tensor, synthid_layers, top_k_candidates
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
)


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
    """SynthID-Text tournament sampling of each row, as the CUDA backend's sample_synthid: bit
    for bit the CPU's and the numpy reference's tokens.

    Arguments as :func:`tokenmark.ops.sample_synthid`, already normalised (tensors on one
    device, scalars checked); see there for shapes and dtypes.
    """
    kernels = synthid_sample
    setup = kernels.synthid_setup_kernel
    check_width_seeding(context_width, seeding)
    batch, vocab, enabled, key_stride = check_logits_ids(setup, logits, input_ids, keys, enabled)
    device, ids_len = logits.device, input_ids.shape[1]
    check_tensor(uniforms, "uniforms", device, (torch.float64,), 1)
    if uniforms.shape[0] != batch or not uniforms.is_contiguous():
        raise ValueError(f"uniforms: expected a contiguous tensor of shape [{batch}]")
    layers = synthid_layers(layers)
    if int(top_k) < 0:
        raise ValueError(f"top_k: must be >= 0 (0: the whole vocabulary), got {top_k}")
    if int(context_history) < 0:
        raise ValueError(f"context_history: must be >= 0, got {context_history}")
    if device.type == "cpu":
        check_id_range(input_ids)
        if not ((uniforms >= 0) & (uniforms < 1)).all():
            raise ValueError("uniforms: must be in [0, 1)")
    tokens = torch.empty(batch, dtype=torch.int64, device=device)
    marked = torch.empty(batch, dtype=torch.uint8, device=device)
    if batch == 0:
        return tokens, marked
    cand = None
    if 0 < int(top_k) < vocab:
        cand = top_k_candidates(logits, int(top_k))
        logits = torch.gather(logits, 1, cand.to(torch.int64))
    n = logits.shape[1]
    interpreted = is_interpreted(setup)
    chunk = _common.SYNTHID_CHUNK
    n_chunks = max(1, cdiv(n, chunk))
    if n_chunks > _common.MAX_GRID_Y:
        raise ValueError(
            f"logits: at most {_common.MAX_GRID_Y * chunk} candidates per row, got {n}"
        )
    phase_bits, bins = kernels.PHASE_BITS.value, kernels.BINS.value
    phases = cdiv(layers, phase_bits)
    tile = pow2_block(n_chunks, _common.SYNTHID_TILE)
    shift = 62 - max(n, 1).bit_length()
    ids_block = block_for(setup, ids_len, _common.SAMPLE_IDS_BLOCK)
    max_key = torch.full((batch,), -(1 << 31), dtype=torch.int32, device=device)
    ctx = torch.empty(batch, dtype=torch.int32, device=device)
    row_marked = torch.empty(batch, dtype=torch.int32, device=device)
    hist = torch.zeros(batch, phases, bins, dtype=torch.int64, device=device)
    factors = torch.empty(batch, phases, bins, dtype=torch.float64, device=device)
    chunk_total = torch.empty(batch, n_chunks, dtype=torch.int64, device=device)
    x, is_bf16 = kernel_logits(logits)
    grid = (batch, n_chunks)
    # No multiply-add fusion: every float64 step is one rounded IEEE operation (docs/prf.md).
    exact = dict(num_warps=_common.NUM_WARPS, enable_fp_fusion=False)
    common = dict(HAS_CAND=cand is not None, IS_BF16=is_bf16, CHUNK=chunk, **exact)
    state = (max_key, ctx, row_marked)
    with on_device(device):
        setup[grid](
            x, input_ids, enabled, *state, n, logits.stride(0), ids_len, input_ids.stride(0),
            min(int(context_history), ids_len), WIDTH=context_width, SEEDING=seeding,
            HAS_ENABLED=enabled is not None, IS_BF16=is_bf16, IDS_BLOCK=ids_block, CHUNK=chunk,
            **exact,
        )  # fmt: skip
        for p in range(phases + 1):
            last = p == phases
            kernels.synthid_pass_kernel[grid](
                x, cand, keys, *state, factors, hist, chunk_total, n, logits.stride(0),
                key_stride, layers, p, shift, LAST=last, INTERPRETED=interpreted, **common,
            )  # fmt: skip
            if not last:
                bits = min(phase_bits, layers - p * phase_bits)
                kernels.synthid_factors_kernel[(batch,)](
                    hist, factors, layers, p, BITS=bits, **exact
                )
        kernels.synthid_draw_kernel[(batch,)](
            x, cand, keys, uniforms, *state, factors, chunk_total, tokens, marked, n, n_chunks,
            logits.stride(0), key_stride, layers, shift, TILE=tile,
            INTERPRETED=interpreted, **common,
        )  # fmt: skip
    return tokens, marked


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
    """SynthID-Text counts of ragged documents, as the CUDA backend's score_synthid.

    Arguments as :func:`tokenmark.ops.score_synthid`, already normalised (tensors on one
    device, scalars checked); see there for shapes and dtypes.
    """
    kernel = synthid_score.synthid_word_kernel
    words = check_score_args(
        kernel, tokens, offsets, prefix_lengths, key_words, context_width, seeding
    )
    layers = synthid_layers(layers)
    n_tokens, n_docs, device = tokens.shape[0], offsets.shape[0] - 1, tokens.device
    scored = torch.empty(n_tokens, dtype=torch.uint8, device=device)
    word = torch.empty(n_tokens, dtype=torch.int32, device=device)
    ctx = context_hashes(tokens, dedup)
    words32 = tuple(i32_bits(w) for w in words)
    launch_score(
        kernel, tokens, offsets, prefix_lengths, (scored, word, ctx, n_tokens, n_docs, *words32),
        context_width, seeding, dedup,
    )  # fmt: skip
    counted, kept, doc = counted_positions(tokens, offsets, scored != 0, ctx)
    n_scored = per_doc_sums(doc, n_docs)
    # One layer at a time: integer sums are exact in any order, and memory stays O(n_tokens).
    ones = torch.zeros(n_docs, layers, dtype=torch.int64, device=device)
    kept_words = word[kept]
    for layer in range(layers):
        ones[:, layer].index_add_(0, doc, ((kept_words >> layer) & 1).to(torch.int64))
    return n_scored, ones, counted if want_flags else None
