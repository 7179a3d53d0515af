"""The SynthID-Text dialect's detector counts on a CUDA device (``_cuda.score_synthid_text``,
csrc/cuda/synthid_text_score.cu)."""

from __future__ import annotations

import numpy as np
import torch

from ._common import _cuda, check_score_inputs, require_cuda, scratch

LCG = np.uint64(6364136223846793005)  # their accumulate_hash multiplier


def score_synthid_text(
    tokens: torch.Tensor,
    offsets: torch.Tensor,
    prefix_lengths: torch.Tensor | None,
    ngram_len: int,
    keys: np.ndarray,
    table: np.ndarray,
    history: int,
    mask_repeated: bool,
    eos: int,
    want_flags: bool,
    layer_bits=None,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
    """``(n_scored, ones, counted)`` of ragged documents on their device, as the host backends'
    ``score_synthid_text`` (arguments checked by :func:`tokenmark.ops.score_synthid_text`; the
    keys and the table are host arrays, copied to the device per call: 8 bytes per key and one
    per table entry). ``layer_bits`` is a host-side speed-up, unused here."""
    del layer_bits
    require_cuda()
    check_score_inputs(tokens, offsets, prefix_lengths, False)
    n_tokens, n_docs, depth = tokens.shape[0], offsets.shape[0] - 1, len(keys)
    device = tokens.device
    with np.errstate(over="ignore"):
        terms = np.ascontiguousarray(keys, np.uint64) * LCG + np.uint64(1)  # uint64 wrapping
    key_terms = torch.from_numpy(terms.view(np.int64)).to(device)
    tab = torch.from_numpy(np.array(table, np.uint8)).to(device)  # a copy: the table is read-only
    n_scored = torch.empty(n_docs, dtype=torch.int64, device=device)
    ones = torch.empty((n_docs, depth), dtype=torch.int64, device=device)
    counted = torch.empty(n_tokens, dtype=torch.uint8, device=device) if want_flags else None
    _ws, ws_ptr, ws_size = scratch(_cuda.score_synthid_text_workspace_bytes(n_tokens), device)
    _cuda.score_synthid_text(
        tokens.data_ptr(), n_tokens, offsets.data_ptr(), n_docs,
        prefix_lengths.data_ptr() if prefix_lengths is not None else 0, int(ngram_len),
        key_terms.data_ptr(), depth, tab.data_ptr(), tab.numel(), int(history),
        bool(mask_repeated), int(eos), n_scored.data_ptr(), ones.data_ptr(),
        counted.data_ptr() if counted is not None else 0,
        ws_ptr, ws_size,
        device.index, torch.cuda.current_stream(device).cuda_stream,
    )  # fmt: skip
    return n_scored, ones, counted
