"""SGLang's native watermark detector (a dialect) over ragged documents: the host backends,
and CUDA for CUDA tensors."""

from __future__ import annotations

import numpy as np

from .._validate import check_bool
from ._common import ArrayLike, dialect_scoring, uint64_keys

MAX_CONTEXT_WINDOW = 64  # SGLang's MAX_WATERMARK_CONTEXT_WINDOW
MAX_CONTEXTS = 4096  # SGLang's MAX_WATERMARKED_CONTEXTS_PER_REQUEST (the detector's default)


def _int_in(value, name: str, lo: int, hi: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{name}: must be an int")
    if not lo <= int(value) <= hi:
        raise ValueError(f"{name}: must be in [{lo}, {hi}], got {value}")
    return int(value)


def score_sglang(
    tokens: ArrayLike,
    offsets: ArrayLike,
    *,
    keys: ArrayLike,
    context_width: int,
    threshold: int = 0,
    max_contexts: int = MAX_CONTEXTS,
    prefix_lengths: ArrayLike | None = None,
    want_flags: bool = False,
    backend: str = "auto",
):
    """SGLang's detector over a flat ragged batch: ``(n_scored, n_key_a, sums, counted)``.

    Parameters
    ----------
    tokens, offsets : the documents (prompt and completion), int32 ids and int64 offsets.
    keys : uint64 ``[1]`` (key A) or ``[2]`` (key A, key B). Secret; never printed.
    context_width : SGLang's ``context_window`` (1 to 64).
    threshold : dual key: ``floor(mixing_probability * 2^32)``; key A where the coin is below.
    max_contexts : stop after this many distinct contexts per document (SGLang's 4096).
    prefix_lengths : per document, the prompt length (its tail is context, never scored); 0 or
        None means no prompt, and then the first ``context_width`` tokens are not scored.
    want_flags : also return ``counted`` (uint8 per token).

    Returns
    -------
    ``n_scored`` int64 ``[n_docs]`` distinct contexts scored, ``n_key_a`` int64 (dual key: of
    them, the key-A partition), ``sums`` float64 ``[n_docs, 5]`` (combined score, key A over all
    counted positions, key B over all, the A partition, the B partition) and ``counted``.

    Examples
    --------
    >>> import numpy as np, tokenmark as tm
    >>> n, _, sums, _ = tm.ops.score_sglang(np.array([3, 1, 4, 1, 5], np.int32), np.array([0, 5]),
    ...     keys=np.array([7], np.uint64), context_width=2)
    >>> n.tolist()
    [3]
    """
    width = _int_in(context_width, "context_width", 1, MAX_CONTEXT_WINDOW)
    limit = _int_in(max_contexts, "max_contexts", 1, 2**62)
    thr = _int_in(threshold, "threshold", 0, 2**32 - 1)
    want = check_bool(want_flags, "want_flags")
    k = uint64_keys(keys, 2, "[1] or [2]")
    # CUDA tensors are scored on their device and come back as tensors there.
    fn, tok, off, pre = dialect_scoring("score_sglang", backend, tokens, offsets, prefix_lengths)
    return fn(tok, off, pre, width, limit, k, thr, want)
