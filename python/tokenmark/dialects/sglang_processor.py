"""Generate text that SGLang's detector recognises: SGLang's selector (``core.py``,
``select_watermark_tokens_torch`` and ``WatermarkState.force`` on the CPU, SGLang 0.5.23) as a
transformers ``LogitsProcessor``.

Per row and step: the context is the last ``context_width`` tokens, the prompt included; a
context whose 32-bit hash was already forced in this generation (or past 4096 of them) is
sampled plainly, as is a row whose largest probability exceeds ``max_probability``; otherwise
the token is ``argmax_t log(u_t) / p_t`` over the tokens with ``p_t > 0`` (ties: the lowest id),
``log(u)`` in float32 as SGLang computes it. ``p`` is the softmax of the scores it is given, so
put it last, after temperature and truncation. Batches with left padding put pad tokens into
early contexts (SGLang never sees them): generate one prompt per row without padding, or
prompts of one length.
"""

from __future__ import annotations

import numpy as np
import torch
from transformers import LogitsProcessor

from ..integrations.transformers import host_step
from ..ops.sglang import MAX_CONTEXTS
from ..reference.sglang import coin, context_hash, token_hash
from .sglang import SGLangWatermark

_SCALE = float(2**32)


def log_uniform(hashes: torch.Tensor) -> torch.Tensor:
    """SGLang's float32 ``log(u)`` of int64 hashes: direct below 2^31, via the complement above."""
    lower = torch.log((hashes.to(torch.float32) + 0.5) / _SCALE)
    upper = torch.log1p(-((0xFFFFFFFF - hashes).to(torch.float32) + 0.5) / _SCALE)
    return torch.where(hashes < 2**31, lower, upper)


def sglang_choice(scheme: SGLangWatermark, probs: torch.Tensor, ctx_hash: np.ndarray):
    """SGLang's watermarked token per row of ``probs [rows, vocab]`` (float32) under the context
    hashes ``ctx_hash [rows]`` (uint64)."""
    ids = np.arange(probs.shape[1], dtype=np.int64)[None, :]
    h = token_hash(scheme.key, ctx_hash[:, None], ids)
    if scheme.key_b is not None:
        use_a = coin(scheme.key, scheme.key_b, ctx_hash) < np.uint64(scheme.threshold)
        h = np.where(use_a[:, None], h, token_hash(scheme.key_b, ctx_hash[:, None], ids))
    hashed = torch.from_numpy(h.astype(np.int64)).to(probs.device)
    scores = torch.where(probs > 0, log_uniform(hashed) / probs, -torch.inf)
    return scores.argmax(dim=-1)


class SGLangProcessor(LogitsProcessor):
    """Puts all mass on SGLang's watermarked choice (a one-hot row), or leaves a row alone when
    its context was already forced or its top probability is above ``max_probability``. One
    processor per ``generate`` call (it remembers each row's contexts, and refuses a batch of
    another size)."""

    def __init__(self, scheme: SGLangWatermark):
        self.scheme = scheme
        self.history: list[set[int]] | None = None

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor):
        ids = host_step(input_ids, scores)
        batch = ids.shape[0]
        if self.history is None:
            self.history = [set() for _ in range(batch)]
        elif batch != len(self.history):
            raise ValueError(
                f"input_ids: expected {len(self.history)} rows, as at this processor's first "
                f"call, got {batch} (use one processor per generate call)"
            )
        ctx = ids[:, -self.scheme.context_width :]
        hashes = context_hash(ctx)
        probs = torch.softmax(scores.float(), dim=-1)
        top = probs.amax(dim=-1).cpu().numpy()
        rows = [
            b for b in range(batch)
            if int(hashes[b]) not in self.history[b] and len(self.history[b]) < MAX_CONTEXTS
            and top[b] <= self.scheme.max_probability
        ]  # fmt: skip
        if not rows:
            return scores
        for b in rows:
            self.history[b].add(int(hashes[b]))
        choice = sglang_choice(self.scheme, probs[rows], hashes[rows])
        out = scores.clone()
        idx = torch.tensor(rows, device=scores.device)
        out[idx] = -torch.inf
        out[idx, choice] = 0.0
        return out
