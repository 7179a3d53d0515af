"""Host-side checks of torch tensors for the GPU backends: metadata only (device, dtype, shape,
strides), never device memory, so they neither synchronise nor allocate."""

from __future__ import annotations

import numpy as np
import torch

from .._validate import host_ids, host_view, row_params


def check_tensor(t, name: str, device: torch.device, dtypes, ndim: int) -> None:
    """``t`` is a tensor on ``device`` with one of ``dtypes`` and ``ndim`` dimensions."""
    if not isinstance(t, torch.Tensor):
        raise TypeError(f"{name}: expected a torch.Tensor, got {type(t).__name__}")
    if t.device != device:
        raise ValueError(f"{name}: expected a tensor on {device}, got one on {t.device}")
    if t.dtype not in dtypes:
        names = " or ".join(str(d).removeprefix("torch.") for d in dtypes)
        got = str(t.dtype).removeprefix("torch.")
        raise TypeError(f"{name}: expected dtype {names}, got {got}")
    if t.dim() != ndim:
        raise ValueError(f"{name}: expected {ndim} dimensions, got {t.dim()}")


def row_param_stride(
    t, name: str, device: torch.device, dtype: torch.dtype, rows: int, width: int = 1
) -> int:
    """Check a per-row parameter of shape ``[rows or 1]`` (``[rows or 1, width]``) and return its
    row stride in elements: 0 broadcasts one value to every row."""
    check_tensor(t, name, device, (dtype,), 1 if width == 1 else 2)
    shape_ok = t.shape[0] in (1, rows) and (width == 1 or t.shape[1] == width)
    if not shape_ok or not t.is_contiguous():
        tail = "" if width == 1 else f", {width}"
        raise ValueError(
            f"{name}: expected a contiguous tensor of shape [{rows}{tail}] or [1{tail}], "
            f"got {list(t.shape)}"
        )
    return 0 if t.shape[0] == 1 else width


def check_logits_rows(logits, input_ids, enabled, logits_dtypes) -> tuple[int, int]:
    """The rows of a GPU operation on logits (the KGW bias, the samplers), on any device (the
    caller checks which): ``logits [batch, vocab]`` with contiguous, non-overlapping rows,
    ``input_ids [batch, length]`` int64/int32 with contiguous rows on the same device, ``enabled
    [batch]`` uint8/bool or None. Returns ``(batch, vocab)``."""
    device = logits.device if isinstance(logits, torch.Tensor) else None
    check_tensor(logits, "logits", device, tuple(logits_dtypes), 2)
    batch, vocab = logits.shape
    # Empty tensors can carry any strides; they are never dereferenced.
    if logits.numel() and vocab > 1 and logits.stride(1) != 1:
        raise ValueError("logits: rows must be contiguous (stride(1) == 1)")
    if logits.numel() and batch > 1 and logits.stride(0) < vocab:
        raise ValueError("logits: rows overlap (stride(0) < vocab)")
    if vocab >= 1 << 31:
        raise ValueError("logits: vocab must be < 2^31")
    check_tensor(input_ids, "input_ids", device, (torch.int64, torch.int32), 2)
    if input_ids.shape[0] != batch:
        raise ValueError(
            f"input_ids: expected {batch} rows (one per logits row), got {input_ids.shape[0]}"
        )
    if input_ids.numel() and input_ids.shape[1] > 1 and input_ids.stride(1) != 1:
        raise ValueError("input_ids: rows must be contiguous (stride(1) == 1)")
    if enabled is not None:
        check_tensor(enabled, "enabled", device, (torch.uint8, torch.bool), 1)
        if enabled.shape[0] != batch or not enabled.is_contiguous():
            raise ValueError(f"enabled: expected a contiguous tensor of shape [{batch}]")
    return batch, vocab


def check_row_inputs(logits, input_ids, keys, enabled, logits_dtypes) -> tuple[int, int, int]:
    """:func:`check_logits_rows` for the CUDA kernels: ``logits`` on a CUDA device, plus ``keys
    [batch or 1, 4]`` int32. Returns ``(batch, vocab, key_stride)``."""
    if not isinstance(logits, torch.Tensor) or not logits.is_cuda:
        raise ValueError("logits: expected a CUDA tensor")
    batch, vocab = check_logits_rows(logits, input_ids, enabled, logits_dtypes)
    return batch, vocab, row_param_stride(keys, "keys", logits.device, torch.int32, batch, 4)


def key_words(words, name: str) -> tuple[int, int, int, int]:
    """Four key words as Python ints in ``[0, 2^32)``; the error never shows them (secret)."""
    out = tuple(int(w) for w in words)
    if len(out) != 4 or any(not 0 <= w < 1 << 32 for w in out):
        raise ValueError(f"{name}: expected 4 words in [0, 2^32)")
    return out


