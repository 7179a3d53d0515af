"""The Triton backend (KGW bias and scoring, Gumbel sampling and scoring, SynthID sampling and
scoring): torch tensors in, validated, Triton kernels launched.

Works on CUDA tensors with the compiled kernels, and on CPU tensors under the Triton
interpreter (``TRITON_INTERPRET=1`` set before ``tokenmark.kernels`` is first imported; that is
how CI without a GPU tests the kernels). Triton is imported on first use, so importing
tokenmark never needs it.

``apply_kgw_bias_`` does no host synchronisation and no allocation on CUDA tensors, so it can
be captured in a CUDA graph; the checks that would need the values of device tensors (finite
deltas, non-zero thresholds, token id ranges) are therefore made on CPU tensors only.
``sample_gumbel`` does not synchronise either, and allocates only its output and a
``[batch, splits]`` scratch of per-split bests (from torch's caching allocator);
``sample_synthid`` likewise, its scratch being the row state, histograms, factors and chunk
totals: both can be captured in a CUDA graph once compiled. The scoring operations are not meant
for capture: they validate offsets and tokens on every device, and deduplicate on the host side
of the launch (``counted_positions``).
"""

from __future__ import annotations

import contextlib
import functools

import torch

from ..._inputs import check_ragged_values
from .._torch import check_logits_rows, check_tensor, row_param_stride
from .._torch import key_words as checked_key_words

LOGITS_DTYPES = (torch.float32, torch.float16, torch.bfloat16)
MAX_WIDTH = 1024

# Block sizes: the compiled kernels use blocks that fill an SM; the interpreter runs programs one
# after the other in numpy, so it gets the largest blocks (fewest programs) that stay cheap.
BIAS_BLOCK = 1024
SCORE_BLOCK = 1024
SAMPLE_BLOCK = 1024
SAMPLE_IDS_BLOCK = 256
# The sampler splits each row's vocabulary over several programs until about this many programs
# run per SM (one row per program would leave most of the GPU idle at decode batch sizes); the
# interpreter takes a few splits, enough to test how they combine.
PROGRAMS_PER_SM = 4
INTERPRETER_SPLITS = 3
INTERPRETER_BLOCK = 16384
# SynthID sampling: candidates per (row, chunk) program of a pass, a power of two >= 4, the
# compiled and the interpreted kernels alike (tests shrink it to get many chunks per row).
SYNTHID_CHUNK = 2048
SYNTHID_TILE = 1024  # chunk totals the draw scans at a time
MAX_GRID_Y = 65535  # CUDA's limit on the second grid dimension (chunks per row)
NUM_WARPS = 4


def is_interpreted(kernel) -> bool:
    from triton.runtime.interpreter import InterpretedFunction

    return isinstance(kernel, InterpretedFunction)


def check_device(kernel, t: torch.Tensor, name: str) -> None:
    if t.device.type == "cuda" or is_interpreted(kernel):
        return
    raise ValueError(
        f"{name}: the triton backend runs on CUDA tensors, or on CPU tensors only under the "
        f"Triton interpreter (TRITON_INTERPRET=1 set before tokenmark.kernels is imported); "
        f"got a tensor on {t.device}"
    )


def check_width_seeding(context_width: int, seeding: int) -> None:
    if not 0 <= context_width <= MAX_WIDTH:
        raise ValueError(f"context_width: must be in [0, {MAX_WIDTH}], got {context_width}")
    if seeding not in (0, 1):
        raise ValueError(f"seeding: unknown seeding code {seeding}")


def check_logits_ids(
    kernel,
    logits: torch.Tensor,
    input_ids: torch.Tensor,
    keys: torch.Tensor,
    enabled: torch.Tensor | None,
) -> tuple[int, int, torch.Tensor | None, int]:
    """Metadata checks of a sampling or biasing call's logits, ids, enabled flags and keys;
    returns ``(batch, vocab, enabled, key_stride)`` with bool flags viewed as uint8 (what the
    kernels load)."""
    batch, vocab = check_logits_rows(logits, input_ids, enabled, LOGITS_DTYPES)
    check_device(kernel, logits, "logits")
    if enabled is not None:
        enabled = enabled.view(torch.uint8)
    key_stride = row_param_stride(keys, "keys", logits.device, torch.int32, batch, 4)
    return batch, vocab, enabled, key_stride


def kernel_logits(logits: torch.Tensor) -> tuple[torch.Tensor, bool]:
    """``(what the kernel loads, is_bf16)``: bfloat16 logits go in as their int16 bits."""
    is_bf16 = logits.dtype == torch.bfloat16
    return (logits.view(torch.int16) if is_bf16 else logits), is_bf16


def check_id_range(ids: torch.Tensor) -> None:
    """Token ids in ``[0, 2^31)`` (host tensors only: reading device values would sync)."""
    if ids.numel() and not (0 <= int(ids.min()) and int(ids.max()) < 1 << 31):
        raise ValueError("input_ids: token ids must be in [0, 2^31)")


def i32_bits(value: int) -> int:
    """A uint32 value as the int32 with the same bits (what the kernels take)."""
    return value - (1 << 32) if value >= 1 << 31 else value


def pow2_block(n: int, cap: int) -> int:
    return max(4, min(cap, 1 << max(0, n - 1).bit_length()))


def block_for(kernel, n: int, compiled: int) -> int:
    """The block of ``kernel`` over ``n`` entries: ``compiled`` for the compiled kernel, and
    under the interpreter the smallest power of two covering ``n`` up to INTERPRETER_BLOCK (the
    fewest programs)."""
    return pow2_block(n, INTERPRETER_BLOCK) if is_interpreted(kernel) else compiled


@functools.cache
def sm_count(device: torch.device) -> int:
    return torch.cuda.get_device_properties(device).multi_processor_count


