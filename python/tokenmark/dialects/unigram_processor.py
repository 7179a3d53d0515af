"""Unigram-Watermark's ``GPTWatermarkLogitsWarper`` as a transformers processor."""

from __future__ import annotations

import torch
from transformers import LogitsProcessor

from .unigram import Unigram


class UnigramProcessor(LogitsProcessor):
    """``scores + strength * green_mask`` (the logits must be ``vocab_size`` wide, as theirs)."""

    def __init__(self, scheme: Unigram):
        self.bias = scheme.strength * torch.from_numpy(scheme.green_mask).to(torch.float32)

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor):
        if scores.shape[-1] != self.bias.shape[0]:
            raise ValueError(
                f"scores: expected {self.bias.shape[0]} logits per row (vocab_size), "
                f"got {scores.shape[-1]}"
            )
        return scores + self.bias.to(scores.device)
