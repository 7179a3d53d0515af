"""The transformers ``LogitsProcessor`` of the GINSEW model watermark."""

from __future__ import annotations

import torch
from transformers import LogitsProcessor

from .. import ops
from ..reference.ginsew import fraction_thresholds
from .transformers import _OnDevice, check_tensors


class GINSEWLogitsProcessor(LogitsProcessor):
    """Replaces the scores by the GINSEW-watermarked teacher's log-probabilities, in one fused
    pass over each row (two reads, one write).

    Use it to sample from the watermarked teacher (``generate``) or to make distillation targets.
    Later warpers (temperature, top-k, top-p) act on the log-probabilities as on logits. Batches
    and left padding work (each row's time comes from its last ``context_width`` ids). On a CUDA
    device the per-row parameters are copied there once, so a step does no host sync.

    >>> import tokenmark as tm
    >>> proc = tm.GINSEW(key=b"k").logits_processor()
    >>> # model.generate(**inputs, do_sample=True, logits_processor=[proc])
    """

    def __init__(self, scheme, backend: str = "auto"):
        self.scheme = scheme
        self.backend = backend
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
        ops.apply_ginsew_(
            scores,
            input_ids,
            keys=key,
            epsilon=eps,
            frequency=freq,
            context_width=s.context_width,
            fraction=s.fraction,
            position=s.position,
            thresholds=thr,
            backend=self.backend,
        )
        return scores

    def __repr__(self) -> str:
        return f"GINSEWLogitsProcessor({self.scheme!r}, backend={self.backend!r})"
