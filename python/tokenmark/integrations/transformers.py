"""A transformers ``LogitsProcessor`` that applies a tokenmark watermark inside ``generate``."""

from __future__ import annotations

import numpy as np
import torch
from transformers import LogitsProcessor

from .. import ops


class KGWLogitsProcessor(LogitsProcessor):
    """Adds the KGW bias to the green tokens of every row, in one fused pass over the logits.

    Works with sampling, greedy and beam search, batches and left padding (each row's context is
    its last ``context_width`` ids; padding only ever sits on the left), and logits wider than the
    tokenizer's vocabulary (green membership needs no vocabulary size). On a CUDA device the
    per-row parameters live in device tensors made on the first call: later calls do no host
    sync and no allocation, so the step can be captured in a CUDA graph.

    >>> import tokenmark as tm
    >>> proc = tm.KGW(key=b"k").logits_processor()
    >>> # model.generate(**inputs, do_sample=True, logits_processor=[proc])
    """

    def __init__(self, scheme, backend: str = "auto"):
        self.scheme = scheme
        self.backend = backend
        self._params: dict[torch.device, tuple[torch.Tensor, ...]] = {}

    def _device_params(self, device: torch.device):
        params = self._params.get(device)
        if params is None:
            keys, thr, deltas = self.scheme.row_params
            params = tuple(
                torch.from_numpy(a.view(np.int32) if a.dtype == np.uint32 else a).to(device)
                for a in (keys, thr, deltas)
            )
            self._params[device] = params
        return params

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor) -> torch.FloatTensor:
        if scores.stride(-1) != 1:
            scores = scores.contiguous()
        s = self.scheme
        if scores.is_cuda:
            keys, thr, deltas = self._device_params(scores.device)
        else:
            keys, thr, deltas = s.row_params
        ops.apply_kgw_bias_(
            scores,
            input_ids,
            keys=keys,
            thresholds=thr,
            deltas=deltas,
            width=s.context_width,
            seeding=s.seeding_code,
            backend=self.backend,
        )
        return scores

    def __repr__(self) -> str:
        return f"KGWLogitsProcessor({self.scheme!r}, backend={self.backend!r})"
