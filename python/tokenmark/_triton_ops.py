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
of the launch (``_counted_positions``).
"""

from __future__ import annotations

import contextlib
import functools
import importlib

import torch

from ._torch_checks import check_logits_rows, check_tensor, row_param_stride, synthid_layers
from ._torch_checks import key_words as checked_key_words

_LOGITS_DTYPES = (torch.float32, torch.float16, torch.bfloat16)
_MAX_WIDTH = 1024

# Block sizes: the compiled kernels use blocks that fill an SM; the interpreter runs programs one
# after the other in numpy, so it gets the largest blocks (fewest programs) that stay cheap.
_BIAS_BLOCK = 1024
_SCORE_BLOCK = 1024
_SAMPLE_BLOCK = 1024
_SAMPLE_IDS_BLOCK = 256
# The sampler splits each row's vocabulary over several programs until about this many programs
# run per SM (one row per program would leave most of the GPU idle at decode batch sizes); the
# interpreter takes a few splits, enough to test how they combine.
_PROGRAMS_PER_SM = 4
_INTERPRETER_SPLITS = 3
_INTERPRETER_BLOCK = 16384
# SynthID sampling: candidates per (row, chunk) program of a pass, a power of two >= 4, the
# compiled and the interpreted kernels alike (tests shrink it to get many chunks per row).
_SYNTHID_CHUNK = 2048
_SYNTHID_TILE = 1024  # chunk totals the draw scans at a time
_MAX_GRID_Y = 65535  # CUDA's limit on the second grid dimension (chunks per row)
_NUM_WARPS = 4


def _kernels(name: str):
    """The kernel module ``tokenmark.kernels.<name>`` (imports triton on first use)."""
    try:
        return importlib.import_module(f"tokenmark.kernels.{name}")
    except ImportError as e:
        raise ImportError("the triton backend needs the `triton` package") from e


def _interpreted(kernel) -> bool:
    from triton.runtime.interpreter import InterpretedFunction

    return isinstance(kernel, InterpretedFunction)


def _check_device(kernel, t: torch.Tensor, name: str) -> None:
    if t.device.type == "cuda" or _interpreted(kernel):
        return
    raise ValueError(
        f"{name}: the triton backend runs on CUDA tensors, or on CPU tensors only under the "
        f"Triton interpreter (TRITON_INTERPRET=1 set before tokenmark.kernels is imported); "
        f"got a tensor on {t.device}"
    )


def _check_width_seeding(width: int, seeding: int) -> None:
    if not 0 <= width <= _MAX_WIDTH:
        raise ValueError(f"width: must be in [0, {_MAX_WIDTH}], got {width}")
    if seeding not in (0, 1):
        raise ValueError(f"seeding: unknown seeding code {seeding}")


def _check_logits_ids(
    kernel, logits: torch.Tensor, input_ids: torch.Tensor, enabled: torch.Tensor | None
) -> tuple[int, int, torch.Tensor | None]:
    """Metadata checks of a sampling or biasing call's logits, ids and enabled flags; returns
    ``(batch, vocab, enabled)`` with bool flags viewed as uint8 (what the kernels load)."""
    batch, vocab = check_logits_rows(logits, input_ids, enabled, _LOGITS_DTYPES)
    _check_device(kernel, logits, "logits")
    if enabled is not None:
        enabled = enabled.view(torch.uint8)
    return batch, vocab, enabled


def _check_id_range(ids: torch.Tensor) -> None:
    """Token ids in ``[0, 2^31)`` (host tensors only: reading device values would sync)."""
    if ids.numel() and not (0 <= int(ids.min()) and int(ids.max()) < 1 << 31):
        raise ValueError("input_ids: token ids must be in [0, 2^31)")


def _i32_bits(value: int) -> int:
    """A uint32 value as the int32 with the same bits (what the kernels take)."""
    return value - (1 << 32) if value >= 1 << 31 else value


def _pow2_block(n: int, cap: int) -> int:
    return max(4, min(cap, 1 << max(0, n - 1).bit_length()))


def apply_kgw_bias_(
    logits: torch.Tensor,
    input_ids: torch.Tensor,
    keys: torch.Tensor,
    thresholds: torch.Tensor,
    deltas: torch.Tensor,
    enabled: torch.Tensor | None,
    width: int,
    seeding: int,
) -> None:
    """Add ``deltas[b]`` to the green logits of each row ``b``, in place.

    Parameters
    ----------
    logits : Tensor
        ``[batch, vocab]`` float32, float16 or bfloat16, rows contiguous. Green entries get
        ``x + delta`` computed in float32 and rounded back to nearest even; NaN keeps its bits.
    input_ids : Tensor
        ``[batch, ids_len]`` int32 or int64, rows contiguous; the last ``width`` ids of row ``b``
        give its context. Nothing happens when ``ids_len < width``.
    keys : Tensor
        ``[batch or 1, 4]`` int32: the bit patterns of the four uint32 key words.
    thresholds : Tensor
        ``[batch or 1]`` int32: the bit patterns of the uint32 thresholds floor(gamma * 2^32).
    deltas : Tensor
        ``[batch or 1]`` float32.
    enabled : Tensor or None
        ``[batch]`` uint8 or bool; rows with 0 are left alone. None enables every row.
    width, seeding : int
        Context width (0..1024) and seeding code (0 prev, 1 minhash).

    Examples
    --------
    >>> import torch
    >>> logits = torch.zeros(1, 8, device="cuda")  # doctest: +SKIP
    >>> ids = torch.tensor([[5, 7]], device="cuda")  # doctest: +SKIP
    >>> keys = torch.tensor([[1, 2, 3, 4]], dtype=torch.int32, device="cuda")  # doctest: +SKIP
    >>> thr = torch.tensor([1 << 30], dtype=torch.int32, device="cuda")  # doctest: +SKIP
    >>> delta = torch.tensor([2.0], device="cuda")  # doctest: +SKIP
    >>> apply_kgw_bias_(logits, ids, keys, thr, delta, None, 1, 0)  # doctest: +SKIP
    """
    kernel = _kernels("kgw_bias").kgw_bias_kernel
    _check_width_seeding(width, seeding)
    batch, vocab, enabled = _check_logits_ids(kernel, logits, input_ids, enabled)
    device, ids_len = logits.device, input_ids.shape[1]
    key_stride = row_param_stride(keys, "keys", device, torch.int32, batch, 4)
    threshold_stride = row_param_stride(thresholds, "thresholds", device, torch.int32, batch)
    delta_stride = row_param_stride(deltas, "deltas", device, torch.float32, batch)
    if device.type == "cpu":
        if not torch.isfinite(deltas).all():
            raise ValueError("deltas: must be finite")
        if (thresholds == 0).any():
            raise ValueError("thresholds: must be > 0 (gamma too small)")
        if ids_len >= width:
            _check_id_range(input_ids[:, ids_len - width :])
    if batch == 0 or vocab == 0 or ids_len < width:
        return

    interpreted = _interpreted(kernel)
    block = _pow2_block(vocab, _INTERPRETER_BLOCK) if interpreted else _BIAS_BLOCK
    is_bf16 = logits.dtype == torch.bfloat16
    target = logits.view(torch.int16) if is_bf16 else logits
    grid = (batch, _cdiv(vocab, block))
    with _on_device(device):
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
            WIDTH=width,
            SEEDING=seeding,
            HAS_ENABLED=enabled is not None,
            IS_BF16=is_bf16,
            BLOCK=block,
            num_warps=_NUM_WARPS,
        )


def score_kgw(
    tokens: torch.Tensor,
    offsets: torch.Tensor,
    prefix: torch.Tensor | None,
    key_words: tuple[int, int, int, int],
    threshold: int,
    width: int,
    seeding: int,
    dedup: bool,
    want_flags: bool,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None, torch.Tensor | None]:
    """Score ragged documents ``tokens[offsets[d]:offsets[d+1]]`` for the KGW watermark.

    Position ``i`` of document ``d`` is scored when ``i - offsets[d] >= max(width, prefix[d])``;
    its context is the ``width`` tokens before it. With ``dedup`` only the first occurrence of
    each (context hash, token) pair in a document enters the counts.

    Parameters
    ----------
    tokens : Tensor
        ``[n_tokens]`` int32, all >= 0.
    offsets : Tensor
        ``[n_docs + 1]`` int64: 0, non-decreasing, ``n_tokens``.
    prefix : Tensor or None
        ``[n_docs]`` int64 >= 0: leading tokens of each document that are context only.
    key_words : tuple of 4 int
        The uint32 key words.
    threshold : int
        floor(gamma * 2^32), in [1, 2^32).
    width, seeding : int
        Context width (0..1024) and seeding code (0 prev, 1 minhash).
    dedup, want_flags : bool
        Count repeated (context, token) pairs once; return the per-token flags.

    Returns
    -------
    n_scored, n_green : Tensor
        ``[n_docs]`` int64.
    green : Tensor or None
        ``[n_tokens]`` int8: 1 green, 0 red, -1 not scored (when ``want_flags``).
    counted : Tensor or None
        ``[n_tokens]`` uint8: 1 where the position entered the counts (when ``want_flags``).

    Examples
    --------
    >>> import torch
    >>> tokens = torch.tensor([3, 1, 4, 1, 5], dtype=torch.int32, device="cuda")  # doctest: +SKIP
    >>> offsets = torch.tensor([0, 2, 5], device="cuda")  # doctest: +SKIP
    >>> n_scored, n_green, _, _ = score_kgw(
    ...     tokens, offsets, None, (1, 2, 3, 4), 1 << 31, 1, 0, False, False
    ... )  # doctest: +SKIP
    >>> n_scored.tolist()  # doctest: +SKIP
    [1, 2]
    """
    kernel = _kernels("kgw_score").kgw_score_kernel
    words = _check_score_args(kernel, tokens, offsets, prefix, key_words, width, seeding)
    if not 1 <= threshold < 1 << 32:
        raise ValueError("threshold: must be in [1, 2^32)")

    n_tokens, n_docs, device = tokens.shape[0], offsets.shape[0] - 1, tokens.device
    n_scored = torch.zeros(n_docs, dtype=torch.int64, device=device)
    n_green = torch.zeros(n_docs, dtype=torch.int64, device=device)
    green = torch.empty(n_tokens, dtype=torch.int8, device=device)
    ctx = torch.empty(n_tokens, dtype=torch.int32, device=device) if dedup else None
    if n_tokens > 0:
        grid, block = _score_grid(kernel, n_tokens)
        with _on_device(device):
            kernel[grid](
                tokens,
                offsets,
                prefix,
                green,
                ctx,
                n_scored,
                n_green,
                n_tokens,
                n_docs,
                *(_i32_bits(w) for w in words),
                _i32_bits(threshold),
                WIDTH=width,
                SEEDING=seeding,
                HAS_PREFIX=prefix is not None,
                WRITE_CTX=dedup,
                COUNT=not dedup,
                SEARCH_STEPS=_search_steps(n_docs),
                BLOCK=block,
                num_warps=_NUM_WARPS,
            )
    if dedup:
        counted, kept, doc = _counted_positions(tokens, offsets, green >= 0, ctx)
        n_scored.index_add_(0, doc, torch.ones_like(doc))
        n_green.index_add_(0, doc, green[kept].to(torch.int64))
    else:
        counted = (green >= 0).to(torch.uint8) if want_flags else None
    if not want_flags:
        return n_scored, n_green, None, None
    return n_scored, n_green, green, counted


def sample_gumbel(
    logits: torch.Tensor,
    input_ids: torch.Tensor,
    keys: torch.Tensor,
    salts: torch.Tensor,
    enabled: torch.Tensor | None,
    width: int,
    seeding: int,
    skip_repeated: bool,
) -> torch.Tensor:
    """The Gumbel-max choice of each row of ``logits``, as ``_cuda_gumbel_ops.sample_gumbel``.

    Parameters
    ----------
    logits : Tensor
        ``[batch, vocab]`` float32, float16 or bfloat16, rows contiguous. Not modified.
    input_ids : Tensor
        ``[batch, length]`` int32 or int64, rows contiguous; the last ``width`` ids of a row give
        its context (ids are range-checked on CPU tensors only: that needs their values).
    keys : Tensor
        ``[batch or 1, 4]`` int32 holding the uint32 key words.
    salts : Tensor
        ``[batch or 1]`` int32 holding uint32 salts (0: none).
    enabled : Tensor or None
        ``[batch]`` uint8 or bool; None enables every row.
    width, seeding : int
        Context width (0..1024) and seeding code (0 prev, 1 minhash).
    skip_repeated : bool
        Leave rows whose context hash occurred earlier in the row unwatermarked.

    Returns
    -------
    Tensor
        ``[batch]`` int64 on the logits' device: the token, -1 where the row is not
        watermarked, -2 where a watermarked row has no finite logit (not raised: that would need
        a host sync).

    Examples
    --------
    >>> import torch
    >>> logits = torch.randn(2, 10, device="cuda")  # doctest: +SKIP
    >>> ids = torch.tensor([[5, 6], [7, 8]], device="cuda")  # doctest: +SKIP
    >>> keys = torch.tensor([[1, 2, 3, 4]], dtype=torch.int32, device="cuda")  # doctest: +SKIP
    >>> salts = torch.zeros(1, dtype=torch.int32, device="cuda")  # doctest: +SKIP
    >>> sample_gumbel(logits, ids, keys, salts, None, 1, 0, True).shape  # doctest: +SKIP
    torch.Size([2])
    """
    kernels = _kernels("gumbel_sample")
    kernel = kernels.gumbel_sample_kernel
    _check_width_seeding(width, seeding)
    batch, vocab, enabled = _check_logits_ids(kernel, logits, input_ids, enabled)
    device, ids_len = logits.device, input_ids.shape[1]
    key_stride = row_param_stride(keys, "keys", device, torch.int32, batch, 4)
    salt_stride = row_param_stride(salts, "salts", device, torch.int32, batch)
    if device.type == "cpu":
        _check_id_range(input_ids)
    out = torch.empty(batch, dtype=torch.int64, device=device)
    if batch == 0:
        return out
    interpreted = _interpreted(kernel)
    block = _pow2_block(vocab, _INTERPRETER_BLOCK) if interpreted else _SAMPLE_BLOCK
    ids_block = _pow2_block(ids_len, _INTERPRETER_BLOCK) if interpreted else _SAMPLE_IDS_BLOCK
    n_blocks = max(1, _cdiv(vocab, block))
    if interpreted:
        splits = min(n_blocks, _INTERPRETER_SPLITS)
    else:
        splits = min(n_blocks, _cdiv(_PROGRAMS_PER_SM * _sm_count(device), batch))
    split_cols = _cdiv(n_blocks, splits) * block
    n_splits = max(1, _cdiv(vocab, split_cols))
    part_s = torch.empty(batch, n_splits, dtype=torch.float64, device=device)
    part_id = torch.empty(batch, n_splits, dtype=torch.int32, device=device)
    is_bf16 = logits.dtype == torch.bfloat16
    with _on_device(device):
        kernel[(batch, n_splits)](
            logits.view(torch.int16) if is_bf16 else logits,
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
            WIDTH=width,
            SEEDING=seeding,
            SKIP_REPEATED=bool(skip_repeated),
            HAS_ENABLED=enabled is not None,
            IS_BF16=is_bf16,
            IDS_BLOCK=ids_block,
            BLOCK=block,
            INTERPRETED=interpreted,
            num_warps=_NUM_WARPS,
        )
        kernels.gumbel_pick_kernel[(batch,)](
            part_s, part_id, out, n_splits, SPLITS=_pow2_block(n_splits, 1 << 20), num_warps=1
        )
    return out


def sample_synthid(
    logits: torch.Tensor,
    input_ids: torch.Tensor,
    keys: torch.Tensor,
    uniforms: torch.Tensor,
    enabled: torch.Tensor | None,
    width: int,
    seeding: int,
    layers: int,
    top_k: int,
    history: int,
) -> tuple[torch.Tensor, torch.Tensor]:
    """SynthID-Text tournament sampling of each row, as ``_cuda_synthid_ops.sample_synthid``: bit
    for bit the CPU's and the numpy reference's tokens.

    Parameters
    ----------
    logits : Tensor
        ``[batch, vocab]`` float32, float16 or bfloat16, rows contiguous. Not modified.
    input_ids : Tensor
        ``[batch, length]`` int64 or int32, rows contiguous.
    keys : Tensor
        ``[batch or 1, 4]`` int32 holding the uint32 key words.
    uniforms : Tensor
        ``[batch]`` float64 in [0, 1): each row's draw (range-checked on CPU tensors only; on a
        GPU a value outside draws the last candidate).
    enabled : Tensor or None
        ``[batch]`` uint8 or bool; None enables every row.
    width, seeding : int
        Context width in ``[0, 1024]``; seeding 0 (prev) or 1 (minhash).
    layers : int
        Tournament layers in ``[1, 32]``.
    top_k : int
        0 for the whole vocabulary, else the ``top_k`` largest logits only.
    history : int
        Earlier positions searched for a repeat of the row's context (0: none).

    Returns
    -------
    tokens : Tensor
        ``[batch]`` int64: the token, -2 where a row has no finite logit (not raised: a sync).
    marked : Tensor
        ``[batch]`` uint8: 1 where the tournament ran.

    Examples
    --------
    >>> import torch
    >>> logits = torch.randn(2, 10, device="cuda")  # doctest: +SKIP
    >>> ids = torch.tensor([[5, 6], [7, 8]], device="cuda")  # doctest: +SKIP
    >>> keys = torch.tensor([[1, 2, 3, 4]], dtype=torch.int32, device="cuda")  # doctest: +SKIP
    >>> u = torch.rand(2, dtype=torch.float64, device="cuda")  # doctest: +SKIP
    >>> tokens, marked = sample_synthid(  # doctest: +SKIP
    ...     logits, ids, keys, u, None, 1, 0, 30, 0, 1024)
    >>> tokens.shape  # doctest: +SKIP
    torch.Size([2])
    """
    kernels = _kernels("synthid_sample")
    setup = kernels.synthid_setup_kernel
    _check_width_seeding(width, seeding)
    batch, vocab, enabled = _check_logits_ids(setup, logits, input_ids, enabled)
    device, ids_len = logits.device, input_ids.shape[1]
    key_stride = row_param_stride(keys, "keys", device, torch.int32, batch, 4)
    check_tensor(uniforms, "uniforms", device, (torch.float64,), 1)
    if uniforms.shape[0] != batch or not uniforms.is_contiguous():
        raise ValueError(f"uniforms: expected a contiguous tensor of shape [{batch}]")
    layers = synthid_layers(layers)
    if int(top_k) < 0:
        raise ValueError(f"top_k: must be >= 0 (0: the whole vocabulary), got {top_k}")
    if int(history) < 0:
        raise ValueError(f"history: must be >= 0, got {history}")
    if device.type == "cpu":
        _check_id_range(input_ids)
        if not ((uniforms >= 0) & (uniforms < 1)).all():
            raise ValueError("uniforms: must be in [0, 1)")
    tokens = torch.empty(batch, dtype=torch.int64, device=device)
    marked = torch.empty(batch, dtype=torch.uint8, device=device)
    if batch == 0:
        return tokens, marked
    cand = None
    if 0 < int(top_k) < vocab:
        from ._cuda_synthid_ops import top_k_candidates

        cand = top_k_candidates(logits, int(top_k))
        logits = torch.gather(logits, 1, cand.to(torch.int64))
    n = logits.shape[1]
    interpreted = _interpreted(setup)
    chunk = _SYNTHID_CHUNK
    n_chunks = max(1, _cdiv(n, chunk))
    if n_chunks > _MAX_GRID_Y:
        raise ValueError(f"logits: at most {_MAX_GRID_Y * chunk} candidates per row, got {n}")
    phase_bits, bins = kernels.PHASE_BITS.value, kernels.BINS.value
    phases = _cdiv(layers, phase_bits)
    shift = 62 - max(n, 1).bit_length()
    ids_block = _pow2_block(ids_len, _INTERPRETER_BLOCK) if interpreted else _SAMPLE_IDS_BLOCK
    max_key = torch.full((batch,), -(1 << 31), dtype=torch.int32, device=device)
    ctx = torch.empty(batch, dtype=torch.int32, device=device)
    row_marked = torch.empty(batch, dtype=torch.int32, device=device)
    hist = torch.zeros(batch, phases, bins, dtype=torch.int64, device=device)
    factors = torch.empty(batch, phases, bins, dtype=torch.float64, device=device)
    chunk_total = torch.empty(batch, n_chunks, dtype=torch.int64, device=device)
    is_bf16 = logits.dtype == torch.bfloat16
    x = logits.view(torch.int16) if is_bf16 else logits
    grid = (batch, n_chunks)
    # No multiply-add fusion: every float64 step is one rounded IEEE operation (docs/prf.md).
    exact = dict(num_warps=_NUM_WARPS, enable_fp_fusion=False)
    common = dict(HAS_CAND=cand is not None, IS_BF16=is_bf16, CHUNK=chunk, **exact)
    state = (max_key, ctx, row_marked)
    with _on_device(device):
        setup[grid](
            x, input_ids, enabled, *state, n, logits.stride(0), ids_len, input_ids.stride(0),
            min(int(history), ids_len), WIDTH=width, SEEDING=seeding,
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
            logits.stride(0), key_stride, layers, shift, TILE=_pow2_block(n_chunks, _SYNTHID_TILE),
            INTERPRETED=interpreted, **common,
        )  # fmt: skip
    return tokens, marked


@functools.cache
def _sm_count(device: torch.device) -> int:
    return torch.cuda.get_device_properties(device).multi_processor_count


def score_gumbel(
    tokens: torch.Tensor,
    offsets: torch.Tensor,
    prefix: torch.Tensor | None,
    key_words: tuple[int, int, int, int],
    salts: torch.Tensor,
    width: int,
    seeding: int,
    dedup: bool,
    want_counted: bool,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
    """Gumbel scores of ragged documents, as ``_cuda_gumbel_ops.score_gumbel``.

    Parameters
    ----------
    tokens : Tensor
        ``[n_tokens]`` int32, ids >= 0.
    offsets : Tensor
        ``[n_docs + 1]`` int64: 0, non-decreasing, ``n_tokens``.
    prefix : Tensor or None
        ``[n_docs]`` int64 >= 0: leading tokens of each document that are context only.
    key_words : tuple of 4 int
        The uint32 key words.
    salts : Tensor
        ``[n_docs or 1]`` int32 holding each document's uint32 salt.
    width, seeding : int
        Context width (0..1024) and seeding code (0 prev, 1 minhash).
    dedup, want_counted : bool
        Count each (salted context hash, token) pair once per document; return the flags.

    Returns
    -------
    n_scored : Tensor
        ``[n_docs]`` int64.
    score : Tensor
        ``[n_docs]`` float64: the sum of ``-log(1 - u)`` over the counted tokens, in token order.
    counted : Tensor or None
        ``[n_tokens]`` uint8 (when ``want_counted``).

    Examples
    --------
    >>> import torch
    >>> tokens = torch.tensor([3, 1, 4, 1, 5], dtype=torch.int32, device="cuda")  # doctest: +SKIP
    >>> offsets = torch.tensor([0, 2, 5], device="cuda")  # doctest: +SKIP
    >>> salts = torch.zeros(1, dtype=torch.int32, device="cuda")  # doctest: +SKIP
    >>> n, score, _ = score_gumbel(
    ...     tokens, offsets, None, (1, 2, 3, 4), salts, 1, 0, False, False
    ... )  # doctest: +SKIP
    >>> n.tolist()  # doctest: +SKIP
    [1, 2]
    """
    kernels = _kernels("gumbel_score")
    kernel = kernels.gumbel_term_kernel
    words = _check_score_args(kernel, tokens, offsets, prefix, key_words, width, seeding)
    n_tokens, n_docs, device = tokens.shape[0], offsets.shape[0] - 1, tokens.device
    salt_stride = row_param_stride(salts, "salts", device, torch.int32, max(n_docs, 1))
    term = torch.empty(n_tokens, dtype=torch.float64, device=device)
    ctx = torch.empty(n_tokens, dtype=torch.int32, device=device) if dedup else None
    if n_tokens > 0:
        grid, block = _score_grid(kernel, n_tokens)
        with _on_device(device):
            kernel[grid](
                tokens,
                offsets,
                prefix,
                salts,
                term,
                ctx,
                n_tokens,
                n_docs,
                salt_stride,
                *(_i32_bits(w) for w in words),
                WIDTH=width,
                SEEDING=seeding,
                HAS_PREFIX=prefix is not None,
                WRITE_CTX=dedup,
                SEARCH_STEPS=_search_steps(n_docs),
                BLOCK=block,
                INTERPRETED=_interpreted(kernel),
                num_warps=_NUM_WARPS,
            )
    # Every scored term is > 0 (1 - u < 1), so the nonzero terms are the scored positions.
    counted, _, doc = _counted_positions(tokens, offsets, term > 0, ctx)
    n_scored = torch.zeros(n_docs, dtype=torch.int64, device=device)
    n_scored.index_add_(0, doc, torch.ones_like(doc))
    term.masked_fill_(counted == 0, 0.0)
    score = torch.empty(n_docs, dtype=torch.float64, device=device)
    if n_docs > 0:
        with _on_device(device):
            kernels.gumbel_sum_kernel[(n_docs,)](term, offsets, score, num_warps=1)
    return n_scored, score, counted if want_counted else None


def score_synthid(
    tokens: torch.Tensor,
    offsets: torch.Tensor,
    prefix: torch.Tensor | None,
    key_words: tuple[int, int, int, int],
    width: int,
    seeding: int,
    layers: int,
    dedup: bool,
    want_counted: bool,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
    """SynthID-Text counts of ragged documents, as ``_cuda_synthid_ops.score_synthid``.

    Parameters
    ----------
    tokens : Tensor
        ``[n_tokens]`` int32, ids >= 0.
    offsets : Tensor
        ``[n_docs + 1]`` int64: 0, non-decreasing, ``n_tokens``.
    prefix : Tensor or None
        ``[n_docs]`` int64 >= 0: leading tokens of each document that are context only.
    key_words : tuple of 4 int
        The uint32 key words.
    width, seeding : int
        Context width (0..1024) and seeding code (0 prev, 1 minhash).
    layers : int
        Tournament layers in ``[1, 32]``.
    dedup, want_counted : bool
        Count each (context hash, token) pair once per document; return the flags.

    Returns
    -------
    n_scored : Tensor
        ``[n_docs]`` int64.
    ones : Tensor
        ``[n_docs, layers]`` int64: per layer, the counted g-values equal to 1.
    counted : Tensor or None
        ``[n_tokens]`` uint8 (when ``want_counted``).

    Examples
    --------
    >>> import torch
    >>> tokens = torch.tensor([3, 1, 4, 1, 5], dtype=torch.int32, device="cuda")  # doctest: +SKIP
    >>> offsets = torch.tensor([0, 2, 5], device="cuda")  # doctest: +SKIP
    >>> n, ones, _ = score_synthid(
    ...     tokens, offsets, None, (1, 2, 3, 4), 1, 0, 30, False, False
    ... )  # doctest: +SKIP
    >>> ones.shape  # doctest: +SKIP
    torch.Size([2, 30])
    """
    kernel = _kernels("synthid_score").synthid_word_kernel
    words = _check_score_args(kernel, tokens, offsets, prefix, key_words, width, seeding)
    layers = synthid_layers(layers)
    n_tokens, n_docs, device = tokens.shape[0], offsets.shape[0] - 1, tokens.device
    scored = torch.empty(n_tokens, dtype=torch.uint8, device=device)
    word = torch.empty(n_tokens, dtype=torch.int32, device=device)
    ctx = torch.empty(n_tokens, dtype=torch.int32, device=device) if dedup else None
    if n_tokens > 0:
        grid, block = _score_grid(kernel, n_tokens)
        with _on_device(device):
            kernel[grid](
                tokens,
                offsets,
                prefix,
                scored,
                word,
                ctx,
                n_tokens,
                n_docs,
                *(_i32_bits(w) for w in words),
                WIDTH=width,
                SEEDING=seeding,
                HAS_PREFIX=prefix is not None,
                WRITE_CTX=dedup,
                SEARCH_STEPS=_search_steps(n_docs),
                BLOCK=block,
                num_warps=_NUM_WARPS,
            )
    counted, kept, doc = _counted_positions(tokens, offsets, scored != 0, ctx)
    n_scored = torch.zeros(n_docs, dtype=torch.int64, device=device)
    n_scored.index_add_(0, doc, torch.ones_like(doc))
    # One layer at a time: integer sums are exact in any order, and memory stays O(n_tokens).
    ones = torch.zeros(n_docs, layers, dtype=torch.int64, device=device)
    kept_words = word[kept]
    for layer in range(layers):
        ones[:, layer].index_add_(0, doc, ((kept_words >> layer) & 1).to(torch.int64))
    return n_scored, ones, counted if want_counted else None


def _check_score_args(
    kernel,
    tokens: torch.Tensor,
    offsets: torch.Tensor,
    prefix: torch.Tensor | None,
    key_words,
    width: int,
    seeding: int,
) -> tuple[int, int, int, int]:
    """Checks shared by the scoring operations (metadata, then values with one host sync);
    returns the key words as ints."""
    _check_width_seeding(width, seeding)
    if not isinstance(tokens, torch.Tensor):
        raise TypeError(f"tokens: expected a torch.Tensor, got {type(tokens).__name__}")
    device = tokens.device
    check_tensor(tokens, "tokens", device, (torch.int32,), 1)
    _check_device(kernel, tokens, "tokens")
    check_tensor(offsets, "offsets", device, (torch.int64,), 1)
    if not tokens.is_contiguous() or not offsets.is_contiguous():
        raise ValueError("tokens, offsets: must be contiguous")
    if offsets.shape[0] < 1:
        raise ValueError("offsets: needs at least one entry (0)")
    n_docs = offsets.shape[0] - 1
    if prefix is not None:
        check_tensor(prefix, "prefix", device, (torch.int64,), 1)
        if prefix.shape[0] != n_docs or not prefix.is_contiguous():
            raise ValueError(f"prefix: expected a contiguous tensor of shape [{n_docs}]")
    words = checked_key_words(key_words, "key_words")
    _check_score_values(tokens, offsets, prefix)
    return words


def _score_grid(kernel, n_tokens: int) -> tuple[tuple[int], int]:
    """Grid and block of a per-position scoring kernel over ``n_tokens > 0`` positions."""
    block = _pow2_block(n_tokens, _INTERPRETER_BLOCK) if _interpreted(kernel) else _SCORE_BLOCK
    return (_cdiv(n_tokens, block),), block


def _search_steps(n_docs: int) -> int:
    """Binary-search steps that locate a position among ``n_docs`` documents."""
    return max(1, n_docs.bit_length())


def _check_score_values(tokens: torch.Tensor, offsets: torch.Tensor, prefix) -> None:
    """Range checks on the values of the scoring inputs, with one host synchronisation."""
    checks = [
        offsets[0] != 0,
        offsets[-1] != tokens.shape[0],
        (offsets[1:] < offsets[:-1]).any(),
        (tokens < 0).any(),
        (prefix < 0).any() if prefix is not None else torch.zeros((), dtype=torch.bool),
    ]
    bad = torch.stack([c.to(offsets.device) for c in checks]).tolist()
    messages = (
        "offsets: must start at 0",
        "offsets: last entry must equal the number of tokens",
        "offsets: must be non-decreasing",
        "tokens: token ids must be >= 0",
        "prefix: must be >= 0",
    )
    for failed, message in zip(bad, messages, strict=True):
        if failed:
            raise ValueError(message)


def _counted_positions(
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


def _cdiv(a: int, b: int) -> int:
    return -(-a // b)


def _on_device(device: torch.device):
    """Launch on the tensors' GPU (Triton launches on the current device)."""
    return torch.cuda.device(device) if device.type == "cuda" else contextlib.nullcontext()
