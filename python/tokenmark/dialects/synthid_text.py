"""SynthID-Text as transformers (``SynthIDTextWatermarkLogitsProcessor``,
``SynthIDTextWatermarkingConfig``) and Google DeepMind's ``synthid-text`` 0.2.1 make it:
g-values bit-exact, their masks, their mean and weighted-mean scores, and an exact p-value.

Their rule (int64 arithmetic wrapping, as torch's):

- ``accumulate(h, x) = (h + x) * 6364136223846793005 + 1``; a position ``j >= ngram_len - 1``
  hashes its context ``x[j-n+1..j-1]`` from ``h = 1``, then its token ``x[j]``, then, one per
  layer ``l``, the key ``keys[l]``: ``g[j, l] = table[h_l mod table_size]`` (floor modulo).
- ``table = torch.randint(0, 2, (sampling_table_size,))`` after ``manual_seed(sampling_table_seed)``
  on the generation device: on the CPU, MT19937's words mod 2.
- context repetition mask: a position whose context hash equals one of the previous
  ``context_history_size`` contexts' hashes is masked (their history starts as zeros, so a hash
  of 0 counts as seen until the history fills; kept, for exactness).
- EOS mask: positions from a sequence's first ``eos_token_id`` on are masked.
- ``mean = sum(g * mask) / (depth * sum(mask))``; ``weighted_mean`` the same with weights
  ``linspace(10, 1, depth)`` normalised to sum to ``depth``.

We add ``p_value = P[Binomial(n * depth, q) >= ones]``, ``q`` the table's exact fraction of ones
(the probability of a 1 when the hash lands uniformly in the table), valid when the text was
written without these keys and its counted positions are distinct n-grams (the repetition mask
removes repeats within ``context_history_size``; pass ``dedup=True`` to remove all). A table below
2^16 entries ties a position's layers together (:mod:`._synthid_text_null`): the p-value is then
the exact tail of its per-position null, and the weighted z uses that null's variance.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .. import ops
from .._inputs import split_docs
from .._validate import check_bool, check_int, check_prefix, check_weights
from ..ops._common import resolve_host
from ..reference.synthid_text import accumulate
from ..reference.torch_mt import mt19937_words
from ._config import config_dict
from ._dedup import first_occurrence
from ._green_lists import DEVICES
from ._host import device_batch, host_batch, host_ragged
from ._synthid_text_null import position_null
from ._synthid_text_result import SynthIDTextResult, scores, weight_terms

_CONFIG_FIELDS = (
    "ngram_len", "keys", "context_history_size", "sampling_table_seed", "sampling_table_size",
    "skip_first_ngram_calls", "debug_mode",
)  # fmt: skip


_accumulate = accumulate


@dataclass(frozen=True, repr=False)
class SynthIDText:
    """SynthID-Text as transformers' ``SynthIDTextWatermarkingConfig`` configures it.

    Parameters
    ----------
    keys : one int per layer (their ``keys``; the depth is ``len(keys)``). Secret.
    ngram_len : context length + 1.
    context_history_size, sampling_table_seed, sampling_table_size : as theirs.
    device : ``"cpu"`` or ``"cuda"``: where the sampling table was drawn (theirs: the model's
        device). A CUDA table differs and needs a GPU here.
    eos_token_id : positions from the first EOS on are masked (None: no EOS mask).

    Example
    -------
    >>> import tokenmark as tm
    >>> wm = tm.dialects.synthid_text(keys=[654, 400, 836, 123, 340], ngram_len=5)
    >>> res = wm.detect([[5, 17, 3, 99, 42, 7, 7, 1000]])
    >>> int(res.n_scored[0])
    4
    """

    keys: tuple[int, ...] = field(default=())
    ngram_len: int = 5
    context_history_size: int = 1024
    sampling_table_seed: int = 0
    sampling_table_size: int = 2**16
    device: str = "cpu"
    eos_token_id: int | None = None
    skip_first_ngram_calls: bool = False

    def __post_init__(self):
        def put(name, value):
            object.__setattr__(self, name, value)

        keys = self.keys
        if isinstance(keys, (str, bytes)) or not isinstance(keys, (Sequence, np.ndarray)):
            raise TypeError("keys: expected a sequence of ints, one per layer")
        keys = tuple(keys)
        if not 1 <= len(keys) <= 1024:
            raise ValueError(f"keys: expected 1 to 1024 keys (one per layer), got {len(keys)}")
        for k in keys:
            if isinstance(k, bool) or not isinstance(k, (int, np.integer)):
                raise TypeError("keys: every key must be an int")
            if not -(2**63) <= int(k) < 2**63:
                raise ValueError("keys: every key must fit in int64")
        put("keys", tuple(int(k) for k in keys))
        for name, lo, hi in (
            ("ngram_len", 1, 1024), ("context_history_size", 1, 2**31 - 1),
            ("sampling_table_size", 1, 2**24), ("sampling_table_seed", 0, 2**64 - 1),
        ):  # fmt: skip
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, (int, np.integer)):
                raise TypeError(f"{name}: must be an int")
            if not lo <= int(v) <= hi:
                raise ValueError(f"{name}: must be in [{lo}, {hi}], got {v}")
            put(name, int(v))
        if self.device not in DEVICES:
            raise ValueError(f"device: expected one of {DEVICES}, got {self.device!r}")
        if self.eos_token_id is not None:  # -1 as theirs: no EOS mask
            put("eos_token_id", check_int(self.eos_token_id, "eos_token_id", -1, 2**31 - 1))
        skip = check_bool(self.skip_first_ngram_calls, "skip_first_ngram_calls")
        put("skip_first_ngram_calls", skip)

    def __repr__(self) -> str:
        shown = ", ".join(
            f"{k}={getattr(self, k)!r}"
            for k in ("ngram_len", "context_history_size", "sampling_table_seed",
                      "sampling_table_size", "device", "eos_token_id")
        )  # fmt: skip
        return f"SynthIDText(keys=<secret: {len(self.keys)} layers>, {shown})"

    __str__ = __repr__

    @property
    def depth(self) -> int:
        return len(self.keys)

    # -- configs --------------------------------------------------------------------------
    @classmethod
    def from_config(cls, config, *, device: str = "cpu", eos_token_id: int | None = None):
        """From transformers' ``SynthIDTextWatermarkingConfig`` (or its ``to_dict()``).

        >>> from transformers import SynthIDTextWatermarkingConfig
        >>> cfg = SynthIDTextWatermarkingConfig(keys=[1, 2, 3], ngram_len=4)
        >>> SynthIDText.from_config(cfg, eos_token_id=2).depth
        3
        """
        d = dict(config_dict(config, "a SynthIDTextWatermarkingConfig"))
        d.pop("watermarking_type", None)
        unknown = set(d) - set(_CONFIG_FIELDS)
        if unknown:
            raise ValueError(
                f"config: not a SynthIDTextWatermarkingConfig (unknown {sorted(unknown)})"
            )
        if d.get("keys") is None:
            raise ValueError("config: has no keys")
        if d.pop("debug_mode", False):
            raise ValueError("config: debug_mode text is not watermarked (their test mode)")
        return cls(device=device, eos_token_id=eos_token_id, **d)

    def to_config_dict(self, include_key: bool = False) -> dict[str, Any]:
        """Their ``SynthIDTextWatermarkingConfig`` fields; ``keys`` only with ``include_key``."""
        d = {k: getattr(self, k) for k in _CONFIG_FIELDS if k != "debug_mode"}
        d["keys"] = list(self.keys)
        if not include_key:
            del d["keys"]
        return d

    # -- derived --------------------------------------------------------------------------
    @functools.cached_property
    def sampling_table(self) -> np.ndarray:
        """Their ``torch.randint(0, 2, (size,))`` table, as uint8 (CUDA: drawn on the GPU)."""
        if self.device == "cuda":
            from ._green_lists import _require_cuda

            torch = _require_cuda()
            g = torch.Generator(device="cuda").manual_seed(self.sampling_table_seed)
            t = torch.randint(0, 2, (self.sampling_table_size,), generator=g, device="cuda")
            table = t.cpu().numpy().astype(np.uint8)
        else:
            words = mt19937_words(self.sampling_table_seed, self.sampling_table_size)
            table = (words % 2).astype(np.uint8)
        table.flags.writeable = False  # cached, and layer_bits were made from it
        return table

    @functools.cached_property  # built once per scheme: the C++ detector's layer bits
    def layer_bits(self):
        """:func:`tokenmark.ops.synthid_text_layer_bits` of this scheme's keys and table (built
        on first use: about 0.3 ms and 256 KiB for their table; shows no key)."""
        return ops.synthid_text_layer_bits(self._key_words, self.sampling_table)

    @functools.cached_property  # a mean over the whole table: once, not per detect call
    def q(self) -> float:
        """The table's fraction of ones: P[g = 1] for a hash landing uniformly in it."""
        return float(self.sampling_table.mean())

    def context_hashes(self, tokens: np.ndarray, positions: np.ndarray) -> np.ndarray:
        """Their ``hash_result_with_just_context`` of the context before each position."""
        h = np.ones(len(positions), dtype=np.uint64)
        for i in range(self.ngram_len - 1, 0, -1):
            h = _accumulate(h, tokens[positions - i])
        return h

    def g_values(
        self, tokens: np.ndarray, positions: np.ndarray, backend: str = "auto"
    ) -> np.ndarray:
        """uint8 ``[len(positions), depth]``: their g-values of the n-grams ending there
        (``backend``: ``"auto"``, ``"cpu"`` for C++, ``"reference"`` for numpy)."""
        if backend not in ("auto", "cpu", "reference"):
            raise ValueError(f"backend: expected auto, cpu or reference, got {backend!r}")
        h = _accumulate(self.context_hashes(tokens, positions), tokens[positions])
        return ops.synthid_text_g_values(
            h, keys=self._key_words, table=self.sampling_table, backend=backend
        )

    # -- generation -----------------------------------------------------------------------
    def logits_processor(self):
        """transformers' own ``SynthIDTextWatermarkLogitsProcessor`` with this config."""
        from transformers.generation.logits_process import SynthIDTextWatermarkLogitsProcessor

        d = self.to_config_dict(include_key=True)
        return SynthIDTextWatermarkLogitsProcessor(device=self.device, **d)

    # -- detection ------------------------------------------------------------------------
    def detect(
        self,
        sequences,
        *,
        prefix_lengths=None,
        eos_token_id: int | None = None,
        mask_repeated_contexts: bool = True,
        dedup: bool = False,
        weights=None,
        return_g_values: bool = False,
        backend: str = "auto",
    ) -> SynthIDTextResult:
        """Score token id sequences as their mean / weighted-mean detectors do, in one batch.

        Parameters
        ----------
        sequences : list of token id sequences, a 2-D array/tensor, or a :class:`Ragged`.
        prefix_lengths : per document, leading tokens that are context only (the prompt);
            their repetition history still runs over them, as theirs does over the whole input.
        eos_token_id : override the config's EOS mask (-1: none).
        mask_repeated_contexts : their context repetition mask (on by default, as theirs).
        dedup : also drop every repeat of an n-gram (for p-values on repetitive text).
        weights : layer weights of the weighted mean (default theirs: ``linspace(10, 1, depth)``).
        return_g_values : also return per-document g-values and masks.
        backend : ``"auto"`` (CUDA input is counted on its device where tokenmark has its CUDA
            kernels, but for ``dedup`` and ``return_g_values``), ``"cpu"`` (C++), ``"cuda"``
            (CUDA tensors, neither ``dedup`` nor ``return_g_values``) or ``"reference"`` (numpy).
        """
        eos = self.eos_token_id
        if eos_token_id is not None:  # -1: no EOS mask, whatever the config's
            eos = check_int(eos_token_id, "eos_token_id", -1, 2**31 - 1)
        mask_repeated = check_bool(mask_repeated_contexts, "mask_repeated_contexts")
        dedup = check_bool(dedup, "dedup")
        return_g_values = check_bool(return_g_values, "return_g_values")
        if weights is None:
            terms = self._default_weight_terms
        else:
            terms = weight_terms(check_weights(weights, self.depth))
        if dedup or return_g_values:  # the composed path: it has every n-gram's g-values
            if backend == "cuda":
                raise ValueError(
                    "backend: 'cuda' runs the fused counts only; dedup and return_g_values run "
                    "on the host (backend 'auto' or 'cpu')"
                )
            tokens, offsets = host_ragged(sequences)
            prefix = check_prefix(prefix_lengths, len(offsets) - 1)
            n_scored, ones, extra = self._counts(
                tokens, offsets, prefix, eos, mask_repeated, dedup, return_g_values, backend,
            )  # fmt: skip
        else:  # the fused detector (C++, CUDA or the numpy spec)
            if backend not in ("auto", "cpu", "cuda", "reference"):
                raise ValueError(f"backend: expected auto, cpu, cuda or reference, got {backend!r}")
            eos_id = -1 if eos is None else eos
            rag = device_batch(sequences, backend)
            if rag is not None:  # on the device
                n_scored, ones, _ = ops.score_synthid_text(
                    rag.tokens, rag.offsets, keys=self._key_words, table=self.sampling_table,
                    ngram_len=self.ngram_len, context_history_size=self.context_history_size,
                    mask_repeated_contexts=mask_repeated, eos_token_id=eos_id,
                    prefix_lengths=check_prefix(prefix_lengths, len(rag)), backend="cuda",
                )  # fmt: skip
                n_scored, ones = n_scored.cpu().numpy(), ones.cpu().numpy()
            else:  # its arguments checked here once
                tokens, offsets, prefix = host_batch(sequences, prefix_lengths)
                name, fn = resolve_host("score_synthid_text", backend)
                n_scored, ones, _ = fn(
                    tokens, offsets, prefix, self.ngram_len, self._key_words,
                    self.sampling_table, self.context_history_size, mask_repeated, eos_id, False,
                    self.layer_bits if name == "cpu" else None,
                )  # fmt: skip
            extra = {}
        return scores(n_scored, ones, terms, self.q, extra, self.position_null)

    @functools.cached_property  # once per scheme: enumerates the table's shared residues
    def position_null(self):
        """The exact per-position null where the table ties a position's layers (tables under
        2^16 entries: :mod:`._synthid_text_null`), else None (the binomial holds)."""
        return position_null(self._key_words, self.sampling_table)

    @functools.cached_property  # once per scheme, read-only: the kernel takes it as is
    def _key_words(self) -> np.ndarray:
        words = np.array([k % 2**64 for k in self.keys], dtype=np.uint64)
        words.flags.writeable = False
        return words

    @functools.cached_property
    def _default_weight_terms(self) -> tuple[np.ndarray, float]:
        """:func:`weight_terms` of their weights, ``linspace(10, 1, depth)``."""
        wn, wsq = weight_terms(np.linspace(10.0, 1.0, self.depth))
        wn.flags.writeable = False
        return wn, wsq

    def _counts(self, tokens, offsets, prefix, eos, mask_repeated, dedup, return_g_values,
                backend):  # fmt: skip
        """``(n_scored, ones, extra)`` composed from every n-gram's g-values (numpy)."""
        n_docs, depth, n = len(offsets) - 1, self.depth, self.ngram_len
        lengths = np.diff(offsets)
        starts = offsets[:-1]
        doc = np.repeat(np.arange(n_docs), lengths)
        pos = np.arange(len(tokens))
        rel = pos - starts[doc] if len(tokens) else pos
        at = rel >= n - 1  # every n-gram, as their unfold
        p, pdoc = pos[at], doc[at]
        g = self.g_values(tokens, p, backend)
        mask = np.ones(len(p), dtype=bool)
        if mask_repeated and len(p):
            mask &= ~self._repeated(self.context_hashes(tokens, p), pdoc, rel[at])
        if eos is not None and len(tokens):
            first = lengths.copy()
            hit = tokens == eos
            np.minimum.at(first, doc[hit], rel[hit])
            mask &= rel[at] < first[pdoc]
        if prefix is not None:
            mask &= rel[at] >= prefix[pdoc]
        if dedup and len(p):
            grams = tokens[p[:, None] + np.arange(-(n - 1), 1)[None, :]]
            rows = np.concatenate([pdoc[:, None], grams], axis=1)[mask]
            mask[np.flatnonzero(mask)] = first_occurrence(rows)
        n_scored = np.bincount(pdoc[mask], minlength=n_docs).astype(np.int64)
        gm, dm = g[mask], pdoc[mask]
        ones = np.zeros((n_docs, depth), dtype=np.int64)
        for layer in range(depth):
            ones[:, layer] = np.bincount(dm, weights=gm[:, layer], minlength=n_docs)
        extra: dict[str, Any] = {}
        if return_g_values:
            # The scored positions' own offsets per document.
            starts = np.searchsorted(p, offsets)
            extra["g_values"] = split_docs(g, starts)
            extra["mask"] = split_docs(mask.astype(np.uint8), starts)
        return n_scored, ones, extra

    def _repeated(self, ctx: np.ndarray, pdoc: np.ndarray, rel: np.ndarray) -> np.ndarray:
        """Their context repetition test: the same context hash among the previous
        ``context_history_size`` contexts of the document (a zero-filled history at first)."""
        hist = self.context_history_size
        order = np.lexsort((rel, ctx, pdoc))
        s_doc, s_ctx, s_rel = pdoc[order], ctx[order], rel[order]
        same = np.zeros(len(order), dtype=bool)
        same[1:] = (s_doc[1:] == s_doc[:-1]) & (s_ctx[1:] == s_ctx[:-1])
        gap = np.zeros(len(order), dtype=np.int64)
        gap[1:] = s_rel[1:] - s_rel[:-1]
        rep = np.zeros(len(order), dtype=bool)
        rep[order] = same & (gap <= hist)
        index = rel - (self.ngram_len - 1)  # how many contexts came before in the document
        return rep | ((ctx == 0) & (index < hist))


def synthid_text(
    keys: Sequence[int],
    ngram_len: int = 5,
    *,
    context_history_size: int = 1024,
    sampling_table_seed: int = 0,
    sampling_table_size: int = 2**16,
    device: str = "cpu",
    eos_token_id: int | None = None,
) -> SynthIDText:
    """SynthID-Text as transformers and ``synthid-text`` make it: see :class:`SynthIDText`."""
    return SynthIDText(
        keys=tuple(keys), ngram_len=ngram_len, context_history_size=context_history_size,
        sampling_table_seed=sampling_table_seed, sampling_table_size=sampling_table_size,
        device=device, eos_token_id=eos_token_id,
    )  # fmt: skip
