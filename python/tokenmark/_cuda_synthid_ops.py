"""CUDA backend of the SynthID-Text scoring: torch tensors in, checks, ``_cuda`` out.

Inputs are validated as for ``score_kgw`` (metadata on the host, values on the device with one
host sync); the kernels then run asynchronously on ``torch.cuda.current_stream``.
"""

from __future__ import annotations

import torch

from ._cuda_ops import _check_score_inputs, _cuda, _require_cuda
from ._torch_checks import key_words as checked_key_words
from ._torch_checks import synthid_layers

__all__ = ["score_synthid"]


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
    """SynthID-Text counts of ragged documents ``tokens[offsets[d]:offsets[d+1]]`` on their device.

    Parameters
    ----------
    tokens : Tensor
        ``[n_tokens]`` int32, ids >= 0.
    offsets : Tensor
        ``[n_docs + 1]`` int64: starts at 0, non-decreasing, ends at ``n_tokens``.
    prefix : Tensor or None
        ``[n_docs]`` int64 >= 0: leading tokens of each document that are context only.
    key_words : tuple of 4 int
        The uint32 key words.
    width, seeding : int
        Context width in ``[0, 1024]``; seeding 0 (prev) or 1 (minhash).
    layers : int
        Tournament layers in ``[1, 32]``.
    dedup : bool
        Count each (context hash, token) pair once per document (its first occurrence).
    want_counted : bool
        Also return the per-position counted flags.

    Returns
    -------
    n_scored : Tensor
        ``[n_docs]`` int64.
    ones : Tensor
        ``[n_docs, layers]`` int64: per layer, the counted g-values equal to 1.
    counted : Tensor or None
        ``[n_tokens]`` uint8.

    Examples
    --------
    >>> tokens = torch.tensor([3, 1, 4, 1, 5], dtype=torch.int32, device="cuda")  # doctest: +SKIP
    >>> offsets = torch.tensor([0, 2, 5], device="cuda")  # doctest: +SKIP
    >>> n, ones, _ = score_synthid(  # doctest: +SKIP
    ...     tokens, offsets, None, (1, 2, 3, 4), 1, 0, 30, False, False)
    >>> ones.shape  # doctest: +SKIP
    torch.Size([2, 30])
    """
    _require_cuda()
    words = checked_key_words(key_words, "key")
    layers = synthid_layers(layers)
    _check_score_inputs(tokens, offsets, prefix, dedup)
    n_tokens, n_docs = tokens.shape[0], offsets.shape[0] - 1
    device = tokens.device
    n_scored = torch.empty(n_docs, dtype=torch.int64, device=device)
    ones = torch.empty(n_docs, int(layers), dtype=torch.int64, device=device)
    counted = torch.empty(n_tokens, dtype=torch.uint8, device=device) if want_counted else None
    ws_bytes = _cuda.score_synthid_workspace_bytes(n_tokens, bool(dedup))
    workspace = torch.empty(ws_bytes, dtype=torch.uint8, device=device) if ws_bytes else None
    _cuda.score_synthid(
        tokens.data_ptr(), n_tokens, offsets.data_ptr(), n_docs,
        prefix.data_ptr() if prefix is not None else 0, words, int(width), int(seeding),
        int(layers), bool(dedup), n_scored.data_ptr(), ones.data_ptr(),
        counted.data_ptr() if counted is not None else 0,
        workspace.data_ptr() if workspace is not None else 0, ws_bytes,
        device.index, torch.cuda.current_stream(device).cuda_stream,
    )  # fmt: skip
    return n_scored, ones, counted
