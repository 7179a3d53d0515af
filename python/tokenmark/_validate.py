"""Argument checks and normalisation shared by the ops and the schemes (bottom layer: numpy only;
torch is touched only through duck typing, never imported at module level).

Every error names the argument and the accepted range, and never shows key material.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .stats import synthid_weights

LOGITS_DTYPES = {np.dtype(np.float32): "float32", np.dtype(np.float16): "float16"}
MAX_CONTEXT_WIDTH = 1024


def is_torch(x: Any) -> bool:
    """A torch tensor, recognised without importing torch."""
    return type(x).__module__.startswith("torch") and hasattr(x, "is_cuda")


def is_cuda(x: Any) -> bool:
    return is_torch(x) and x.is_cuda


def torch_to_numpy(x, name: str) -> np.ndarray:
    """A torch tensor's values as numpy (host tensors share memory; autograd is bypassed)."""
    if x.device.type == "meta":
        raise ValueError(f"{name}: a meta tensor holds no data; pass a tensor on the CPU or CUDA")
    if x.device.type != "cpu":
        x = x.detach().cpu()
    try:
        return x.detach().numpy()
    except (TypeError, RuntimeError):
        dtype = str(x.dtype).removeprefix("torch.")
        raise TypeError(f"{name}: expected a numeric dtype numpy holds, got {dtype}") from None


def host_array(x: Any, name: str) -> np.ndarray:
    """``x`` (a numpy array, a torch tensor on any real device, a scalar or nested lists) as a
    numpy array; never an object array."""
    if is_torch(x):
        return torch_to_numpy(x, name)
    try:
        arr = np.asarray(x)
    except (TypeError, ValueError, OverflowError):
        raise TypeError(f"{name}: expected an array of numbers (rectangular)") from None
    if arr.dtype.kind not in "biuf":
        raise TypeError(f"{name}: expected numbers, got {_kind_name(arr)}")
    return arr


def _kind_name(arr: np.ndarray) -> str:
    return "ragged or mixed values" if arr.dtype == object else f"dtype {arr.dtype}"


def host_view(x, name: str, writeable: bool = False) -> tuple[np.ndarray, str]:
    """A numpy view of host logits and its dtype name (bfloat16 as int16 bits); with
    ``writeable``, one that can be modified in place."""
    if is_torch(x):
        import torch

        if x.device.type != "cpu":
            raise ValueError(
                f"{name}: expected a host tensor for a host backend, got one on {x.device}"
            )
        x = x.detach()  # the in-place bias bypasses autograd, as in generate()
        if x.dtype == torch.bfloat16:
            arr, dtype = x.view(torch.int16).numpy(), "bfloat16"
            if arr.ndim != 2:
                raise ValueError(f"{name}: expected [batch, vocab], got shape {arr.shape}")
            return arr, dtype
        arr = torch_to_numpy(x, name)
    else:
        arr = x
    if not isinstance(arr, np.ndarray):
        raise TypeError(f"{name}: expected a numpy array or torch tensor, got {type(x).__name__}")
    dtype = LOGITS_DTYPES.get(arr.dtype)
    if dtype is None:
        raise TypeError(f"{name}: expected float32, float16 or bfloat16, got {arr.dtype}")
    if arr.ndim != 2:
        raise ValueError(f"{name}: expected [batch, vocab], got shape {arr.shape}")
    if writeable and not arr.flags.writeable:
        raise ValueError(f"{name}: must be writeable (the bias is applied in place)")
    return arr, dtype


_PARAM_RANGE = {
    np.dtype(np.uint32): (0, 0xFFFFFFFF, "[0, 2^32)"),
    np.dtype(np.uint8): (0, 1, "{0, 1} (or bools)"),
}


