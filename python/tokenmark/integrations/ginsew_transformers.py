"""The transformers ``LogitsProcessor`` of the GINSEW model watermark."""

from __future__ import annotations

import torch
from transformers import LogitsProcessor

from .. import ops
from .._validate import check_int
from ..reference.ginsew import fraction_thresholds
from .transformers import _OnDevice, check_tensors


class GINSEWLogitsProcessor(LogitsProcessor):
    """Replaces the scores by the GINSEW-watermarked teacher's log-probabilities, in one fused
    pass over each row (two reads, one write).

    Use it to sample from the watermarked teacher (``generate``) or to make distillation targets.
    Later warpers (temperature, top-k, top-p) act on the log-probabilities as on logits. Batches
    and left padding work: with ``t_source="context"`` each row's time comes from its last
    ``context_width`` ids; with ``t_source="prompt_position"`` the id at ``prompt_position`` is
    counted from each row's first id that is not ``pad_token_id`` (pass the tokenizer's pad id
    for left-padded batches; without it the rows are read as unpadded, and a left-padded row
    would get another time than the same prompt alone). On a CUDA device the per-row parameters
    are copied there once, so a step does no host sync.

    >>> import tokenmark as tm
    >>> proc = tm.GINSEW(key=b"k").logits_processor()
    >>> # model.generate(**inputs, do_sample=True, logits_processor=[proc])
    """

    def __init__(self, scheme, backend: str = "auto", pad_token_id: int | None = None):
        self.scheme = scheme
        self.backend = backend
        if pad_token_id is not None:
            pad_token_id = check_int(pad_token_id, "pad_token_id", 0, 2**31 - 1)
        self.pad_token_id = pad_token_id
        key, eps, freq, frac = scheme.row_params
        self._host_thresholds = fraction_thresholds(frac)
        self._params = _OnDevice(key, eps, freq, self._host_thresholds)

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor) -> torch.FloatTensor:
        check_tensors(input_ids, scores)
        if scores.stride(-1) != 1:
            scores = scores.contiguous()
        s = self.scheme
        if scores.is_cuda:
            key, eps, freq, thr = self._params.get(scores.device)
        else:
            key, eps, freq, _ = s.row_params
            thr = self._host_thresholds
        ids, width, position, enabled = input_ids, s.context_width, s.position, None
        if position is not None and self.pad_token_id is not None and input_ids.shape[1]:
            ids, enabled = _id_after_padding(input_ids, position, self.pad_token_id)
            width, position = 1, None  # the one id as the window: the same hash, the same time
        ops.apply_ginsew_(
            scores,
            ids,
            keys=key,
            epsilon=eps,
            frequency=freq,
            context_width=width,
            fraction=s.fraction,
            enabled=enabled,
            position=position,
            thresholds=thr,
            backend=self.backend,
        )
        return scores

    def __repr__(self) -> str:
        pad = "" if self.pad_token_id is None else f", pad_token_id={self.pad_token_id}"
        return f"GINSEWLogitsProcessor({self.scheme!r}, backend={self.backend!r}{pad})"


def _id_after_padding(input_ids: torch.Tensor, position: int, pad: int):
    """``(ids [batch, 1], enabled uint8 [batch])``: each row's id at ``position`` counted from its
    first id that is not ``pad``; rows too short for it are disabled. On the ids' device."""
    length = input_ids.shape[1]
    real = input_ids != pad
    lead = torch.where(real.any(dim=1), real.to(torch.uint8).argmax(dim=1), length)
    idx = lead + position
    enabled = (idx < length).to(torch.uint8)
    return input_ids.gather(1, idx.clamp(max=length - 1)[:, None]), enabled
