"""Unigram-Watermark (Zhao et al., 2023, "Provable Robust Watermarking for AI-Generated Text")
as its reference code makes it (github XuandongZhao/Unigram-Watermark, ``gptwm.py``).

One fixed green list: ``mask = [True] * int(fraction * vocab_size) + [False] * (rest)`` shuffled by
``np.random.default_rng(seed)``, ``seed`` the first 4 bytes (little-endian) of
``sha256(np.int64(watermark_key))``; generation adds ``strength`` to green logits; detection counts
green tokens over the whole sequence, ``z = (green - fraction * n) / sqrt(fraction (1 - fraction)
n)``. We add the exact binomial p-value at the list's true fraction ``int(fraction * V) / V``.
One list for all contexts: over random keys the p-value is exact, but for one key text that
repeats tokens (or a topic's vocabulary) moves the green rate: count each distinct token once
(``dedup=True``) to blunt that.
"""

from __future__ import annotations

import functools
import hashlib
import math
from dataclasses import dataclass

import numpy as np

from .._inputs import check_ragged_values, device_ragged, split_docs
from .._validate import check_bool, check_prefix, check_real
from ..kgw import KGWResult
from ..stats import binomial_pvalue, binomial_z
from ._dedup import first_occurrence
from ._host import host_ragged


def unigram_seed(watermark_key: int) -> int:
    """Their ``_hash_fn``: sha256 of the key as an int64's 8 bytes, first 4 bytes little-endian."""
    return int.from_bytes(hashlib.sha256(np.int64(watermark_key)).digest()[:4], "little")


