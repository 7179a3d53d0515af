"""CUDA backend of the Gumbel operations: torch tensors in, metadata checks, ``_cuda`` out.

Like :mod:`tokenmark._cuda_ops`: checks read tensor metadata only, so :func:`sample_gumbel`
neither synchronises nor allocates beyond its output and can run inside a decode loop.
:func:`score_gumbel` validates its inputs on the device with one host sync, as ``score_kgw``.
"""

from __future__ import annotations

import torch

from .._torch import check_row_inputs, row_param_stride
from .._torch import key_words as checked_key_words
from ._common import LOGITS_DTYPES, _cuda, check_score_inputs, require_cuda

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
) -> torch.Tensor:
    """The Gumbel-max choice of each row of ``logits``, on its CUDA device.

    Parameters
    ----------
    logits : Tensor
        ``[batch, vocab]`` float32, float16 or bfloat16 with unit column stride. Not modified.
    input_ids : Tensor
        ``[batch, length]`` int64 or int32 with unit column stride (not range-checked: that
        would need a sync).
    keys : Tensor
        ``[batch or 1, 4]`` int32 holding the uint32 key words.
    salts : Tensor
        ``[batch or 1]`` int32 holding uint32 salts (0: none).
    enabled : Tensor or None
        ``[batch]`` uint8 or bool; None enables every row.
    context_width, seeding : int
        Context context_width in ``[0, 1024]``; seeding 0 (prev) or 1 (minhash).
    skip_repeated : bool
        Leave rows whose context hash occurred earlier in the row unwatermarked.

    Returns
    -------
    Tensor
        ``[batch]`` int64 on the logits' device: the token, -1 where the row is not
        watermarked, -2 where a watermarked row has no finite logit (not raised: that would need
        a host sync). The launch goes to ``torch.cuda.current_stream``.

    Examples
    --------
    >>> logits = torch.randn(2, 10, device="cuda")  # doctest: +SKIP
    >>> ids = torch.tensor([[5, 6], [7, 8]], device="cuda")  # doctest: +SKIP
    >>> keys = torch.tensor([[1, 2, 3, 4]], dtype=torch.int32, device="cuda")  # doctest: +SKIP
    >>> salts = torch.zeros(1, dtype=torch.int32, device="cuda")  # doctest: +SKIP
    >>> sample_gumbel(logits, ids, keys, salts, None, 1, 0, True).shape  # doctest: +SKIP
    torch.Size([2])
    """
    require_cuda()
    batch, vocab, key_stride = check_row_inputs(logits, input_ids, keys, enabled, LOGITS_DTYPES)
    device = logits.device
    salt_stride = row_param_stride(salts, "salts", device, torch.int32, batch)
    enabled_ptr = 0 if enabled is None else enabled.data_ptr()
    out = torch.empty(batch, dtype=torch.int64, device=device)
    _cuda.sample_gumbel(
        logits.data_ptr(), batch, vocab, logits.stride(0), LOGITS_DTYPES[logits.dtype],
        input_ids.data_ptr(), input_ids.dtype == torch.int64, input_ids.shape[1],
        input_ids.stride(0), keys.data_ptr(), key_stride, salts.data_ptr(), salt_stride,
        enabled_ptr, int(context_width), int(seeding), bool(skip_repeated), out.data_ptr(),
        device.index, torch.cuda.current_stream(device).cuda_stream,
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

    Parameters
    ----------
    tokens : Tensor
        ``[n_tokens]`` int32, ids >= 0.
    offsets : Tensor
        ``[n_docs + 1]`` int64: starts at 0, non-decreasing, ends at ``n_tokens``.
    prefix_lengths : Tensor or None
        ``[n_docs]`` int64 >= 0: leading tokens of each document that are context only.
    key_words : tuple of 4 int
        The uint32 key words.
    salts : Tensor
        ``[n_docs or 1]`` int32 holding each document's uint32 salt.
    context_width, seeding : int
        Context context_width in ``[0, 1024]``; seeding 0 (prev) or 1 (minhash).
    dedup : bool
        Count each (context hash, token) pair once per document (its first occurrence).
    want_flags : bool
        Also return the per-position counted flags.

    Returns
    -------
    n_scored : Tensor
        ``[n_docs]`` int64.
    score : Tensor
        ``[n_docs]`` float64: the sum of ``-log(1 - u)`` over the counted tokens, in token order.
    counted : Tensor or None
        ``[n_tokens]`` uint8.

    Examples
    --------
    >>> tokens = torch.tensor([3, 1, 4, 1, 5], dtype=torch.int32, device="cuda")  # doctest: +SKIP
    >>> offsets = torch.tensor([0, 2, 5], device="cuda")  # doctest: +SKIP
    >>> salts = torch.zeros(1, dtype=torch.int32, device="cuda")  # doctest: +SKIP
    >>> n, score, _ = score_gumbel(  # doctest: +SKIP
    ...     tokens, offsets, None, (1, 2, 3, 4), salts, 1, 0, False, False)
    >>> n.tolist()  # doctest: +SKIP
    [1, 2]
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
    # float64 elements: the kernels need the workspace 8-byte aligned.
    workspace = torch.empty((ws_bytes + 7) // 8, dtype=torch.float64, device=device)
    _cuda.score_gumbel(
        tokens.data_ptr(), n_tokens, offsets.data_ptr(), n_docs,
        prefix_lengths.data_ptr() if prefix_lengths is not None else 0, words, salts.data_ptr(),
        salt_stride,
        int(context_width), int(seeding), bool(dedup), n_scored.data_ptr(), score.data_ptr(),
        counted.data_ptr() if counted is not None else 0,
        workspace.data_ptr() if ws_bytes else 0, workspace.numel() * 8,
        device.index, torch.cuda.current_stream(device).cuda_stream,
    )  # fmt: skip
    return n_scored, score, counted
