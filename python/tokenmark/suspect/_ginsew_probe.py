"""GINSEW probe mode: the suspect's next-token distributions after each probe (model calls)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from .._validate import check_int

MAX_BATCH_SIZE = 2**31 - 1  # probes per forward call; more than any model takes at once


def as_probe_list(probes) -> list[np.ndarray]:
    """The probes as checked int64 arrays (1-D, non-empty, ids in [0, 2^31))."""
    if isinstance(probes, np.ndarray) and probes.ndim == 2:
        probes = list(probes)
    elif type(probes).__module__.startswith("torch") and getattr(probes, "ndim", 0) == 2:
        probes = list(probes.cpu().numpy())
    if not isinstance(probes, Sequence) or isinstance(probes, (str, bytes)):
        raise TypeError("probes: expected a list of token id sequences or a 2-D array")
    if len(probes) == 0:
        raise ValueError("probes: need at least one probe")
    out = []
    for i, p in enumerate(probes):
        a = np.asarray(p.cpu().numpy() if hasattr(p, "cpu") else p)
        if a.ndim != 1 or (a.size and a.dtype.kind not in "iu"):
            raise TypeError(f"probes: probe {i} is not a 1-D sequence of integer token ids")
        if a.size == 0:
            raise ValueError(f"probes: probe {i} is empty")
        if a.min() < 0 or a.max() >= 2**31:
            raise ValueError(f"probes: probe {i} has token ids outside [0, 2^31)")
        out.append(a.astype(np.int64))
    return out


def _is_transformers_model(obj) -> bool:
    return hasattr(obj, "config") and hasattr(obj, "forward") and callable(obj)


def _input_vocab(model) -> int | None:
    """The number of token ids a transformers model embeds (None where it does not say)."""
    try:
        return int(model.get_input_embeddings().num_embeddings)
    except (AttributeError, NotImplementedError, TypeError):
        n = getattr(model.config, "vocab_size", None)
        return int(n) if isinstance(n, (int, np.integer)) else None


def check_probe_vocab(model_or_fn, probes: list[np.ndarray]) -> None:
    """A transformers model cannot read ids beyond its embedding table: refuse them by name."""
    n = _input_vocab(model_or_fn) if _is_transformers_model(model_or_fn) else None
    if n is None:
        return
    for i, p in enumerate(probes):
        if int(p.max()) >= n:
            raise ValueError(
                f"probes: probe {i} has token id {int(p.max())}, beyond the model's vocabulary "
                f"of {n} ids"
            )


def next_token_probs_fn(model_or_fn) -> Callable[[Any], np.ndarray]:
    """A function ``ids LongTensor [b, s] -> float64 ndarray [b, vocab]`` of next-token
    probabilities from a transformers causal LM or a user callable (checked)."""
    import torch

    if _is_transformers_model(model_or_fn):
        model = model_or_fn

        def fn(ids):
            device = next(model.parameters()).device
            with torch.no_grad():
                logits = model(input_ids=ids.to(device)).logits[:, -1, :]
            probs = torch.softmax(logits.double(), dim=-1).cpu().numpy()
            if not np.isfinite(probs).all():
                raise ValueError("model_or_fn: the model's logits are not finite (NaN or inf)")
            return probs

        return fn
    if not callable(model_or_fn):
        raise TypeError("model_or_fn: expected a transformers causal LM or a callable")

    def checked(ids):
        out = model_or_fn(ids)
        if hasattr(out, "detach"):
            out = out.detach().double().cpu().numpy()
        try:
            out = np.asarray(out, dtype=np.float64)
        except (TypeError, ValueError):
            raise TypeError(
                f"model_or_fn: expected an array of probabilities, got {type(out).__name__}"
            ) from None
        if out.ndim != 2 or out.shape[0] != ids.shape[0]:
            raise ValueError(
                f"model_or_fn: expected probabilities [{ids.shape[0]}, vocab], got {out.shape}"
            )
        if not np.isfinite(out).all() or (out < 0).any():
            raise ValueError("model_or_fn: returned values that are not probabilities")
        sums = out.sum(axis=1)
        if np.abs(sums - 1.0).max() > 1e-3:
            raise ValueError(
                "model_or_fn: rows must sum to 1 (probabilities, not logits or log-probs)"
            )
        return out

    return checked


def probe_group_masses(
    model_or_fn, probes: list[np.ndarray], g0_of: Callable[[int], np.ndarray], batch_size: int
) -> np.ndarray:
    """``y [n_probes]``: the suspect's G0 mass after each probe. Probes of one length share a
    batch (no padding, so no attention-mask or position subtleties); ``g0_of(vocab)`` gives the
    flags for the suspect's vocabulary width."""
    import torch

    batch_size = check_int(batch_size, "batch_size", 1, MAX_BATCH_SIZE)
    fn = next_token_probs_fn(model_or_fn)
    check_probe_vocab(model_or_fn, probes)
    lengths = np.array([len(p) for p in probes])
    y = np.empty(len(probes), dtype=np.float64)
    for length in np.unique(lengths):
        idx = np.flatnonzero(lengths == length)
        for s in range(0, len(idx), batch_size):
            chunk = idx[s : s + batch_size]
            ids = torch.from_numpy(np.stack([probes[i] for i in chunk]))
            probs = fn(ids)
            g0 = g0_of(probs.shape[1])
            y[chunk] = probs[:, g0].sum(axis=1) / probs.sum(axis=1)
    return y
