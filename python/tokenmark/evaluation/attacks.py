"""Token-level attacks on a watermarked sequence. Each takes a 1-D token array and a seeded
``numpy.random.Generator`` and returns a new array; the input is never modified.

The edit rate ``rate`` is per token of the input: substitution replaces ``round(rate * n)``
distinct positions, insertion adds that many tokens, deletion removes that many.

Example
-------
>>> import numpy as np
>>> rng = np.random.default_rng(0)
>>> x = np.arange(100)
>>> int((substitute(x, 0.2, 4096, rng) != x).sum()) <= 20
True
"""

from __future__ import annotations

import numpy as np


def _check(tokens, rate: float) -> np.ndarray:
    x = np.asarray(tokens)
    if x.ndim != 1:
        raise ValueError(f"tokens: expected a 1-D sequence, got shape {x.shape}")
    if not 0.0 <= rate <= 1.0:
        raise ValueError(f"rate: must be in [0, 1], got {rate}")
    return x


def _random_tokens(k: int, vocab: int, rng: np.random.Generator, avoid=None) -> np.ndarray:
    if vocab < 2:
        raise ValueError(f"vocab: need at least 2 tokens, got {vocab}")
    if avoid is None:
        return rng.integers(0, vocab, k)
    # Draw from the other vocab - 1 ids so every substitution really changes the token.
    t = rng.integers(0, vocab - 1, k)
    return t + (t >= avoid)


def substitute(tokens, rate: float, vocab: int, rng: np.random.Generator, sampler=None):
    """Replace ``round(rate * n)`` distinct positions by other tokens.

    ``sampler(positions) -> tokens`` chooses the replacements (e.g. a language model's samples,
    a crude paraphrase); by default they are uniform over the other ``vocab - 1`` ids.
    """
    x = _check(tokens, rate)
    k = round(rate * len(x))
    pos = np.sort(rng.choice(len(x), k, replace=False))
    out = x.copy()
    out[pos] = _random_tokens(k, vocab, rng, avoid=x[pos]) if sampler is None else sampler(pos)
    return out


def insert(tokens, rate: float, vocab: int, rng: np.random.Generator) -> np.ndarray:
    """Insert ``round(rate * n)`` uniformly random tokens at random positions."""
    x = _check(tokens, rate)
    k = round(rate * len(x))
    # Each new token goes before input position pos (len(x): at the end); np.insert keeps order.
    pos = np.sort(rng.integers(0, len(x) + 1, k))
    return np.insert(x, pos, _random_tokens(k, vocab, rng)).astype(x.dtype)


def delete(tokens, rate: float, rng: np.random.Generator) -> np.ndarray:
    """Delete ``round(rate * n)`` distinct random positions."""
    x = _check(tokens, rate)
    k = round(rate * len(x))
    keep = np.ones(len(x), dtype=bool)
    keep[rng.choice(len(x), k, replace=False)] = False
    return x[keep]


def crop(tokens, length: int, rng: np.random.Generator) -> np.ndarray:
    """A random contiguous piece of ``length`` tokens (the whole input if it is shorter)."""
    x = _check(tokens, 0.0)
    if length < 0:
        raise ValueError(f"length: must be >= 0, got {length}")
    if length >= len(x):
        return x.copy()
    s = int(rng.integers(0, len(x) - length + 1))
    return x[s : s + length].copy()


def copy_paste(span, host, rng: np.random.Generator) -> tuple[np.ndarray, int]:
    """Paste ``span`` (watermarked) into ``host`` (human text) at a random token position.

    Returns the mixed sequence and the position where the span starts.
    """
    s, h = _check(span, 0.0), _check(host, 0.0)
    at = int(rng.integers(0, len(h) + 1))
    return np.concatenate([h[:at], s, h[at:]]).astype(h.dtype), at