def row_params(value, dtype, batch: int, name: str, width: int = 1) -> np.ndarray:
    """A per-row parameter as a contiguous array of ``1`` or ``batch`` rows (``[rows, width]``
    when ``width > 1``). Integers are never taken from floats (no truncation) and must fit the
    kernel's type; floats must be finite."""
    ndim = 1 if width == 1 else 2
    # Fast path for parameters prepared once (the logits processor's): no copy, no reshape.
    if (
        isinstance(value, np.ndarray)
        and value.dtype == dtype
        and value.ndim == ndim
        and value.flags.c_contiguous
        and (width == 1 or value.shape[1] == width)
    ):
        if value.shape[0] not in (1, batch):
            raise ValueError(f"{name}: expected 1 or {batch} rows, got {value.shape[0]}")
        return value
    arr = host_array(value, name)
    dtype = np.dtype(dtype)
    shape_ok = arr.ndim <= 1 if width == 1 else arr.ndim in (1, 2) and arr.shape[-1] == width
    if not shape_ok:
        want = "a scalar or [rows]" if width == 1 else f"[{width}] or [rows, {width}]"
        raise ValueError(f"{name}: expected {want}, got shape {arr.shape}")
    if dtype.kind == "f":
        if arr.dtype.kind == "b":
            raise TypeError(f"{name}: expected numbers, got booleans")
        with np.errstate(over="ignore", invalid="ignore"):
            out = arr.astype(dtype)
        if out.size and not np.isfinite(out).all():
            raise ValueError(f"{name}: must be finite (and fit {dtype.name})")
    else:
        lo, hi, text = _PARAM_RANGE[dtype]
        allowed = "iub" if dtype == np.uint8 else "iu"
        if arr.dtype.kind not in allowed:
            raise TypeError(f"{name}: expected integers in {text}, got dtype {arr.dtype}")
        if arr.size and (int(arr.min()) < lo or int(arr.max()) > hi):
            raise ValueError(f"{name}: must be in {text}")
        out = arr.astype(dtype)
    out = np.ascontiguousarray(out.reshape(-1) if width == 1 else out.reshape(-1, width))
    if out.shape[0] not in (1, batch):
        raise ValueError(f"{name}: expected 1 or {batch} rows, got {out.shape[0]}")
    return out


def enabled_rows(enabled, batch: int) -> np.ndarray | None:
    """Per-row on/off flags as uint8 ``[batch]``, or None (every row on)."""
    if enabled is None:
        return None
    en = row_params(enabled, np.uint8, batch, "enabled")
    return en if en.shape[0] == batch else np.broadcast_to(en, (batch,)).copy()


def host_ids(input_ids, batch: int) -> np.ndarray:
    """``input_ids [batch, length]`` as int32/int64 numpy ids in ``[0, 2^31)`` (host copy of a
    device tensor)."""
    ids = host_array(input_ids, "input_ids")
    if ids.dtype.kind not in "iu":
        raise TypeError(f"input_ids: expected integer token ids, got dtype {ids.dtype}")
    if ids.ndim != 2 or ids.shape[0] != batch:
        raise ValueError(f"input_ids: expected shape [{batch}, length], got {ids.shape}")
    if ids.size and (int(ids.min()) < 0 or int(ids.max()) > 2**31 - 1):
        raise ValueError("input_ids: token ids must be in [0, 2^31)")
    if ids.dtype not in (np.int32, np.int64):
        ids = ids.astype(np.int64)
    return ids


def key_words(key) -> np.ndarray:
    """Four uint32 key words; the error never shows them (secret)."""
    try:
        words = np.asarray(key)
        ok = words.dtype.kind in "iu" and words.size == 4
        ok = ok and words.min() >= 0 and words.max() <= 0xFFFFFFFF
    except Exception:  # noqa: BLE001 - whatever it was, it must not be echoed
        ok = False
    if not ok:
        raise TypeError("key: expected 4 key words in [0, 2^32) (tokenmark.Key(...).words)")
    return np.ascontiguousarray(words.reshape(4), dtype=np.uint32)


