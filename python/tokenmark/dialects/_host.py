"""Token sequences of any form (CUDA tensors included) as a host :class:`Ragged`: the dialects
score on the host."""

from __future__ import annotations

import numpy as np

from .._inputs import Ragged, as_ragged


def host_ragged(sequences) -> tuple[np.ndarray, np.ndarray]:
    """``(tokens int64 [n_tokens], offsets int64 [n_docs + 1])`` of validated token ids."""
    if isinstance(sequences, Ragged) and hasattr(sequences.offsets, "cpu"):
        sequences = Ragged(sequences.tokens, sequences.offsets.detach().cpu().numpy())
    rag = as_ragged(sequences)  # copies tensors on any device to the host
    tokens, offsets = rag.tokens.astype(np.int64), np.asarray(rag.offsets, dtype=np.int64)
    if offsets.ndim != 1 or len(offsets) < 1 or offsets[0] != 0:
        raise ValueError("offsets: expected a 1-D array starting at 0")
    if (np.diff(offsets) < 0).any() or offsets[-1] != len(tokens):
        raise ValueError("offsets: must be non-decreasing and end at the number of tokens")
    return tokens, offsets
