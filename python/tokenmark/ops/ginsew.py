"""GINSEW operation: the teacher's next-token log-probabilities with the keyed sinusoidal shift of
probability mass between the two keyed groups (Zhao, Li, Wang, ICML 2023)."""

from __future__ import annotations

import numpy as np

from .. import backends
from .._validate import check_int, enabled_rows, host_ids, host_view, is_cuda, is_torch, key_rows
from .._validate import row_params as _rows
from ..reference.ginsew import fraction_thresholds
from ._common import ArrayLike, key_rows_or_tensor, resolve


def _host_params(epsilon, frequency, fraction, thresholds, batch: int):
    """Checked host ``(thresholds uint32, epsilon float64, frequency float64)`` rows."""
    eps = _rows(epsilon, np.float64, batch, "epsilon")
    if eps.size and not (np.isfinite(eps).all() and (eps >= 0).all()):
        raise ValueError("epsilon: must be finite and >= 0")
    freq = _rows(frequency, np.float64, batch, "frequency")
    if freq.size and not np.isfinite(freq).all():
        raise ValueError("frequency: must be finite (radians)")
    if thresholds is None:
        frac = _rows(fraction, np.float64, batch, "fraction")
        if frac.size and not (np.isfinite(frac).all() and (frac > 0).all() and (frac < 1).all()):
            raise ValueError("fraction: must be in the open interval (0, 1)")
        return fraction_thresholds(frac), eps, freq
    th = np.asarray(thresholds)
    thr = _rows(th.view(np.uint32) if th.dtype == np.int32 else th, np.uint32, batch, "thresholds")
    if (thr == 0).any():
        raise ValueError("thresholds: must be > 0")
    return thr, eps, freq


def _check_window(ids: np.ndarray, context_width: int, position: int) -> None:
    window = ids[:, position:] if position >= 0 else ids[:, ids.shape[1] - context_width :]
    if window.size and (window.min() < 0 or window.max() >= 2**31):
        raise ValueError("input_ids: token ids must be in [0, 2^31)")


def apply_ginsew_(
    logits: ArrayLike,
    input_ids: ArrayLike,
    *,
    keys: ArrayLike,
    epsilon: ArrayLike,
    frequency: ArrayLike,
    context_width: int,
    fraction: ArrayLike = 0.5,
    thresholds: ArrayLike | None = None,
    enabled: ArrayLike | None = None,
    position: int | None = None,
    backend: str = "auto",
):
    """Replace ``logits`` by the GINSEW-perturbed log-probabilities, in place; return ``logits``.

    Parameters
    ----------
    logits : numpy array or torch tensor ``[batch, vocab]`` (float32, float16, bfloat16).
    input_ids : ``[batch, length]`` integer ids; each row's time comes from its last
        ``context_width`` ids (or the id at ``position``).
    keys : uint32 key words ``[4]`` or ``[batch, 4]`` (:attr:`tokenmark.Key.words`).
    epsilon, frequency, fraction : scalars or ``[batch]`` (``frequency`` in radians).
    thresholds : uint32 ``floor(fraction * 2^32)`` per row, instead of ``fraction`` (prepared once
        by the processor; device tensors are then used without a host sync).
    enabled : bool ``[batch]`` or None; disabled rows are only normalised (``log_softmax``).
    position : None (the context) or the index of the one id that sets the time
        (``t_source="prompt_position"``).

    Most users call :meth:`tokenmark.GINSEW.apply_` or its logits processor.

    Examples
    --------
    >>> import numpy as np, tokenmark as tm
    >>> x = np.zeros((1, 8), dtype=np.float32)
    >>> _ = tm.apply_ginsew_(x, np.array([[3, 1]]), keys=tm.Key(b"k").words, epsilon=0.2,
    ...                      frequency=16.0, context_width=1, fraction=0.5)
    >>> bool(abs(np.exp(x.astype(np.float64)).sum() - 1) < 1e-6)
    True
    """
    width = check_int(context_width, "context_width", 1, 1024)
    # the bindings take a C int
    pos = -1 if position is None else check_int(position, "position", 0, 2**31 - 1)
    name, fn = resolve("apply_ginsew_", backend, is_cuda(logits))
    if name in backends.GPU_BACKENDS:
        from ..backends import _torch

        t = _torch.device_logits(logits, writeable=True)
        dev, batch = t.device, t.shape[0]
        ids, en = _torch.device_rows(t, input_ids, enabled)
        on_dev = [is_torch(v) and v.device == dev for v in (thresholds, epsilon, frequency)]
        if not all(on_dev):  # host values: checked here (device ones are not read: no sync)
            host = [v.cpu().numpy() if is_torch(v) else v for v in (epsilon, frequency)]
            thresholds, epsilon, frequency = _host_params(*host, fraction, thresholds, batch)
        k = _torch.device_param(key_rows_or_tensor(keys, batch), np.uint32, batch, "keys", dev, 4)
        thr = _torch.device_param(thresholds, np.uint32, batch, "thresholds", dev)
        eps = _torch.device_param(epsilon, np.float64, batch, "epsilon", dev)
        freq = _torch.device_param(frequency, np.float64, batch, "frequency", dev)
        fn(t, ids, k, thr, eps, freq, en, width, pos)
        return logits
    arr, dtype = host_view(logits, "logits", writeable=True)
    batch = arr.shape[0]
    ids = host_ids(input_ids, batch)
    _check_window(ids, width, pos)
    thr, eps, freq = _host_params(epsilon, frequency, fraction, thresholds, batch)
    fn(arr, dtype, ids, key_rows(keys, batch), thr, eps, freq, enabled_rows(enabled, batch),
       width, pos)  # fmt: skip
    return logits
