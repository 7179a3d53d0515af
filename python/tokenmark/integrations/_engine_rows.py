"""What the serving-engine processors (vLLM, SGLang) share, free of any engine: watermark some
rows of a batch of logits, each row with its own watermark (its own key and scheme config) and
its own token history, in as few kernel launches as the configs allow.

A row's history is the request's whole sequence (prompt + output so far), never a padded
rectangle: Gumbel's repeated-context test and SynthID's context history search earlier
positions of the row, and padding would change their answer. Rows are therefore grouped by
scheme config and by the number of trailing ids the config needs (``history_length``); one
group is one call of the op with per-row keys. The engine adapters provide:

- ``gather(sel, h)``: the last ``h`` ids of the rows ``sel`` (indices into the row plan) as an
  integer tensor ``[len(sel), h]`` on the logits' device;
- ``warp(logits, sel)``: the request's own sampling settings (temperature, min-p, top-k, top-p)
  applied exactly as the engine would, to a copy of the rows ``sel``, masked entries -inf.

Sampling schemes (Gumbel, SynthID) choose the token from the warped row and return the engine
a one-hot row (0 at the token, -inf elsewhere): the engine's own temperature / top-k / top-p
then keep it, and its sampler emits it. A row the scheme leaves unwatermarked (Gumbel: context
too short or repeated) goes back untouched, and the engine samples it as usual. A token that is
-inf in the engine's logits (grammar, bad words) is -inf in the warped row too and is never
chosen; a row without any finite logit is left alone.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Sequence

import numpy as np
import torch

from .. import ops
from ..gumbel import Gumbel
from ..kgw import KGW
from ..scan.watermarks import Watermark
from ..synthid import SynthID

Gather = Callable[[np.ndarray, int], torch.Tensor]
Warp = Callable[[torch.Tensor, np.ndarray], torch.Tensor]
Rand = Callable[[np.ndarray, torch.device], torch.Tensor]

SAMPLING_SCHEMES = ("gumbel", "synthid")


def history_length(scheme: KGW | Gumbel | SynthID, length: int) -> int | None:
    """How many trailing ids of a sequence of ``length`` ids the scheme's op needs to give the
    answer it gives on the whole sequence; None where it would leave the row alone anyway.

    >>> import tokenmark as tm
    >>> history_length(tm.KGW(key=b"k", context_width=4), 10), history_length(
    ...     tm.KGW(key=b"k", context_width=4), 3)
    (4, None)
    """
    if not isinstance(scheme, (KGW, Gumbel, SynthID)):
        raise TypeError(f"scheme: expected KGW, Gumbel or SynthID, got {type(scheme).__name__}")
    w = scheme.context_width
    if isinstance(scheme, KGW):
        return w if length >= w else None
    if isinstance(scheme, Gumbel):
        if length < w:
            return None
        return length if scheme.skip_repeated else w
    # SynthID: the repeated-context search looks at windows ending in the last context_history
    # positions: context_history + width ids hold them all (rows shorter than width are
    # sampled without the tournament, as in generate).
    return min(length, scheme.context_history + w)


def _group_key(wm: Watermark, length: int) -> tuple | None:
    s = wm.scheme
    h = history_length(s, length)
    if h is None:
        return None
    if isinstance(s, KGW):
        return ("kgw", s.context_width, s.seeding_code, h)
    if isinstance(s, Gumbel):
        return ("gumbel", s.context_width, s.seeding_code, s.skip_repeated, h)
    return ("synthid", s.context_width, s.seeding_code, s.layers, s.top_k, s.context_history, h)


def _uniforms(sel: np.ndarray, device: torch.device) -> torch.Tensor:
    return torch.rand(len(sel), dtype=torch.float64, device=device)


def to_device(a: np.ndarray, device: torch.device):
    """A small host array for the ops on ``device``: as it is for the host; on CUDA through
    pinned memory without blocking (a copy from pageable memory would wait for the GPU), uint32
    as int32 with the same bits, as the CUDA wrappers take them."""
    if device.type != "cuda":
        return a
    if a.dtype == np.uint32:
        a = a.view(np.int32)
    return torch.from_numpy(np.ascontiguousarray(a)).pin_memory().to(device, non_blocking=True)


def _as_device_tokens(tokens, device: torch.device) -> torch.Tensor:
    if isinstance(tokens, torch.Tensor):
        return tokens.to(device=device, dtype=torch.int64)
    return torch.from_numpy(np.asarray(tokens, dtype=np.int64)).to(device)


def apply_watermarks_(
    logits: torch.Tensor,
    rows: np.ndarray,
    marks: Sequence[Watermark],
    lengths: np.ndarray,
    gather: Gather,
    warp: Warp | None = None,
    rand: Rand = _uniforms,
    backend: str = "auto",
) -> torch.Tensor:
    """Watermark the rows ``rows`` of ``logits [num_rows, vocab]`` in place and return it.

    Parameters
    ----------
    logits : float32 tensor (host or CUDA); the engine's logits before its temperature.
    rows : int64 ``[n]``: the logits rows to watermark, one per opted-in request.
    marks : the watermark of each of those rows.
    lengths : int64 ``[n]``: ids in each row's sequence (prompt + output so far).
    gather, warp : the engine's history and sampling settings (see the module docstring);
        ``warp`` None: sample from the logits as they are (temperature 1, no truncation).
    rand : ``rand(sel, device)``: float64 uniforms in [0, 1), SynthID's sampling draws for the
        rows ``sel`` (default: ``torch.rand`` on the logits' device).
    backend : the tokenmark backend (``"auto"``: the logits' device).

    Examples
    --------
    >>> import numpy as np, torch, tokenmark as tm
    >>> from tokenmark.scan.watermarks import Watermark
    >>> wm = Watermark("a", "a", tm.Gumbel(key=b"k", context_width=1))
    >>> hist = torch.tensor([[5, 6, 7]])
    >>> logits = torch.zeros(1, 10)
    >>> out = apply_watermarks_(logits, np.array([0]), [wm], np.array([3]),
    ...                         lambda sel, h: hist[sel][:, -h:])
    >>> int((out[0] == 0).sum()), int(torch.isinf(out[0]).sum())
    (1, 9)
    """
    rows = np.asarray(rows, dtype=np.int64)
    lengths = np.asarray(lengths, dtype=np.int64)
    if rows.shape != lengths.shape or rows.ndim != 1 or len(marks) != rows.shape[0]:
        raise ValueError(
            f"rows, marks, lengths: expected the same length, got {rows.shape}, "
            f"{len(marks)}, {lengths.shape}"
        )
    groups: dict[tuple, list[int]] = defaultdict(list)
    for i, (wm, n) in enumerate(zip(marks, lengths.tolist())):
        key = _group_key(wm, n)
        if key is not None:
            groups[key].append(i)
    for key, members in groups.items():
        sel = np.asarray(members, dtype=np.int64)
        row_t = torch.as_tensor(to_device(rows[sel], logits.device))
        ids = gather(sel, key[-1])
        group = [marks[i] for i in members]
        if key[0] == "kgw":
            _kgw_group_(logits, rows[sel], row_t, ids, group, backend)
        else:
            _sampling_group_(logits, row_t, ids, group, sel, warp, rand, backend)
    return logits


def _kgw_group_(logits, rows, row_t, ids, group, backend) -> None:
    """One pass over the whole batch in place, the group's rows enabled (no row copies)."""
    s0 = group[0].scheme
    batch = logits.shape[0]
    params = [wm.scheme.row_params for wm in group]
    keys = np.zeros((batch, 4), dtype=np.uint32)
    thresholds = np.ones(batch, dtype=np.uint32)  # any valid value: those rows are disabled
    deltas = np.zeros(batch, dtype=np.float32)
    enabled = np.zeros(batch, dtype=np.uint8)
    keys[rows] = np.concatenate([p[0] for p in params])
    thresholds[rows] = np.concatenate([p[1] for p in params])
    deltas[rows] = np.concatenate([p[2] for p in params])
    enabled[rows] = 1
    full_ids = torch.zeros((batch, ids.shape[1]), dtype=ids.dtype, device=ids.device)
    full_ids[row_t] = ids
    ops.apply_kgw_bias_(
        logits,
        full_ids,
        keys=to_device(keys, logits.device),
        thresholds=to_device(thresholds, logits.device),
        deltas=to_device(deltas, logits.device),
        context_width=s0.context_width,
        seeding=s0.seeding_code,
        enabled=to_device(enabled, logits.device),
        backend=backend,
    )


def _sampling_group_(logits, row_t, ids, group, sel, warp, rand, backend) -> None:
    sub = logits.index_select(0, row_t)
    warped = sub if warp is None else warp(sub.clone(), sel)  # the ops do not modify logits
    try:
        tokens = _choose(warped, ids, group, sel, rand, logits.device, backend)
    except ValueError:
        # The host ops refuse a row without a finite logit (after the engine's masks): leave
        # such rows to the engine and serve the others. (The CUDA kernels mark them -2.)
        if warped.is_cuda:
            raise
        ok = torch.isfinite(warped).any(dim=1).numpy()
        if ok.all():
            raise
        keep = np.flatnonzero(ok)
        if keep.size:
            _sampling_group_(
                logits, row_t[keep], ids[keep], [group[i] for i in keep.tolist()], sel[keep],
                warp, rand, backend,
            )  # fmt: skip
        return
    if isinstance(tokens, np.ndarray):  # host: write the chosen rows only
        chosen = np.flatnonzero(tokens >= 0)
        if chosen.size:
            r = row_t[torch.from_numpy(chosen)]
            logits[r] = -float("inf")
            logits[r, torch.from_numpy(tokens[chosen])] = 0.0
        return
    tokens = _as_device_tokens(tokens, logits.device)  # CUDA: no host sync
    chosen = tokens >= 0
    one_hot = torch.full_like(sub, -float("inf"))
    one_hot.scatter_(1, tokens.clamp(min=0).unsqueeze(1), 0.0)
    logits.index_copy_(0, row_t, torch.where(chosen.unsqueeze(1), one_hot, sub))


def _choose(warped, ids, group, sel, rand, device, backend):
    """The token of each row (-1: not watermarked; CUDA: -2, no finite logit)."""
    s0 = group[0].scheme
    keys = to_device(np.concatenate([wm.scheme.key.words.reshape(1, 4) for wm in group]), device)
    if isinstance(s0, Gumbel):
        salts = np.array([dict(wm.options).get("salt") or 0 for wm in group], dtype=np.uint32)
        salts = to_device(salts, device)
        return ops.sample_gumbel(
            warped,
            ids,
            keys=keys,
            salts=salts,
            context_width=s0.context_width,
            seeding=s0.seeding_code,
            skip_repeated=s0.skip_repeated,
            backend=backend,
        )
    tokens, _ = ops.sample_synthid(
        warped,
        ids,
        keys=keys,
        uniforms=rand(sel, device),
        context_width=s0.context_width,
        seeding=s0.seeding_code,
        layers=s0.layers,
        top_k=s0.top_k,
        context_history=s0.context_history,
        backend=backend,
    )
    return tokens
