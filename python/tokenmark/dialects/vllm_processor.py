"""Generate text that vLLM's detector recognises: vLLM's Gumbel choice (``GumbelWatermarker.
_sample_watermarked`` in vLLM 0.33.0) as a transformers ``LogitsProcessor``.

Per row and step: the context is the last ``context_width`` generated tokens, ``-1`` reaching into
the prompt; a context already used in this generation is sampled plainly (vLLM's default
``deduplicate_contexts="single_turn"``, unbounded history); otherwise the token is
``argmax(logits + -log(-log(max(u, tiny))))`` over the vocabulary, in float32 with torch's
operations as vLLM's CPU path computes it. Dual key: key A with probability ``1 - alpha``,
else key B, drawn from this processor's own generator (vLLM draws it from its sampler's).
"""

from __future__ import annotations

import numpy as np
import torch
from transformers import LogitsProcessor

from .._validate import check_int
from ..integrations.transformers import host_step
from .vllm import VLLMWatermark, philox_uniform


def refuse_bad_rows(logits: torch.Tensor, name: str, rows=None) -> None:
    """A ValueError naming the first row of ``logits`` with a NaN or without an entry above
    -inf (``rows``: the row numbers of the caller's argument, when ``logits`` holds some)."""
    nan = torch.isnan(logits).any(dim=-1)
    bad = nan | ~(logits > -torch.inf).any(dim=-1)
    if bool(bad.any()):
        i = int(torch.nonzero(bad)[0, 0])
        what = "has a NaN entry" if nan[i] else "has no finite entry to sample"
        raise ValueError(f"{name}: row {i if rows is None else rows[i]} {what}")


def vllm_gumbel_choice(key: int, logits: torch.Tensor, contexts: np.ndarray) -> torch.Tensor:
    """vLLM's watermarked token per row of ``logits [batch, vocab]`` under ``contexts [batch,
    width]`` (int64, -1 for prompt positions), computed as its CPU path does. A row with a NaN
    or without an entry above -inf is refused (ValueError), never given a token."""
    if not isinstance(logits, torch.Tensor):
        raise TypeError(f"logits: expected a torch tensor, got {type(logits).__name__}")
    if logits.dim() != 2:
        raise ValueError(f"logits: expected [batch, vocab], got shape {tuple(logits.shape)}")
    contexts = np.asarray(contexts)
    if contexts.ndim != 2 or contexts.shape[0] != logits.shape[0]:
        raise ValueError(
            f"contexts: expected [{logits.shape[0]}, width], got shape {contexts.shape}"
        )
    refuse_bad_rows(logits, "logits")
    return _choice(key, logits, contexts)


def _choice(key: int, logits: torch.Tensor, contexts: np.ndarray) -> torch.Tensor:
    batch, vocab = logits.shape
    ids = np.arange(vocab, dtype=np.int64)
    u = np.stack([philox_uniform(key, np.repeat(c[None, :], vocab, 0), ids) for c in contexts])
    uniforms = torch.from_numpy(u).to(logits.device).clamp_min(torch.finfo(torch.float32).tiny)
    noise = -torch.log(-torch.log(uniforms))
    return torch.argmax(logits + noise, dim=-1)


class VLLMGumbelProcessor(LogitsProcessor):
    """Puts all mass on vLLM's watermarked choice (a one-hot row), or leaves a row alone when its
    context repeats. Place it last, after temperature and other warpers, as vLLM samples after
    them; one processor per ``generate`` call (it remembers the prompt length and contexts, and
    refuses a batch of another size or ids shorter than that prompt)."""

    def __init__(self, scheme: VLLMWatermark, seed: int = 0):
        self.scheme = scheme
        self.keys = scheme.prf_keys
        # numpy's SeedSequence takes any int >= 0; its pool holds 128 bits
        self.gen = np.random.default_rng(check_int(seed, "seed", 0, 2**128 - 1))
        self.prompt_len: int | None = None
        self.seen: list[set] = []

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor):
        ids = host_step(input_ids, scores)
        batch, length = ids.shape
        if self.prompt_len is None:
            self.prompt_len, self.seen = length, [set() for _ in range(batch)]
        elif batch != len(self.seen):
            raise ValueError(
                f"input_ids: expected {len(self.seen)} rows, as at this processor's first call, "
                f"got {batch} (use one processor per generate call)"
            )
        elif length < self.prompt_len:
            raise ValueError(
                f"input_ids: expected at least the {self.prompt_len} ids of the first call's "
                f"prompt per row, got {length} (use one processor per generate call)"
            )
        w = self.scheme.context_width
        gen = ids[:, self.prompt_len :]
        pad = np.full((batch, w), -1, dtype=np.int64)
        contexts = np.concatenate([pad, gen], axis=1)[:, -w:] if w else pad
        rows = [b for b in range(batch) if tuple(contexts[b]) not in self.seen[b]]
        if not rows:
            return scores
        logits = scores[rows].float()
        refuse_bad_rows(logits, "scores", rows)  # before the contexts count as used
        for b in rows:
            self.seen[b].add(tuple(contexts[b]))
        key_b = self.gen.random(len(rows)) < self.scheme.alpha if len(self.keys) == 2 else None
        choice = _choice(self.keys[0], logits, contexts[rows])
        if key_b is not None and key_b.any():
            other = _choice(self.keys[1], logits, contexts[rows])
            choice = torch.where(torch.from_numpy(key_b).to(choice.device), other, choice)
        out = scores.clone()
        idx = torch.tensor(rows, device=scores.device)
        out[idx] = torch.finfo(scores.dtype).min
        out[idx, choice] = 0.0
        return out
