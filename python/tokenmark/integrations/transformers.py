"""A transformers ``LogitsProcessor`` that applies a tokenmark watermark inside ``generate``."""

from __future__ import annotations

import numpy as np
import torch
from transformers import LogitsProcessor

from .. import ops
from .._validate import check_salt


class _OnDevice:
    """Per-device copies of a processor's fixed host arrays, made on first use. A decode step then
    copies nothing from the host: a copy from pageable host memory waits for the GPU (a host
    sync). uint32 arrays travel as int32 with the same bits, as the CUDA wrappers take them."""

    def __init__(self, *arrays: np.ndarray):
        self._host = arrays
        self._dev: dict[torch.device, tuple[torch.Tensor, ...]] = {}

    def get(self, device: torch.device) -> tuple[torch.Tensor, ...]:
        out = self._dev.get(device)
        if out is None:
            out = tuple(
                torch.from_numpy(np.array(a.view(np.int32) if a.dtype == np.uint32 else a)).to(
                    device
                )
                for a in self._host
            )
            self._dev[device] = out
        return out


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
        self._params = _OnDevice(*scheme.row_params)

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor) -> torch.FloatTensor:
        if scores.stride(-1) != 1:
            scores = scores.contiguous()
        s = self.scheme
        if scores.is_cuda:
            keys, thr, deltas = self._params.get(scores.device)
        else:
            keys, thr, deltas = s.row_params
        ops.apply_kgw_bias_(
            scores,
            input_ids,
            keys=keys,
            thresholds=thr,
            deltas=deltas,
            context_width=s.context_width,
            seeding=s.seeding_code,
            backend=self.backend,
        )
        return scores

    def __repr__(self) -> str:
        return f"KGWLogitsProcessor({self.scheme!r}, backend={self.backend!r})"


def _one_hot_on_device(scores: torch.Tensor, tokens: torch.Tensor) -> torch.Tensor:
    """Tokens as a tensor on the logits' device: each row with a token (>= 0) becomes one-hot at
    it (0 there, -inf elsewhere); rows without one (negative) stay as they are. No host sync."""
    chosen = tokens >= 0
    one_hot = torch.full_like(scores, -float("inf"))
    one_hot.scatter_(1, tokens.clamp(min=0).unsqueeze(1), 0.0)
    return torch.where(chosen.unsqueeze(1), one_hot, scores)


class GumbelLogitsProcessor(LogitsProcessor):
    """Makes ``generate`` emit the Gumbel-max watermark's choice.

    Each watermarked row comes back with its chosen token at 0 and every other entry at -inf, so
    sampling (``do_sample=True``) and greedy decoding both pick it; rows left unwatermarked
    (repeated context, fewer than ``context_width`` ids) come back unchanged and are sampled as
    usual. The choice is made from the logits this processor receives, so it must come last:
    generate appends its own temperature / top-k / top-p warpers *after* the processors you pass,
    where they can no longer change a one-hot row. To sample at temperature 0.7 with top-k 50, pass
    ``[TemperatureLogitsWarper(0.7), TopKLogitsWarper(50), wm.logits_processor()]`` (with
    ``top_k=0`` or the defaults to ``generate``). Host and CUDA logits (CUDA: no host sync).

    >>> import tokenmark as tm
    >>> proc = tm.Gumbel(key=b"k").logits_processor()
    >>> # model.generate(**inputs, do_sample=True, logits_processor=[proc])
    """

    def __init__(self, scheme, salt=0, backend: str = "auto"):
        self.scheme = scheme
        self.salt = salt
        self.backend = backend
        self._params = _OnDevice(scheme.key.words.reshape(1, 4), check_salt(salt))

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor) -> torch.FloatTensor:
        if scores.stride(-1) != 1:
            scores = scores.contiguous()
        if scores.is_cuda:
            s = self.scheme
            keys, salts = self._params.get(scores.device)
            tokens = ops.sample_gumbel(
                scores,
                input_ids,
                keys=keys,
                salts=salts,
                context_width=s.context_width,
                seeding=s.seeding_code,
                skip_repeated=s.skip_repeated,
                backend=self.backend,
            )
            return _one_hot_on_device(scores, tokens)
        tokens = self.scheme.choose(scores, input_ids, salt=self.salt, backend=self.backend)
        if isinstance(tokens, torch.Tensor):  # backend="triton" under the interpreter
            return _one_hot_on_device(scores, tokens)
        rows = np.flatnonzero(tokens >= 0)
        if rows.size:
            r = torch.from_numpy(rows)
            scores[r] = -float("inf")
            scores[r, torch.from_numpy(tokens[rows])] = 0.0
        return scores

    def __repr__(self) -> str:
        return f"GumbelLogitsProcessor({self.scheme!r}, backend={self.backend!r})"


class SynthIDLogitsProcessor(LogitsProcessor):
    """Makes ``generate`` emit SynthID-Text's tournament sample.

    Every row comes back with the sampled token at 0 and every other entry at -inf, so
    ``do_sample=True`` and greedy decoding both emit it. The sampling draw of each row is
    ``torch.rand`` from torch's default generator, so ``torch.manual_seed`` before ``generate``
    makes generation reproducible. It samples from the logits it receives, so it must come last:
    pass your ``TemperatureLogitsWarper`` / ``TopPLogitsWarper`` before it in the list (generate
    appends its own warpers after it, where they can no longer change a one-hot row). Host and
    CUDA logits (CUDA: no host sync; the draws come from torch's CUDA generator, and a row
    without a finite logit is passed on unchanged).

    >>> import tokenmark as tm
    >>> proc = tm.SynthID(key=b"k").logits_processor()
    >>> # model.generate(**inputs, do_sample=True, logits_processor=[proc])
    """

    def __init__(self, scheme, backend: str = "auto"):
        self.scheme = scheme
        self.backend = backend
        self._keys = _OnDevice(scheme.key.words.reshape(1, 4))

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor) -> torch.FloatTensor:
        if scores.stride(-1) != 1:
            scores = scores.contiguous()
        uniforms = torch.rand(scores.shape[0], dtype=torch.float64, device=scores.device)
        if scores.is_cuda:
            s = self.scheme
            tokens, _ = ops.sample_synthid(
                scores,
                input_ids,
                keys=self._keys.get(scores.device)[0],
                uniforms=uniforms,
                context_width=s.context_width,
                seeding=s.seeding_code,
                layers=s.layers,
                top_k=s.top_k,
                context_history=s.context_history,
                backend=self.backend,
            )
            return _one_hot_on_device(scores, tokens)
        tokens = self.scheme.sample(scores, input_ids, uniforms=uniforms, backend=self.backend)
        if isinstance(tokens, torch.Tensor):  # backend="triton" under the interpreter
            return _one_hot_on_device(scores, tokens)
        scores.fill_(-float("inf"))
        scores[torch.arange(scores.shape[0]), torch.from_numpy(tokens)] = 0.0
        return scores

    def __repr__(self) -> str:
        return f"SynthIDLogitsProcessor({self.scheme!r}, backend={self.backend!r})"
