"""SynthID-Text operations: tournament sampling of each row and g-value counts of documents."""

from __future__ import annotations

import numpy as np

from .. import backends
from .._validate import (
    check_bool,
    check_context_width,
    check_int,
    check_layers,
    check_seeding,
    enabled_rows,
    host_ids,
    host_view,
    is_cuda,
    is_torch,
    key_rows,
    key_words,
)
from ._common import (
    ArrayLike,
    call_scoring,
    key_rows_or_tensor,
    no_finite_rows,
    resolve,
    uniforms_rows,
)


def sample_synthid(
    logits: ArrayLike,
    input_ids: ArrayLike,
    *,
    keys: ArrayLike,
    uniforms: ArrayLike,
    context_width: int,
    seeding: int,
    layers: int = 30,
    top_k: int = 0,
    context_history: int = 1024,
    enabled: ArrayLike | None = None,
    backend: str = "auto",
):
    """SynthID-Text tournament sampling of each row: ``(tokens int64 [batch], marked uint8)``.

    Parameters
    ----------
    logits : numpy array or torch tensor ``[batch, vocab]`` (float32, float16, bfloat16), after
        temperature / top-p (masked entries -inf). Not modified.
    input_ids : ``[batch, length]`` int32/int64 ids; the last ``context_width`` form each row's
        context.
    keys : uint32 ``[4]`` or ``[batch, 4]`` key words.
        A tensor on the logits' device (int32 bits or uint32, ``[4]`` or ``[1 or batch, 4]``)
        goes to a GPU backend as it is, without a host sync.
    uniforms : float64 ``[batch]`` in [0, 1): each row's sampling draw (the caller's RNG).
    layers : tournament layers (1..32). top_k : 0 for the whole vocabulary, else the k largest
        logits only. context_history : positions searched for a repeated context (such rows are
        sampled without the tournament; ``marked`` is 0 there).

    Returns numpy arrays for host logits, where a row without a finite logit raises
    ``ValueError``. For CUDA logits (the CUDA kernels, or ``backend="triton"``, which also takes
    host tensors under the Triton interpreter), tensors on their device, bit-identical to the
    CPU's, computed without a host sync when ``keys``, ``uniforms`` and ``enabled`` are tensors
    on that device (host values are copied there, and such a copy waits for the GPU); a row
    without a finite logit holds -2 instead of raising.

    Examples
    --------
    >>> import numpy as np, tokenmark as tm
    >>> tokens, marked = tm.sample_synthid(np.zeros((1, 8), np.float32), [[3, 5]],
    ...     keys=tm.Key(b"k").words, uniforms=[0.5], context_width=1, seeding=0)
    >>> tokens.shape, marked.tolist()
    ((1,), [1])
    """
    args = (
        check_context_width(context_width),
        check_seeding(seeding),
        check_layers(layers),
        check_int(top_k, "top_k", 0, 2**31 - 1),
        check_int(context_history, "context_history", 0, 2**62),
    )
    name, fn = resolve("sample_synthid", backend, is_cuda(logits))
    if name in backends.GPU_BACKENDS:
        import torch

        from ..backends import _torch

        t = _torch.device_logits(logits)
        dev, batch = t.device, t.shape[0]
        ids, en = _torch.device_rows(t, input_ids, enabled)
        k = _torch.device_param(key_rows_or_tensor(keys, batch), np.uint32, batch, "keys", dev, 4)
        if is_torch(uniforms) and uniforms.device == dev:  # on the device: metadata checks only
            if uniforms.shape != (batch,):
                raise ValueError(
                    f"uniforms: expected shape [{batch}] (one per row), got {tuple(uniforms.shape)}"
                )
            u = uniforms
        else:  # host values: the host path's checks (shape, dtype, [0, 1)), then copied over
            u = torch.from_numpy(uniforms_rows(uniforms, batch))
        return fn(t, ids, k, u.to(device=dev, dtype=torch.float64), en, *args)
    arr, dtype = host_view(logits, "logits")
    batch = arr.shape[0]
    out, marked = fn(
        arr,
        dtype,
        host_ids(input_ids, batch),
        key_rows(keys, batch),
        uniforms_rows(uniforms, batch),
        enabled_rows(enabled, batch),
        *args,
    )
    return no_finite_rows(out), marked


def score_synthid(
    tokens: ArrayLike,
    offsets: ArrayLike,
    *,
    key: ArrayLike,
    context_width: int,
    seeding: int,
    layers: int = 30,
    dedup: bool = True,
    prefix_lengths: ArrayLike | None = None,
    want_flags: bool = False,
    want_words: bool = False,
    backend: str = "auto",
):
    """SynthID-Text detection counts of a flat ragged batch: ``(n_scored, ones, counted)``;
    ``ones[d, l]`` counts the g-values of layer ``l`` equal to 1 over the counted tokens. CUDA
    ``tokens`` give CUDA tensors (one host sync, to validate the inputs), as does
    ``backend="triton"`` (torch tensors on the tokens' device). ``want_words`` (host backends)
    adds a fourth element: uint32 per token, a counted token's g-value word (bit ``l``: layer
    ``l``), 0 elsewhere.

    Examples
    --------
    >>> import numpy as np, tokenmark as tm
    >>> n, ones, _ = tm.score_synthid(np.array([3, 1, 4, 1, 5], np.int32), np.array([0, 5]),
    ...     key=tm.Key(b"k").words, context_width=1, seeding=0, layers=4)
    >>> n.tolist(), ones.shape
    ([4], (1, 4))
    """
    words = key_words(key)
    args = (
        check_context_width(context_width),
        check_seeding(seeding),
        check_layers(layers),
        check_bool(dedup, "dedup"),
        check_bool(want_flags, "want_flags"),
    )
    return call_scoring(
        "score_synthid", backend, tokens, offsets, prefix_lengths, words, *args,
        want_words=check_bool(want_words, "want_words"),
    )  # fmt: skip
