"""vLLM's native Gumbel detector (a dialect) over ragged documents: the host backends, and CUDA
for CUDA tensors."""

from __future__ import annotations

import numpy as np

from .._validate import check_bool, host_array
from ._common import ArrayLike, dialect_scoring, uint64_keys


def score_vllm(
    tokens: ArrayLike,
    offsets: ArrayLike,
    *,
    keys: ArrayLike,
    weights: ArrayLike,
    context_width: int,
    dedup: bool = True,
    prefix_lengths: ArrayLike | None = None,
    want_flags: bool = False,
    backend: str = "auto",
):
    """vLLM's detector over a flat ragged batch: ``(n_scored, score, counted)``.

    ``keys`` are the uint64 Philox keys (``[1]``: gumbel; ``[2]``: dual key A, B), ``weights``
    their float64 weights; ``score[d]`` sums ``weight * -log1p(-u)`` over the counted tokens.
    The context is the ``context_width`` tokens before a token, ``-1`` into the prefix (the
    prompt, never hashed); ``dedup`` skips a token whose context already occurred.

    Examples
    --------
    >>> import numpy as np, tokenmark as tm
    >>> n, score, _ = tm.ops.score_vllm(np.array([3, 1, 4, 1, 5], np.int32), np.array([0, 5]),
    ...     keys=np.array([7], np.uint64), weights=np.ones(1), context_width=1)
    >>> n.tolist()  # the second context (1,) repeats: skipped
    [4]
    """
    w = context_width
    if isinstance(w, bool) or not isinstance(w, (int, np.integer)):
        raise TypeError("context_width: must be an int")
    if not 1 <= int(w) <= 1024:
        raise ValueError(f"context_width: must be in [1, 1024], got {w}")
    k = uint64_keys(keys, 2, "[1] or [2]")
    wt = host_array(weights, "weights")
    if wt.dtype == np.bool_:
        raise TypeError("weights: expected float weights, got bool")
    wt = np.ascontiguousarray(wt, dtype=np.float64)
    if wt.shape != k.shape or not np.isfinite(wt).all():
        raise ValueError("weights: expected one finite float per key")
    flags = check_bool(want_flags, "want_flags")
    dedup = check_bool(dedup, "dedup")
    # CUDA tensors are scored on their device and come back as tensors there.
    fn, tok, off, pre = dialect_scoring("score_vllm", backend, tokens, offsets, prefix_lengths)
    return fn(tok, off, pre, int(w), k, wt, dedup, flags)
