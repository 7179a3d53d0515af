"""Tiny models of the demo architecture for the fingerprint and provenance tests: the demo
tokenizer and vocabulary, a Llama a few hundred times smaller, trained for seconds on the first
part of the held-out text (the rest is held out again, for perplexity)."""

from __future__ import annotations

import copy
import functools
import math

import numpy as np
import torch
from tokenmark import demo_model
from tokenmark.suspect._train import train

TINY = dict(hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4)


@functools.lru_cache(maxsize=1)
def text_ids() -> tuple[np.ndarray, np.ndarray]:
    """(training ids, held-out ids) from the demo's held-out Shakespeare, split 3:1."""
    _, tok = demo_model.load()
    ids = np.asarray(tok.encode(demo_model.heldout_text()), dtype=np.int64)
    cut = 3 * len(ids) // 4
    return ids[:cut], ids[cut:]


def tiny_model(seed: int, **overrides):
    from transformers import LlamaConfig, LlamaForCausalLM

    cfg = dict(TINY, vocab_size=4096, num_key_value_heads=TINY["num_attention_heads"])
    cfg.update(overrides)
    torch.manual_seed(seed)
    return LlamaForCausalLM(
        LlamaConfig(
            **cfg,
            max_position_embeddings=128,
            tie_word_embeddings=True,
            bos_token_id=0,
            eos_token_id=0,
            pad_token_id=0,
        )
    ).eval()


def windows(ids: np.ndarray, n: int, length: int, seed: int) -> list[dict]:
    starts = np.random.default_rng(seed).integers(0, len(ids) - length, n)
    return [
        {"input_ids": ids[s : s + length].tolist(), "labels": ids[s : s + length].tolist()}
        for s in starts
    ]


def trained_tiny(seed: int, steps: int = 40):
    """A tiny LM trained from ``seed`` (init and batch order) on the training ids; a fresh copy
    of a cached model (test modules share them)."""
    return copy.deepcopy(_trained_tiny(seed, steps))


@functools.cache
def _trained_tiny(seed: int, steps: int):
    torch.set_num_threads(1)
    m = tiny_model(seed)
    train(m, windows(text_ids()[0], 256, 32, seed), steps=steps, lr=1e-2, batch_size=8, seed=seed)
    return m


@torch.no_grad()
def window_nll(model, ids: np.ndarray, length: int = 64) -> np.ndarray:
    """Mean next-token loss of each non-overlapping window (for paired comparisons)."""
    n = (len(ids) - 1) // length
    x = torch.as_tensor(np.stack([ids[i * length : (i + 1) * length] for i in range(n)]))
    logits = model(input_ids=x).logits.float()
    loss = torch.nn.functional.cross_entropy(
        logits[:, :-1].reshape(-1, logits.shape[-1]), x[:, 1:].reshape(-1), reduction="none"
    )
    return loss.reshape(n, -1).mean(dim=1).numpy()


def perplexity(model, ids: np.ndarray) -> float:
    return math.exp(float(window_nll(model, ids).mean()))