@dataclass(frozen=True, repr=False)
class Unigram:
    """Unigram-Watermark's ``GPTWatermarkDetector`` / ``GPTWatermarkLogitsWarper`` config.

    Example
    -------
    >>> import tokenmark as tm
    >>> wm = tm.dialects.unigram(watermark_key=0, vocab_size=50257, fraction=0.5)
    >>> int(wm.detect([[464, 3290, 318, 257]]).n_scored[0])
    4
    """

    watermark_key: int = 0
    vocab_size: int = 50257
    fraction: float = 0.5
    strength: float = 2.0

    def __post_init__(self):
        k = self.watermark_key
        if isinstance(k, bool) or not isinstance(k, (int, np.integer)):
            raise TypeError("watermark_key: must be an int")
        if not -(2**63) <= int(k) < 2**63:
            raise ValueError("watermark_key: must fit in int64")  # no value: it is the secret
        object.__setattr__(self, "watermark_key", int(k))
        v = self.vocab_size
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or not 1 <= int(v) < 2**31:
            raise ValueError(f"vocab_size: must be an int in [1, 2^31), got {v!r}")
        object.__setattr__(self, "vocab_size", int(v))
        f = check_real(self.fraction, "fraction")
        if not math.isfinite(f) or not 0.0 < f < 1.0:
            raise ValueError(f"fraction: must be in the open interval (0, 1), got {f}")
        object.__setattr__(self, "fraction", f)
        if not 0 < self.green_size < self.vocab_size:
            raise ValueError("fraction: int(fraction * vocab_size) must be in (0, vocab_size)")
        s = check_real(self.strength, "strength")
        if not math.isfinite(s):
            raise ValueError(f"strength: must be finite, got {s}")
        object.__setattr__(self, "strength", s)

    def __repr__(self) -> str:
        return (
            f"Unigram(watermark_key=<secret>, vocab_size={self.vocab_size}, "
            f"fraction={self.fraction}, strength={self.strength})"
        )

    __str__ = __repr__

    @property
    def green_size(self) -> int:
        return int(self.fraction * self.vocab_size)

    @property
    def gamma_effective(self) -> float:
        return self.green_size / self.vocab_size

    @functools.cached_property
    def green_mask(self) -> np.ndarray:
        """Their ``green_list_mask`` as uint8 ``[vocab_size]``."""
        rng = np.random.default_rng(unigram_seed(self.watermark_key))
        mask = np.zeros(self.vocab_size, dtype=bool)  # theirs, made from a list of bools
        mask[: self.green_size] = True
        rng.shuffle(mask)  # the permutation depends on the length only: theirs
        return mask.astype(np.uint8)

    def logits_processor(self):
        """Their warper re-stated: ``strength`` added to the green logits (place it first)."""
        from .unigram_processor import UnigramProcessor

        return UnigramProcessor(self)

    def detect(
        self, sequences, *, prefix_lengths=None, dedup: bool = False, return_flags: bool = False
    ) -> KGWResult:
        """Score token id sequences as their ``GPTWatermarkDetector.detect`` does, in a batch.

        Every token is scored (their rule; ids at or past ``vocab_size``, which their detector
        cannot index, count as not green); ``prefix_lengths`` drops a prompt; ``dedup`` counts
        each distinct token once per document. ``z`` is theirs (0 where nothing is scored),
        ``p_value`` the exact binomial tail at ``gamma_effective``.
        """
        dedup = check_bool(dedup, "dedup")
        return_flags = check_bool(return_flags, "return_flags")
        rag = device_ragged(sequences)  # CUDA input: counted on its device with torch ops
        if rag is not None:
            n_scored, n_green, offsets, green, scored, counted = self._counts_torch(
                rag, prefix_lengths, dedup, return_flags
            )
        else:
            tokens, offsets = host_ragged(sequences)
            n_scored, n_green, green, scored, counted = self._counts(
                tokens, offsets, check_prefix(prefix_lengths, len(offsets) - 1), dedup
            )
        extra = {}
        if return_flags:
            # int8 before the -1: with a uint8 `green` numpy >= 2.5 refuses -1 (older ones wrap)
            g = np.where(scored, green.astype(np.int8), np.int8(-1))
            extra = {"green": split_docs(g, offsets),
                     "counted": split_docs(counted.astype(np.uint8), offsets)}  # fmt: skip
        return KGWResult(
            n_scored=n_scored,
            n_green=n_green,
            z=binomial_z(n_green, n_scored, self.fraction),
            p_value=binomial_pvalue(n_green, n_scored, self.gamma_effective),
            gamma=self.gamma_effective,
            **extra,
        )

    def _counts(self, tokens, offsets, prefix, dedup):
        """numpy: per document (n_scored, n_green), per token (green, scored, counted)."""
        n_docs = len(offsets) - 1
        lengths = np.diff(offsets)
        doc = np.repeat(np.arange(n_docs), lengths)
        pos = np.arange(len(tokens))
        start = offsets[:-1] + (0 if prefix is None else np.minimum(prefix, lengths))
        scored = pos >= start[doc] if len(tokens) else np.zeros(0, dtype=bool)
        inside = tokens < self.vocab_size
        green = np.where(inside, self.green_mask[np.where(inside, tokens, 0)], 0)
        counted = scored.copy()
        if dedup and scored.any():
            p = np.flatnonzero(scored)
            counted[p] = first_occurrence(np.stack([doc[p], tokens[p]], axis=1))
        n_scored = np.bincount(doc[counted], minlength=n_docs).astype(np.int64)
        n_green = np.bincount(doc[counted], weights=green[counted], minlength=n_docs)
        return n_scored, n_green.astype(np.int64), green, scored, counted

    def _counts_torch(self, rag, prefix_lengths, dedup, flags):
        """:meth:`_counts` with torch ops on the tokens' device: the tokens stay there, only the
        per-document counts come back, with the host offsets, and the per-token flags when
        ``flags`` (else None)."""
        import torch

        check_ragged_values(rag.tokens, rag.offsets)  # a negative id would index from the end
        tokens, offsets = rag.tokens.long(), rag.offsets
        dev, n_docs = tokens.device, len(offsets) - 1
        prefix = check_prefix(prefix_lengths, n_docs)
        lengths = offsets.diff()
        doc = torch.repeat_interleave(torch.arange(n_docs, device=dev), lengths)
        pos = torch.arange(len(tokens), device=dev)
        start = offsets[:-1]
        if prefix is not None:
            start = start + torch.minimum(torch.tensor(prefix, device=dev), lengths)
        scored = pos >= start[doc]
        inside = tokens < self.vocab_size
        mask = torch.as_tensor(self.green_mask, device=dev).bool()
        green = inside & mask[torch.where(inside, tokens, 0)]
        counted = scored.clone()
        if dedup and bool(scored.any()):
            p = torch.nonzero(scored).flatten()
            key = doc[p] * 2**31 + tokens[p]  # ids < 2^31, documents < 2^32: fits int64
            _, inverse = torch.unique(key, return_inverse=True)
            first = torch.full((int(inverse.max()) + 1,), len(tokens), device=dev)
            first = first.scatter_reduce(0, inverse, p, "amin")
            counted = torch.zeros_like(scored)
            counted[first] = True
        n_scored = torch.bincount(doc[counted], minlength=n_docs)
        n_green = torch.bincount(doc[counted & green], minlength=n_docs)
        per_token = (green, scored, counted) if flags else (None, None, None)
        host = [None if x is None else x.cpu().numpy() for x in (n_scored, n_green, offsets)]
        per_token = [None if x is None else x.cpu().numpy() for x in per_token]
        return host[0].astype(np.int64), host[1].astype(np.int64), host[2], *per_token


def unigram(
    watermark_key: int = 0, vocab_size: int = 50257, fraction: float = 0.5, strength: float = 2.0
) -> Unigram:
    """Unigram-Watermark as its reference code makes it: see :class:`Unigram`."""
    return Unigram(watermark_key, vocab_size, fraction, strength)
