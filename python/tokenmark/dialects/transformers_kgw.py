"""KGW as transformers makes it: ``WatermarkLogitsProcessor`` and ``WatermarkDetector``
(transformers 4.46 to 5.x, ``generation/logits_process.py`` and ``generation/watermarking.py``),
re-stated exactly and scored in batches.

Their rule, for a token at position ``j`` of a sequence (a leading BOS removed first):

- ``lefthash``: the green list is ``randperm(vocab_size)[:int(vocab_size * greenlist_ratio)]``
  after ``manual_seed((hashing_key * x[j-1]) mod (2^64 - 1))``: only the previous token seeds it,
  whatever ``context_width``; positions ``j >= context_width`` are scored, each with its
  ``(context_width + 1)``-gram.
- ``selfhash``: a table ``T = randperm(1_000_003)`` seeded with ``hashing_key``;
  ``a_i = T[x_i mod 1_000_003] + 1`` over the window ``x[j-w+1..j]`` (the token itself included),
  seed ``min_i(hashing_key * a_i * a_j)`` in wrapping int64 arithmetic, then ``mod (2^64 - 1)``;
  positions ``j >= context_width - 1`` are scored, each with its ``context_width``-gram.
- every scored n-gram counts (``ignore_repeated_ngrams=False``, their default) or each distinct
  n-gram once per sequence (``True``: in transformers >= 4.57 that de-duplicates; earlier releases
  hashed the n-gram tensors by identity and counted every occurrence anyway).
- their ``z = (green - ratio * n) / sqrt(n * ratio * (1 - ratio))``.

To that we add the exact one-sided binomial p-value at the green list's true fraction
``int(vocab_size * ratio) / vocab_size``. Lists on a CPU generator come from tokenmark's C++
MT19937 (``csrc/cpu/mt19937*``), cached per distinct seed; lists drawn on a CUDA generator need a
GPU and are refused without one.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .._inputs import split_docs
from .._validate import check_bool, check_optional_bool, check_real
from ..kgw import KGWResult
from ..ops._common import resolve_host
from ..stats import binomial_pvalue, binomial_z
from ._config import config_dict, model_config_getter
from ._dedup import distinct_small_ints, first_occurrence
from ._green_lists import DEVICES, GreenListCache, check_backend, randperm
from ._host import host_batch

TABLE_SIZE = 1_000_003  # transformers' selfhash table size
DEFAULT_HASHING_KEY = 15485863  # transformers' default: the millionth prime (public: change it)
SEEDING_SCHEMES = ("lefthash", "selfhash")
_MOD = 2**64 - 1  # transformers reduces seeds mod 2^64 - 1 before manual_seed
_CONFIG_FIELDS = ("greenlist_ratio", "bias", "hashing_key", "seeding_scheme", "context_width")


def _check_int(name: str, v, lo: int, hi: int) -> int:
    if isinstance(v, bool) or not isinstance(v, (int, np.integer)):
        raise TypeError(f"{name}: must be an int")
    if not lo <= int(v) <= hi:
        raise ValueError(f"{name}: must be in [{lo}, {hi}]")  # no value: it may be the key
    return int(v)


@dataclass(frozen=True, repr=False)
class TransformersKGW:
    """transformers' KGW watermark (``WatermarkingConfig``) as a tokenmark scheme.

    Parameters
    ----------
    hashing_key : int in [0, 2^63). Their key; secret (never printed), though their default
        15485863 is public.
    vocab_size : the model config's ``vocab_size`` (what their detector uses: lists are
        permutations of ``range(vocab_size)``, tokens past it are never green).
    greenlist_ratio, bias, seeding_scheme, context_width : as in ``WatermarkingConfig``.
    device : ``"cpu"`` or ``"cuda"``: the device of the generator that drew the lists when the
        text was generated (their ``WatermarkDetector(device=...)``). CUDA lists differ from CPU
        ones and need a GPU here.
    bos_token_id : a leading token equal to this is removed before scoring, as their detector
        does (the model config's ``bos_token_id``); None: nothing removed.
    ignore_repeated_ngrams : count each distinct n-gram once per sequence (their option; off by
        default, as theirs). Turn it on for p-values that hold on repetitive text.

    Example
    -------
    >>> import tokenmark as tm
    >>> wm = tm.dialects.transformers_kgw(hashing_key=15485863, vocab_size=50257)
    >>> res = wm.detect([[464, 3290, 318, 257, 922, 1110, 13]])
    >>> int(res.n_scored[0])
    6
    """

    hashing_key: int = field(default=DEFAULT_HASHING_KEY)
    vocab_size: int = 32000
    greenlist_ratio: float = 0.25
    bias: float = 2.0
    seeding_scheme: str = "lefthash"
    context_width: int = 1
    device: str = "cpu"
    bos_token_id: int | None = None
    ignore_repeated_ngrams: bool = False

    def __post_init__(self):
        def put(name, value):
            object.__setattr__(self, name, value)

        put("hashing_key", _check_int("hashing_key", self.hashing_key, 0, 2**63 - 1))
        put("vocab_size", _check_int("vocab_size", self.vocab_size, 1, 2**31 - 1))
        r = check_real(self.greenlist_ratio, "greenlist_ratio")
        if not math.isfinite(r) or not 0.0 < r < 1.0:
            raise ValueError(f"greenlist_ratio: must be in the open interval (0, 1), got {r}")
        put("greenlist_ratio", r)
        if self.green_size < 1:
            raise ValueError("greenlist_ratio: int(vocab_size * greenlist_ratio) is 0")
        b = check_real(self.bias, "bias")
        if not math.isfinite(b):
            raise ValueError(f"bias: must be finite, got {b}")
        put("bias", b)
        if self.seeding_scheme not in SEEDING_SCHEMES:
            raise ValueError(
                f"seeding_scheme: expected one of {SEEDING_SCHEMES}, got {self.seeding_scheme!r}"
            )
        put("context_width", _check_int("context_width", self.context_width, 1, 1024))
        if self.device not in DEVICES:
            raise ValueError(f"device: expected one of {DEVICES}, got {self.device!r}")
        if self.bos_token_id is not None:
            put("bos_token_id", _check_int("bos_token_id", self.bos_token_id, 0, 2**31 - 1))
        ignore = check_bool(self.ignore_repeated_ngrams, "ignore_repeated_ngrams")
        put("ignore_repeated_ngrams", ignore)

    def __repr__(self) -> str:
        shown = ", ".join(
            f"{k}={getattr(self, k)!r}"
            for k in ("vocab_size", "greenlist_ratio", "bias", "seeding_scheme", "context_width",
                      "device", "bos_token_id", "ignore_repeated_ngrams")
        )  # fmt: skip
        return f"TransformersKGW(hashing_key=<secret>, {shown})"

    __str__ = __repr__

    # -- configs --------------------------------------------------------------------------
    @classmethod
    def from_config(
        cls,
        config,
        *,
        model_config=None,
        vocab_size: int | None = None,
        device: str = "cpu",
        bos_token_id: int | None = None,
        ignore_repeated_ngrams: bool = False,
    ) -> TransformersKGW:
        """From transformers' ``WatermarkingConfig`` (or its ``to_dict()``), with the vocabulary
        size and BOS id from ``model_config`` (a ``PretrainedConfig``) as their detector takes
        them, or given directly.

        >>> from transformers import GPT2Config, WatermarkingConfig
        >>> wm = TransformersKGW.from_config(WatermarkingConfig(seeding_scheme="selfhash"),
        ...                                  model_config=GPT2Config())
        >>> wm.vocab_size, wm.bos_token_id, wm.seeding_scheme
        (50257, 50256, 'selfhash')
        """
        d = config_dict(config, "a WatermarkingConfig")
        unknown = set(d) - set(_CONFIG_FIELDS)
        if unknown:
            raise ValueError(f"config: not a KGW WatermarkingConfig (unknown {sorted(unknown)})")
        kw: dict[str, Any] = {k: d[k] for k in _CONFIG_FIELDS if k in d}
        if model_config is not None:
            get = model_config_getter(model_config)
            if vocab_size is None:  # looked up only when not given
                vocab_size = get("vocab_size")
                if vocab_size is None:
                    raise ValueError("model_config: has no vocab_size")
            if bos_token_id is None:
                encdec = get("is_encoder_decoder", False)
                bos_token_id = get("decoder_start_token_id" if encdec else "bos_token_id")
        if vocab_size is None:
            raise ValueError("vocab_size: give it, or a model_config that has it")
        return cls(
            vocab_size=vocab_size, device=device, bos_token_id=bos_token_id,
            ignore_repeated_ngrams=ignore_repeated_ngrams, **kw,
        )  # fmt: skip

    def to_config_dict(self, include_key: bool = False) -> dict[str, Any]:
        """Their ``WatermarkingConfig`` fields; ``hashing_key`` only with ``include_key``."""
        d = {k: getattr(self, k) for k in _CONFIG_FIELDS}
        if not include_key:
            del d["hashing_key"]
        return d

    # -- derived --------------------------------------------------------------------------
    @property
    def green_size(self) -> int:
        """``int(vocab_size * greenlist_ratio)``: the length of every green list."""
        return int(self.vocab_size * self.greenlist_ratio)

    @property
    def gamma_effective(self) -> float:
        """The exact probability that a token below ``vocab_size`` is green under the null."""
        return self.green_size / self.vocab_size

    @functools.cached_property
    def _cache(self) -> GreenListCache:
        return GreenListCache(self.vocab_size, self.green_size, self.device)

    @functools.cached_property
    def _table(self) -> np.ndarray:
        """selfhash's ``randperm(1_000_003)`` seeded with the key (on their device)."""
        return randperm(self.hashing_key, TABLE_SIZE, self.device)

    def seeds(self, tokens: np.ndarray, positions: np.ndarray) -> np.ndarray:
        """The generator seed (uint64, already ``mod 2^64 - 1``) of the green list that scores
        ``tokens[p]`` for each ``p`` in ``positions`` (the window must lie inside ``tokens``)."""
        if self.seeding_scheme == "lefthash":
            per, inv = self._lefthash_seed_groups(tokens[positions - 1].astype(np.int64))
            return per[inv]
        return self._selfhash_seeds(tokens, positions)

    def _lefthash_seed_groups(self, prev: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """lefthash: ``(seeds of the distinct previous tokens, each position's index into
        them)``, without a sort where the ids are small (a presence table over them)."""
        uniq, inv = distinct_small_ints(prev)
        hk = self.hashing_key  # Python ints: their seed is a Python int product
        per = np.array([(hk * t) % _MOD for t in uniq.tolist()], dtype=np.uint64)
        return per, inv

    def _lefthash_green(self, prev: np.ndarray, tokens: np.ndarray, backend: str) -> np.ndarray:
        """lefthash green flags of ``tokens`` after ``prev``. The store row of each previous
        token id below ``vocab_size`` is remembered in a table (valid while the store does not
        start over), so that a batch whose lists are all cached costs no per-seed Python work."""
        cache = self._cache
        uniq, inv = distinct_small_ints(prev)
        if len(uniq) > cache.capacity:  # more lists than the store holds: chunk by chunk
            per, _ = self._lefthash_seed_groups(uniq)
            return cache.is_green_grouped(per, inv, tokens, backend)
        generation, table = self.__dict__.get("_row_of_prev", (None, None))
        if generation != cache.generation:
            table = np.full(self.vocab_size, -1, dtype=np.int64)
        small = uniq < len(table)
        rows = np.full(len(uniq), -1, dtype=np.int64)
        rows[small] = table[uniq[small]]
        if (rows < 0).any():  # lists to draw (or ids past the vocabulary): the general way
            per, _ = self._lefthash_seed_groups(uniq)
            rows = cache.rows(per, backend)
            if cache.generation != generation:
                table = np.full(self.vocab_size, -1, dtype=np.int64)  # rows of before: void
            table[uniq[small]] = rows[small]
        self.__dict__["_row_of_prev"] = (cache.generation, table)
        return cache.flags_at(rows[inv], tokens)

    def _selfhash_seeds(self, tokens: np.ndarray, positions: np.ndarray) -> np.ndarray:
        w = self.context_width
        window = positions[:, None] + np.arange(-(w - 1), 1)[None, :]
        a = (self._table[tokens[window].astype(np.int64) % TABLE_SIZE] + 1).astype(np.uint64)
        with np.errstate(over="ignore"):
            prod = (np.uint64(self.hashing_key) * a) * a[:, -1:]  # int64 wrap-around, as torch
        s = prod.view(np.int64).min(axis=1)
        # Python's s mod (2^64 - 1) for s in [-2^63, 2^63): s itself, or s + 2^64 - 1.
        return np.where(s < 0, s.view(np.uint64) - np.uint64(1), s.view(np.uint64))

    # -- generation -----------------------------------------------------------------------
    def logits_processor(self):
        """transformers' own ``WatermarkLogitsProcessor`` with this config (their generation
        path, on ``device``), for text our detector then scores."""
        from transformers.generation.logits_process import WatermarkLogitsProcessor

        return WatermarkLogitsProcessor(
            vocab_size=self.vocab_size, device=self.device, **self.to_config_dict(True)
        )

    # -- detection ------------------------------------------------------------------------
    def detect(
        self,
        sequences,
        *,
        prefix_lengths=None,
        dedup: bool | None = None,
        return_flags: bool = False,
        backend: str = "auto",
    ) -> KGWResult:
        """Score token id sequences as their ``WatermarkDetector`` does, in one batch.

        Parameters
        ----------
        sequences : list of token id sequences, a 2-D array/tensor, or a :class:`Ragged`
            (documents of any lengths; no padding is needed).
        prefix_lengths : per document, leading tokens (counted before BOS removal) that are
            context only (the prompt); their detector has no such notion.
        dedup : override ``ignore_repeated_ngrams``.
        return_flags : also return per-token ``green`` (1, 0, -1 not scored) and ``counted``.
        backend : ``"auto"``, ``"cpu"`` (C++ lists) or ``"reference"`` (the numpy spec).

        Returns
        -------
        KGWResult : ``n_scored``, ``n_green`` as theirs (``num_tokens_scored``,
            ``num_green_tokens``), ``z`` their z-score (0 where nothing is scored: theirs is NaN
            or an error), ``p_value`` the exact binomial tail at ``gamma_effective``. Their
            detector refuses a batch with no more than ``context_width`` tokens (BOS removed),
            even where ``selfhash`` would score one; here such a document scores what it has.
        """
        backend = check_backend(backend)
        tokens32, offsets, prefix = host_batch(sequences, prefix_lengths)
        n_docs = len(offsets) - 1
        dedup = check_optional_bool(dedup, "dedup")
        dedup = self.ignore_repeated_ngrams if dedup is None else dedup
        return_flags = check_bool(return_flags, "return_flags")
        lengths = np.diff(offsets)
        starts = offsets[:-1]
        begin = starts.copy()
        if self.bos_token_id is not None:
            nonempty = lengths > 0
            has_bos = np.zeros(n_docs, dtype=bool)
            has_bos[nonempty] = tokens32[starts[nonempty]] == self.bos_token_id
            begin += has_bos
        selfhash = self.seeding_scheme == "selfhash"
        n = self.context_width + 1 - int(selfhash)  # the n-gram length, as theirs
        first = begin + (n - 1)
        if prefix is not None:
            first = np.maximum(first, starts + prefix)
        if (
            not (selfhash or dedup or return_flags)
            and resolve_host("score_kgw", backend)[0] == "cpu"
        ):
            counts = self._stored_counts(tokens32, offsets, first)
            if counts is not None:  # every list cached: C++ counts, no per-position numpy
                return self._result(*counts)
        tokens = tokens32.astype(np.int64)
        doc = np.repeat(np.arange(n_docs), lengths)
        pos = np.arange(len(tokens))
        scored = pos >= first[doc] if len(tokens) else np.zeros(0, dtype=bool)
        p = pos[scored]
        if self.seeding_scheme == "lefthash":  # grouped by previous token: no sort of seeds
            green = self._lefthash_green(tokens[p - 1], tokens[p], backend)
        else:
            green = self._cache.is_green(self._selfhash_seeds(tokens, p), tokens[p], backend)
        counted = np.ones(len(p), dtype=bool)
        doc_of, green_of = doc[p], green  # of the counted positions
        if dedup and len(p):
            grams = tokens[p[:, None] + np.arange(-(n - 1), 1)[None, :]]
            counted = first_occurrence(np.concatenate([doc_of[:, None], grams], axis=1))
            doc_of, green_of = doc_of[counted], green[counted]
        n_scored = np.bincount(doc_of, minlength=n_docs).astype(np.int64)
        n_green = np.bincount(doc_of, weights=green_of, minlength=n_docs).astype(np.int64)
        extra: dict[str, Any] = {}
        if return_flags:
            g = np.full(len(tokens), -1, dtype=np.int8)
            g[p] = green
            c = np.zeros(len(tokens), dtype=np.uint8)
            c[p] = counted
            extra["green"] = split_docs(g, offsets)
            extra["counted"] = split_docs(c, offsets)
        return self._result(n_scored, n_green, **extra)

    def _stored_counts(self, tokens, offsets, first):
        """lefthash ``(n_scored, n_green)`` in one C++ pass where every scored position's list
        is already in the store (the table of :meth:`_lefthash_green`), else None."""
        generation, table = self.__dict__.get("_row_of_prev", (None, None))
        if table is None or generation != self._cache.generation:
            return None
        return self._cache.counts_at(tokens, offsets, first, table)

    def _result(self, n_scored, n_green, **extra) -> KGWResult:
        return KGWResult(
            n_scored=n_scored,
            n_green=n_green,
            z=binomial_z(n_green, n_scored, self.greenlist_ratio),
            p_value=binomial_pvalue(n_green, n_scored, self.gamma_effective),
            gamma=self.gamma_effective,
            **extra,
        )


def transformers_kgw(
    hashing_key: int = DEFAULT_HASHING_KEY,
    vocab_size: int = 32000,
    *,
    greenlist_ratio: float = 0.25,
    bias: float = 2.0,
    seeding_scheme: str = "lefthash",
    context_width: int = 1,
    device: str = "cpu",
    bos_token_id: int | None = None,
    ignore_repeated_ngrams: bool = False,
) -> TransformersKGW:
    """transformers' KGW watermark as a tokenmark scheme: see :class:`TransformersKGW`.

    >>> import tokenmark as tm
    >>> wm = tm.dialects.transformers_kgw(hashing_key=42, vocab_size=1000, context_width=2)
    >>> wm
    TransformersKGW(hashing_key=<secret>, vocab_size=1000, greenlist_ratio=0.25, bias=2.0, \
seeding_scheme='lefthash', context_width=2, device='cpu', bos_token_id=None, \
ignore_repeated_ngrams=False)
    """
    return TransformersKGW(
        hashing_key=hashing_key, vocab_size=vocab_size, greenlist_ratio=greenlist_ratio,
        bias=bias, seeding_scheme=seeding_scheme, context_width=context_width, device=device,
        bos_token_id=bos_token_id, ignore_repeated_ngrams=ignore_repeated_ngrams,
    )  # fmt: skip