def synthid_layers(layers) -> int:
    """A SynthID tournament depth: an int in ``[1, 32]`` (one 32-bit word holds the g-values)."""
    if not 1 <= int(layers) <= 32:
        raise ValueError(f"layers: must be in [1, 32], got {layers}")
    return int(layers)


def top_k_candidates(logits: torch.Tensor, top_k: int) -> torch.Tensor:
    """The ids of the ``top_k`` largest logits of each row, ascending, as the spec picks them
    (NaN counts as -inf; equal logits: lower id first): ``[batch, top_k]`` int32, without a
    host sync.

    ``topk`` gives the k-th largest value ``t`` (ties do not change it); the candidates are
    every logit above ``t`` and, of those equal to ``t``, the lowest ids that make up ``k``.
    A running count places each candidate in its row of the output.
    """
    x = logits.float()
    x = torch.where(torch.isnan(x), float("-inf"), x)
    t = torch.topk(x, top_k, dim=1, sorted=False).values.amin(dim=1, keepdim=True)
    above = x > t
    tied = x == t
    missing = top_k - above.sum(dim=1, keepdim=True)
    chosen = above | (tied & (torch.cumsum(tied, dim=1) <= missing))
    slot = torch.where(chosen, torch.cumsum(chosen, dim=1) - 1, top_k)  # top_k: discarded
    ids = torch.arange(x.shape[1], device=x.device, dtype=torch.int32).expand_as(x)
    out = torch.empty(x.shape[0], top_k + 1, device=x.device, dtype=torch.int32)
    return out.scatter_(1, slot, ids)[:, :top_k].contiguous()


def as_tensor(x):
    """A torch tensor as is; a host array as a tensor sharing its memory where it can."""
    return x if isinstance(x, torch.Tensor) else torch.from_numpy(np.ascontiguousarray(x))


def on_device(x, dtype, device) -> torch.Tensor:
    """An index array (tensor or array-like) as a tensor on ``device``."""
    if isinstance(x, torch.Tensor):
        return x.to(device)
    return torch.as_tensor(np.asarray(x, dtype=dtype), device=device)


def device_param(value, dtype, batch: int, name: str, device, width: int = 1) -> torch.Tensor:
    """A per-row parameter as a tensor on ``device`` (uint32 travels as int32 bits)."""
    if isinstance(value, torch.Tensor) and value.device == device:
        # already prepared (a processor caches these): metadata changes only, no host sync
        if dtype == np.uint32 and value.dtype == torch.uint32:
            value = value.view(torch.int32)  # the kernels take the words' int32 bits
        if width > 1 and value.dim() == 1 and value.shape[0] == width:
            value = value.reshape(1, width)  # one row for every row, as on the host
        return value
    host = row_params(value, dtype, batch, name, width)
    if not host.flags.writeable:  # a frozen array (a scheme's key words): torch wants to own one
        host = host.copy()
    return torch.from_numpy(host.view(np.int32) if dtype == np.uint32 else host).to(device)


def device_logits(logits, writeable: bool = False) -> torch.Tensor:
    """Logits for a GPU backend: a tensor as is, a host array as a tensor sharing its memory;
    ``writeable`` (the in-place operations): a read-only array is refused, as on the host."""
    if isinstance(logits, torch.Tensor):
        return logits
    return torch.from_numpy(host_view(logits, "logits", writeable=writeable)[0])


def device_rows(logits: torch.Tensor, input_ids, enabled):
    """A GPU operation's ids and enabled flags on the logits' device: ``(ids, enabled or None)``."""
    dev, batch = logits.device, logits.shape[0]
    ids = (
        input_ids
        if isinstance(input_ids, torch.Tensor)
        else torch.from_numpy(host_ids(input_ids, batch))
    )
    en = None if enabled is None else device_param(enabled, np.uint8, batch, "enabled", dev)
    if en is not None and en.shape[0] != batch:
        en = en.expand(batch).contiguous()
    return ids.to(dev), en


def device_prefix(prefix, offsets: torch.Tensor) -> torch.Tensor | None:
    """Prefix lengths on the offsets' device, clamped to each document's length (so no kernel
    sees ``offset + prefix`` overflow); negative values are kept for the validation to report."""
    if prefix is None:
        return None
    p = on_device(prefix, np.int64, offsets.device)
    if p.dim() == 0:  # one length for every document, as the host path takes it
        p = p.expand(offsets.shape[0] - 1).contiguous()
    if p.dtype != torch.int64 or p.shape != (offsets.shape[0] - 1,):
        return p  # a dtype or shape error: the backend reports it
    return torch.minimum(p, offsets.diff().clamp_min(0))