def check_int(value, name: str, lo: int, hi: int) -> int:
    """An integer (not a bool, not a float) in ``[lo, hi]``."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{name}: expected an int, got {type(value).__name__}")
    if not lo <= int(value) <= hi:
        raise ValueError(f"{name}: must be in [{lo}, {hi}], got {int(value)}")
    return int(value)


def check_bool(value, name: str) -> bool:
    """A real boolean: truthy strings and None are refused, not guessed."""
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    raise TypeError(f"{name}: expected True or False, got {type(value).__name__}")


def check_context_width(width) -> int:
    return check_int(width, "context_width", 0, MAX_CONTEXT_WIDTH)


def check_salt(salt, n: int | None = None) -> np.ndarray:
    """A uint32 salt per row/document (or one for all), validated."""
    arr = host_array(salt, "salt")
    if arr.dtype.kind not in "iu":
        raise TypeError(f"salt: expected integers in [0, 2^32), got dtype {arr.dtype}")
    if arr.ndim > 1 or (arr.ndim == 1 and n is not None and len(arr) not in (1, n)):
        raise ValueError(f"salt: expected a scalar or one per row/document ({n}), got {arr.shape}")
    if arr.size and (arr.min() < 0 or arr.max() > 2**32 - 1):
        raise ValueError("salt: must be in [0, 2^32)")
    return np.ascontiguousarray(arr.reshape(-1), dtype=np.uint32)


def check_prefix(prefix_lengths, n_docs: int) -> np.ndarray | None:
    """``prefix_lengths`` (a scalar or one per document) as int64 ``[n_docs]``, >= 0."""
    if prefix_lengths is None:
        return None
    prefix = host_array(prefix_lengths, "prefix_lengths")
    if prefix.dtype.kind not in "iu":
        raise TypeError(f"prefix_lengths: expected integers, got dtype {prefix.dtype}")
    if prefix.ndim > 1 or (prefix.ndim == 1 and prefix.shape[0] not in (1, n_docs)):
        raise ValueError(
            f"prefix_lengths: expected a scalar or one per document ({n_docs}), got {prefix.shape}"
        )
    if prefix.dtype == np.uint64 and prefix.size and prefix.max() > np.iinfo(np.int64).max:
        prefix = np.minimum(prefix, np.iinfo(np.int64).max)
    prefix = np.ascontiguousarray(np.broadcast_to(prefix, (n_docs,)), dtype=np.int64)
    if prefix.size and prefix.min() < 0:
        raise ValueError("prefix_lengths: must be >= 0")
    return prefix


def clamp_prefix(prefix: np.ndarray | None, offsets: np.ndarray) -> np.ndarray | None:
    """Prefix lengths clamped to each document's length: a prefix longer than its document
    means the same as one of its length, and no kernel then sees ``offset + prefix`` overflow."""
    if prefix is None or offsets.ndim != 1 or prefix.shape != (offsets.shape[0] - 1,):
        return prefix  # a shape error: the backend reports it
    lengths = np.maximum(np.diff(offsets.astype(np.int64, copy=False)), 0)
    return np.minimum(prefix, lengths)


def key_rows(keys, batch: int) -> np.ndarray:
    """Key words per row, ``[1 or batch, 4]`` uint32; the error never shows them (secret)."""
    if isinstance(keys, np.ndarray) and keys.dtype == np.uint32 and keys.size % 4 == 0:
        return row_params(keys, np.uint32, batch, "keys", 4)
    try:
        arr = np.asarray(keys)
        ok = arr.dtype.kind in "iu" and arr.size % 4 == 0 and arr.size > 0
        ok = ok and arr.min() >= 0 and arr.max() <= 0xFFFFFFFF
    except Exception:  # noqa: BLE001 - whatever it was, it must not be echoed
        ok = False
    if not ok:
        raise TypeError("keys: expected uint32 key words, [4] or [batch, 4] (tokenmark.Key.words)")
    return row_params(arr.astype(np.uint32), np.uint32, batch, "keys", 4)


def check_seeding(seeding) -> int:
    return check_int(seeding, "seeding", 0, 1)


def check_layers(layers) -> int:
    return check_int(layers, "layers", 1, 32)


def check_real(value, name: str) -> float:
    """A finite real number (an int or a float, not a bool, not a str) as a float."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, float, np.number)):
        raise TypeError(f"{name}: expected a number, got {type(value).__name__}")
    if isinstance(value, (complex, np.complexfloating)):
        raise TypeError(f"{name}: expected a real number, got {type(value).__name__}")
    try:
        v = float(value)
    except OverflowError:
        v = float("inf")
    if not np.isfinite(v):
        raise ValueError(f"{name}: must be finite, got {v}")
    return v


def check_alpha(alpha) -> float:
    """A significance level in [0, 1]."""
    a = check_real(alpha, "alpha")
    if not 0.0 <= a <= 1.0:
        raise ValueError(f"alpha: must be in [0, 1], got {a}")
    return a


def check_weights(weights, layers: int) -> np.ndarray:
    """Per-layer weights: ``layers`` finite non-negative numbers, not all 0, scaled to a maximum
    of 1 (the weighted score does not depend on their scale; huge weights would overflow); None
    gives the default :func:`tokenmark.stats.synthid_weights`."""
    if weights is None:
        return synthid_weights(layers)
    w = host_array(weights, "weights")
    if w.dtype.kind not in "iuf":
        raise TypeError(f"weights: expected {layers} numbers, got dtype {w.dtype}")
    w = w.astype(np.float64)
    if w.shape != (layers,):
        raise ValueError(f"weights: expected {layers} weights (one per layer), got shape {w.shape}")
    if not np.isfinite(w).all() or (w < 0).any() or not (w > 0).any():
        raise ValueError(f"weights: expected {layers} finite non-negative weights, not all 0")
    return w / w.max()


def check_choice(value, name: str, choices) -> str:
    """One of ``choices`` (strs); anything else, hashable or not, is refused by name."""
    if not isinstance(value, str) or value not in choices:
        got = repr(value) if isinstance(value, str) else type(value).__name__
        raise ValueError(f"{name}: expected one of {sorted(choices)}, got {got}")
    return value


def check_optional_bool(value, name: str) -> bool | None:
    """None (use the scheme's setting) or a real boolean."""
    return None if value is None else check_bool(value, name)


