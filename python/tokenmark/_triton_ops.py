"""The Triton backend of the KGW operations: torch tensors in, validated, Triton kernels launched.

Works on CUDA tensors with the compiled kernels, and on CPU tensors under the Triton
interpreter (``TRITON_INTERPRET=1`` set before ``tokenmark.kernels`` is first imported; that is
how CI without a GPU tests the kernels). Triton is imported on first use, so importing
tokenmark never needs it.

``apply_kgw_bias_`` does no host synchronisation and no allocation on CUDA tensors, so it can
be captured in a CUDA graph; the checks that would need the values of device tensors (finite
deltas, non-zero thresholds, token id ranges) are therefore made on CPU tensors only.
``score_kgw`` is not meant for capture: it validates offsets and tokens on every device.
"""

from __future__ import annotations

import contextlib

import torch

from ._torch_checks import check_tensor, row_param_stride

_LOGITS_DTYPES = (torch.float32, torch.float16, torch.bfloat16)
_MAX_WIDTH = 1024

# Block sizes: the compiled kernels use blocks that fill an SM; the interpreter runs programs one
# after the other in numpy, so it gets the largest blocks (fewest programs) that stay cheap.
_BIAS_BLOCK = 1024
_SCORE_BLOCK = 1024
_INTERPRETER_BLOCK = 16384
_NUM_WARPS = 4


def _kernels():
    try:
        from tokenmark.kernels import kgw_bias, kgw_score
    except ImportError as e:
        raise ImportError("the triton backend needs the `triton` package") from e
    return kgw_bias, kgw_score


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
        ``[batch]`` uint8; rows with 0 are left alone. None enables every row.
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
    kgw_bias, _ = _kernels()
    kernel = kgw_bias.kgw_bias_kernel
    _check_width_seeding(width, seeding)
    if not isinstance(logits, torch.Tensor):
        raise TypeError(f"logits: expected a torch.Tensor, got {type(logits).__name__}")
    device = logits.device
    check_tensor(logits, "logits", device, _LOGITS_DTYPES, 2)
    _check_device(kernel, logits, "logits")
    batch, vocab = logits.shape
    if logits.numel() and vocab > 1 and logits.stride(1) != 1:
        raise ValueError("logits: rows must be contiguous (stride(1) == 1)")
    if logits.numel() and batch > 1 and logits.stride(0) < vocab:
        raise ValueError("logits: rows overlap (stride(0) < vocab)")
    if vocab >= 1 << 31:
        raise ValueError("logits: vocab must be < 2^31")
    check_tensor(input_ids, "input_ids", device, (torch.int32, torch.int64), 2)
    if input_ids.shape[0] != batch:
        raise ValueError(
            f"input_ids: expected {batch} rows (one per logits row), got {input_ids.shape[0]}"
        )
    ids_len = input_ids.shape[1]
    if input_ids.numel() and ids_len > 1 and input_ids.stride(1) != 1:
        raise ValueError("input_ids: rows must be contiguous (stride(1) == 1)")
    key_stride = row_param_stride(keys, "keys", device, torch.int32, batch, 4)
    threshold_stride = row_param_stride(thresholds, "thresholds", device, torch.int32, batch)
    delta_stride = row_param_stride(deltas, "deltas", device, torch.float32, batch)
    if enabled is not None:
        check_tensor(enabled, "enabled", device, (torch.uint8,), 1)
        if enabled.shape[0] != batch or not enabled.is_contiguous():
            raise ValueError(f"enabled: expected a contiguous tensor of shape [{batch}]")
    if device.type == "cpu":
        if not torch.isfinite(deltas).all():
            raise ValueError("deltas: must be finite")
        if (thresholds == 0).any():
            raise ValueError("thresholds: must be > 0 (gamma too small)")
        if ids_len >= width and width > 0:
            window = input_ids[:, ids_len - width :]
            if window.numel() and not (0 <= int(window.min()) and int(window.max()) < 1 << 31):
                raise ValueError("input_ids: token ids must be in [0, 2^31)")
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
    _, kgw_score = _kernels()
    kernel = kgw_score.kgw_score_kernel
    _check_width_seeding(width, seeding)
    if not isinstance(tokens, torch.Tensor):
        raise TypeError(f"tokens: expected a torch.Tensor, got {type(tokens).__name__}")
    device = tokens.device
    check_tensor(tokens, "tokens", device, (torch.int32,), 1)
    _check_device(kernel, tokens, "tokens")
    check_tensor(offsets, "offsets", device, (torch.int64,), 1)
    if not tokens.is_contiguous() or not offsets.is_contiguous():
        raise ValueError("tokens, offsets: must be contiguous")
    n_tokens = tokens.shape[0]
    if offsets.shape[0] < 1:
        raise ValueError("offsets: needs at least one entry (0)")
    n_docs = offsets.shape[0] - 1
    if prefix is not None:
        check_tensor(prefix, "prefix", device, (torch.int64,), 1)
        if prefix.shape[0] != n_docs or not prefix.is_contiguous():
            raise ValueError(f"prefix: expected a contiguous tensor of shape [{n_docs}]")
    words = tuple(int(w) for w in key_words)
    if len(words) != 4 or any(not 0 <= w < 1 << 32 for w in words):
        raise ValueError("key_words: expected four integers in [0, 2^32)")
    if not 1 <= threshold < 1 << 32:
        raise ValueError("threshold: must be in [1, 2^32)")
    _check_score_values(tokens, offsets, prefix)

    n_scored = torch.zeros(n_docs, dtype=torch.int64, device=device)
    n_green = torch.zeros(n_docs, dtype=torch.int64, device=device)
    green = torch.empty(n_tokens, dtype=torch.int8, device=device)
    ctx = torch.empty(n_tokens, dtype=torch.int32, device=device) if dedup else None
    if n_tokens > 0:
        block = _pow2_block(n_tokens, _INTERPRETER_BLOCK) if _interpreted(kernel) else _SCORE_BLOCK
        with _on_device(device):
            kernel[(_cdiv(n_tokens, block),)](
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
                SEARCH_STEPS=max(1, n_docs.bit_length()),
                BLOCK=block,
                num_warps=_NUM_WARPS,
            )
    if dedup:
        counted = _dedup_counts(tokens, offsets, green, ctx, n_scored, n_green)
    else:
        counted = (green >= 0).to(torch.uint8) if want_flags else None
    if not want_flags:
        return n_scored, n_green, None, None
    return n_scored, n_green, green, counted


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