def check_score_args(
    kernel,
    tokens: torch.Tensor,
    offsets: torch.Tensor,
    prefix_lengths: torch.Tensor | None,
    key_words,
    context_width: int,
    seeding: int,
) -> tuple[int, int, int, int]:
    """Checks shared by the scoring operations (metadata, then values with one host sync);
    returns the key words as ints."""
    check_width_seeding(context_width, seeding)
    if not isinstance(tokens, torch.Tensor):
        raise TypeError(f"tokens: expected a torch.Tensor, got {type(tokens).__name__}")
    device = tokens.device
    check_tensor(tokens, "tokens", device, (torch.int32,), 1)
    check_device(kernel, tokens, "tokens")
    check_tensor(offsets, "offsets", device, (torch.int64,), 1)
    if not tokens.is_contiguous() or not offsets.is_contiguous():
        raise ValueError("tokens, offsets: must be contiguous")
    if offsets.shape[0] < 1:
        raise ValueError("offsets: needs at least one entry (0)")
    n_docs = offsets.shape[0] - 1
    if prefix_lengths is not None:
        check_tensor(prefix_lengths, "prefix_lengths", device, (torch.int64,), 1)
        if prefix_lengths.shape[0] != n_docs or not prefix_lengths.is_contiguous():
            raise ValueError(f"prefix_lengths: expected a contiguous tensor of shape [{n_docs}]")
    words = checked_key_words(key_words, "key_words")
    check_ragged_values(tokens, offsets, prefix_lengths)
    return words


def score_grid(kernel, n_tokens: int) -> tuple[tuple[int], int]:
    """Grid and block of a per-position scoring kernel over ``n_tokens > 0`` positions."""
    block = block_for(kernel, n_tokens, SCORE_BLOCK)
    return (cdiv(n_tokens, block),), block


def search_steps(n_docs: int) -> int:
    """Binary-search steps that locate a position among ``n_docs`` documents."""
    return max(1, n_docs.bit_length())


def launch_score(
    kernel,
    tokens: torch.Tensor,
    offsets: torch.Tensor,
    prefix_lengths: torch.Tensor | None,
    args: tuple,
    context_width: int,
    seeding: int,
    dedup: bool,
    **meta,
) -> None:
    """Run a per-position scoring kernel over every token (nothing when there is none):
    ``kernel(tokens, offsets, prefix_lengths, *args)`` with the compile-time parameters every
    scoring kernel takes, and ``meta`` for the kernel's own."""
    n_tokens, n_docs = tokens.shape[0], offsets.shape[0] - 1
    if n_tokens == 0:
        return
    grid, block = score_grid(kernel, n_tokens)
    with on_device(tokens.device):
        kernel[grid](
            tokens,
            offsets,
            prefix_lengths,
            *args,
            WIDTH=context_width,
            SEEDING=seeding,
            HAS_PREFIX=prefix_lengths is not None,
            WRITE_CTX=dedup,
            SEARCH_STEPS=search_steps(n_docs),
            BLOCK=block,
            num_warps=NUM_WARPS,
            **meta,
        )


def context_hashes(tokens: torch.Tensor, dedup: bool) -> torch.Tensor | None:
    """The per-position context hashes a scoring kernel writes for deduplication, or None."""
    return torch.empty(tokens.shape[0], dtype=torch.int32, device=tokens.device) if dedup else None


def counted_positions(
    tokens: torch.Tensor, offsets: torch.Tensor, scored: torch.Tensor, ctx: torch.Tensor | None
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The positions that enter the counts: ``(counted, kept, doc)``, with ``counted`` the uint8
    flag per position, ``kept`` the counted positions (increasing) and ``doc`` their documents.

    Every scored position counts, unless ``ctx`` (each position's context hash, int32 bits) asks
    for deduplication: then only the first occurrence of each (document, context hash, token).
    Exact, with no loop over documents: one stable sort of the 63-bit key ``ctx << 31 | token``
    over positions in increasing order. Within a run of equal keys the positions, hence the
    documents, stay increasing, so the first position of each (key, document) group is the one
    whose key or document differs from its predecessor."""
    n_tokens, n_docs = tokens.shape[0], offsets.shape[0] - 1
    device = tokens.device
    counted = torch.zeros(n_tokens, dtype=torch.uint8, device=device)
    pos = torch.nonzero(scored).squeeze(1)
    doc_of = torch.repeat_interleave(
        torch.arange(n_docs, device=device), offsets.diff(), output_size=n_tokens
    )
    if ctx is not None and pos.numel() > 0:
        key = ((ctx[pos].to(torch.int64) & 0xFFFFFFFF) << 31) | tokens[pos].to(torch.int64)
        key, order = torch.sort(key, stable=True)
        doc = doc_of[pos][order]
        first = torch.ones_like(key, dtype=torch.bool)
        first[1:] = (key[1:] != key[:-1]) | (doc[1:] != doc[:-1])
        pos = torch.sort(pos[order[first]]).values
    counted[pos] = 1
    return counted, pos, doc_of[pos]


def per_doc_sums(doc: torch.Tensor, n_docs: int, values: torch.Tensor | None = None):
    """int64 ``[n_docs]``: the sum of ``values`` (default 1) over the positions of each
    document, ``doc`` being the document of each position."""
    out = torch.zeros(n_docs, dtype=torch.int64, device=doc.device)
    return out.index_add_(0, doc, torch.ones_like(doc) if values is None else values)


def cdiv(a: int, b: int) -> int:
    return -(-a // b)


def on_device(device: torch.device):
    """Launch on the tensors' GPU (Triton launches on the current device)."""
    return torch.cuda.device(device) if device.type == "cuda" else contextlib.nullcontext()