def check_rng(rng) -> np.random.Generator:
    """A ``numpy.random.Generator`` (None: a fresh, OS-seeded one)."""
    if rng is None:
        return np.random.default_rng()
    if not isinstance(rng, np.random.Generator):
        raise TypeError(f"rng: expected a numpy.random.Generator or None, got {type(rng).__name__}")
    return rng


def ids_in_range(arr: np.ndarray) -> bool:
    """Whether every id of a non-empty integer array is in [0, 2^31), in one pass: signed ids
    of at most 32 bits need only their minimum; int64 ids, read as uint64, turn negative ones
    into huge ones, so that the maximum alone decides, as for unsigned ids."""
    if arr.dtype.kind == "i" and arr.dtype.itemsize <= 4:
        return bool(arr.min() >= 0)
    if arr.dtype.kind == "i":
        arr = arr.view(arr.dtype.str.replace("i", "u"))  # the same byte order
    return bool(arr.max() <= 2**31 - 1)


def contiguous_ids(arr: np.ndarray, name: str) -> np.ndarray:
    """``arr`` C-contiguous: the copy the id checks are followed by anyway, made first, so that
    a view far larger than memory (np.broadcast_to of 2^40 ids) fails at once, naming the
    argument, instead of after a range check of every element."""
    if arr.flags.c_contiguous:
        return arr
    try:
        return np.ascontiguousarray(arr)
    except MemoryError:
        raise MemoryError(
            f"{name}: {arr.size} token ids ({arr.size * arr.itemsize} bytes) do not fit in memory"
        ) from None


def check_ragged_host(tokens, offsets, prefix_lengths=None, check_int32_ids: bool = True):
    """A host ragged batch for any host backend, checked once: ``tokens`` int32 ``[n_tokens]``
    in ``[0, 2^31)`` (any integer dtype whose values fit), ``offsets`` int64 ``[n_docs + 1]``
    from 0 to ``n_tokens``, non-decreasing, and ``prefix_lengths`` (None, a scalar or one per
    document) as int64 ``[n_docs]`` clamped to each document's length. Returns
    ``(tokens, offsets, prefix_lengths)``. Floats are refused, never truncated. With
    ``check_int32_ids=False`` int32 ids are left to the caller's kernel to check (the C++
    bindings do); ids of any other dtype are always checked, as they are narrowed here."""
    tok = host_array(tokens, "tokens")
    if tok.dtype.kind not in "iu":
        raise TypeError(f"tokens: expected integer token ids (int32), got dtype {tok.dtype}")
    if tok.ndim != 1:
        raise ValueError(f"tokens: expected [n_tokens] (1-D), got shape {tok.shape}")
    tok = contiguous_ids(tok, "tokens")
    checked_later = not check_int32_ids and tok.dtype.kind == "i" and tok.dtype.itemsize == 4
    if tok.size and not checked_later and not ids_in_range(tok):
        raise ValueError("tokens: token ids must be in [0, 2^31)")
    tok = np.ascontiguousarray(tok, dtype=np.int32)
    off = host_array(offsets, "offsets")
    if off.dtype.kind not in "iu":
        raise TypeError(f"offsets: expected integers (int64), got dtype {off.dtype}")
    if off.ndim != 1 or off.shape[0] < 1:
        raise ValueError(f"offsets: expected [n_docs + 1] (at least one entry), got {off.shape}")
    if off.dtype == np.uint64 and int(off.max()) > np.iinfo(np.int64).max:
        raise ValueError(f"offsets: entries must be in [0, n_tokens = {tok.shape[0]}]")
    off = np.ascontiguousarray(off, dtype=np.int64)
    if off[0] != 0 or off[-1] != tok.shape[0]:
        raise ValueError(
            f"offsets: must start at 0 and end at n_tokens = {tok.shape[0]}, "
            f"got {int(off[0])} and {int(off[-1])}"
        )
    if off.shape[0] > 1 and (np.diff(off) < 0).any():
        raise ValueError("offsets: must be non-decreasing")
    pre = check_prefix(prefix_lengths, off.shape[0] - 1)
    return tok, off, clamp_prefix(pre, off)


def check_uniforms(uniforms, batch: int) -> np.ndarray:
    """Sampling draws, one per row: float64 ``[batch]`` in ``[0, 1)``."""
    u = host_array(uniforms, "uniforms")
    if u.dtype.kind not in "iuf" or u.dtype.kind == "b":
        raise TypeError(f"uniforms: expected floats in [0, 1), one per row, got dtype {u.dtype}")
    if u.shape != (batch,):
        raise ValueError(f"uniforms: expected shape [{batch}] (one per row), got {u.shape}")
    u = np.ascontiguousarray(u, dtype=np.float64)
    if u.size and not ((u >= 0) & (u < 1)).all():
        raise ValueError("uniforms: must be in [0, 1)")
    return u