def _dedup_counts(tokens, offsets, green, ctx, n_scored, n_green) -> torch.Tensor:
    """Mark the first occurrence of each (document, context hash, token) among the scored
    positions, and count those. Exact, with no loop over documents: one stable sort of the
    63-bit key ``ctx << 31 | token`` over positions in increasing order. Within a run of equal
    keys the positions, hence the documents, stay increasing, so the first position of each
    (key, document) group is the one whose key or document differs from its predecessor."""
    n_tokens, n_docs = tokens.shape[0], offsets.shape[0] - 1
    device = tokens.device
    counted = torch.zeros(n_tokens, dtype=torch.uint8, device=device)
    pos = torch.nonzero(green >= 0).squeeze(1)
    if pos.numel() == 0:
        return counted
    doc_of = torch.repeat_interleave(
        torch.arange(n_docs, device=device), offsets.diff(), output_size=n_tokens
    )
    key = ((ctx[pos].to(torch.int64) & 0xFFFFFFFF) << 31) | tokens[pos].to(torch.int64)
    key, order = torch.sort(key, stable=True)
    doc = doc_of[pos][order]
    first = torch.ones_like(key, dtype=torch.bool)
    first[1:] = (key[1:] != key[:-1]) | (doc[1:] != doc[:-1])
    kept = pos[order[first]]
    doc = doc[first]
    counted[kept] = 1
    n_scored.index_add_(0, doc, torch.ones_like(doc))
    n_green.index_add_(0, doc, green[kept].to(torch.int64))
    return counted


def _cdiv(a: int, b: int) -> int:
    return -(-a // b)


def _on_device(device: torch.device):
    """Launch on the tensors' GPU (Triton launches on the current device)."""
    return torch.cuda.device(device) if device.type == "cuda" else contextlib.nullcontext()
