"""SGLang's native watermark (0.5.23, ``sglang/srt/sampling/watermarking/``): Aaronson-Gumbel with
MurmurHash3, re-stated exactly and scored in batches (the spec: :mod:`tokenmark.reference.sglang`).

Their rule, in short: the context of a position is the up to ``context_width`` tokens before it,
the prompt tail included; ``u = (murmur3(key_lo, key_hi, murmur3(context), token) + 0.5) / 2^32``;
generation picks ``argmax_t log(u_t) / p_t`` (a context is forced at most once per request);
detection scores each distinct context once with ``-log(1 - u)`` and tests the sum against
Gamma(n, 1). Dual key: a per-context coin picks key A with probability ``mixing_probability``.

The p-value is exact under their null (each distinct context an independent uniform) and is the
same tail their detector computes (scipy's Gamma survival here, their Poisson series there).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any

import numpy as np

from .. import ops
from .._inputs import split_docs
from .._validate import check_alpha, check_bool, check_prefix, check_real
from ..ops.sglang import MAX_CONTEXT_WINDOW, MAX_CONTEXTS
from ..stats import gamma_pvalue
from ._config import parse_json
from ._host import device_batch, host_batch, host_scorer

BACKENDS = ("auto", "cpu", "cuda", "reference")
# SGLang's WatermarkServerConfig fields; the generation-side ones are accepted, not used to detect.
_CONFIG_FIELDS = {
    "key", "key_b", "context_window", "mixing_probability", "max_probability",
    "default_enabled", "enforce_all",
}  # fmt: skip


def parse_key(value, name: str = "key") -> int:
    """An SGLang key: an int in [0, 2^64) or 1 to 16 hex digits (optional ``0x``), as uint64."""
    if isinstance(value, str):
        digits = value[2:] if value.lower().startswith("0x") else value
        if not 1 <= len(digits) <= 16 or any(c not in "0123456789abcdefABCDEF" for c in digits):
            raise ValueError(f"{name}: must be 1 to 16 hex digits")  # no value: it is secret
        return int(digits, 16)
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{name}: must be an int or a hex string")
    if not 0 <= int(value) < 2**64:
        raise ValueError(f"{name}: must be in [0, 2^64)")
    return int(value)


@dataclass(frozen=True)
class SGLangResult:
    """Per-document SGLang detection results (arrays of length ``n_docs``).

    ``score``, ``z_score``, ``p_value`` and ``log_p_value`` are their ``combined`` statistics.
    With two keys, ``n_key_a`` of the ``n_scored`` contexts fell in key A's partition, and the
    ``score_*`` fields are their ``key_a_all_positions``, ``key_b_all_positions``,
    ``key_a_partition`` and ``key_b_partition`` scores (each tested against Gamma of its count
    by :meth:`partition_p_values`).
    """

    n_scored: np.ndarray
    score: np.ndarray
    z_score: np.ndarray
    p_value: np.ndarray
    log_p_value: np.ndarray
    n_key_a: np.ndarray
    score_key_a_all: np.ndarray
    score_key_b_all: np.ndarray
    score_partition_a: np.ndarray
    score_partition_b: np.ndarray
    counted: list[np.ndarray] | None = None

    def __len__(self) -> int:
        return len(self.n_scored)

    def is_watermarked(self, alpha: float = 1e-3) -> np.ndarray:
        return self.p_value <= check_alpha(alpha)

    def to_records(self) -> list[dict[str, Any]]:
        """One JSON-ready dict per document (their ``combined`` statistics)."""
        return [
            {"n_scored": int(self.n_scored[d]), "score": float(self.score[d]),
             "z": float(self.z_score[d]), "p_value": float(self.p_value[d]),
             "log_p_value": float(self.log_p_value[d])}
            for d in range(len(self))
        ]  # fmt: skip

    def partition_p_values(self) -> tuple[np.ndarray, np.ndarray]:
        """Dual key: the p-values of key A's and key B's partitions."""
        return gamma_tail(self.score_partition_a, self.n_key_a)[0], gamma_tail(
            self.score_partition_b, self.n_scored - self.n_key_a
        )[0]


# Below this the p-value's relative accuracy fades into subnormals: its log is summed directly.
_DEEP = 1e-290
_CHUNK = 256  # documents per block of the log series (256 x 4096 doubles: 8 MB)


def gamma_tail(score, n) -> tuple[np.ndarray, np.ndarray]:
    """``(P[Gamma(n, 1) >= score], its log)``, 1 (log 0) where ``n == 0``. The log stays finite
    where the p-value underflows (long watermarked texts), as SGLang's ``log_p_value``: there it
    is their Poisson sum ``log sum_{k<n} score^k / k! - score``, and the p-value is its exp."""
    score = np.asarray(score, dtype=np.float64)
    n = np.asarray(n, dtype=np.int64)
    p = gamma_pvalue(score, n)
    deep = p < _DEEP
    log_p = np.log(np.where(deep, 1.0, p))
    if deep.any():
        log_p[deep] = _log_poisson_cdf(score[deep], n[deep])
    return np.exp(log_p), log_p  # the p-value is exp of the reported log, as before


def _log_poisson_cdf(score: np.ndarray, n: np.ndarray) -> np.ndarray:
    """``log P[Poisson(score) < n] = log sum_{k<n} score^k / k! - score`` (n >= 1, score > 0)."""
    from scipy import special

    k = np.arange(int(n.max()))
    log_fact = special.gammaln(k + 1.0)
    out = np.empty(len(score))
    for i in range(0, len(score), _CHUNK):
        s, m = score[i : i + _CHUNK], n[i : i + _CHUNK]
        terms = k[None, :] * np.log(s)[:, None] - log_fact[None, :]
        terms[k[None, :] >= m[:, None]] = -np.inf
        out[i : i + _CHUNK] = special.logsumexp(terms, axis=1) - s
    return np.minimum(out, 0.0)


@dataclass(frozen=True, repr=False)
class SGLangWatermark:
    """SGLang's watermark (``--watermark-config``, a request's ``watermark``) as a scheme.

    Parameters
    ----------
    key : key A: an int in [0, 2^64) or SGLang's hex string. Secret; never printed.
    key_b : key B for dual-key mode, or None.
    context_width : SGLang's ``context_window`` (1 to 64, default 4).
    mixing_probability : dual key: probability of key A (SGLang's default 0.5).
    max_contexts : contexts scored per document at most (SGLang's 4096).
    max_probability : generation only: rows whose largest probability exceeds it are sampled
        plainly (SGLang's entropy gate, default 1.0: off).

    Example
    -------
    >>> import tokenmark as tm
    >>> wm = tm.dialects.sglang(key="0123456789abcdef", context_width=4)
    >>> res = wm.detect([[5, 17, 3, 99, 42, 7, 7, 1000]], prefix_lengths=[3])
    >>> int(res.n_scored[0])
    5
    """

    key: Any = 0
    key_b: Any = None
    context_width: int = 4
    mixing_probability: float = 0.5
    max_contexts: int = MAX_CONTEXTS
    max_probability: float = 1.0

    def __post_init__(self):
        object.__setattr__(self, "key", parse_key(self.key, "key"))
        if self.key_b is not None:
            object.__setattr__(self, "key_b", parse_key(self.key_b, "key_b"))
        w = self.context_width
        if isinstance(w, bool) or not isinstance(w, (int, np.integer)):
            raise TypeError("context_width: must be an int")
        if not 1 <= int(w) <= MAX_CONTEXT_WINDOW:
            raise ValueError(f"context_width: must be in [1, {MAX_CONTEXT_WINDOW}], got {w}")
        object.__setattr__(self, "context_width", int(w))
        p = check_real(self.mixing_probability, "mixing_probability")
        if not 0.0 < p < 1.0:
            raise ValueError(f"mixing_probability: must be in (0, 1), got {p}")
        object.__setattr__(self, "mixing_probability", float(p))
        m = self.max_contexts
        if isinstance(m, bool) or not isinstance(m, (int, np.integer)):
            raise TypeError("max_contexts: must be an int")
        if not 1 <= int(m) <= MAX_CONTEXTS:
            raise ValueError(f"max_contexts: must be in [1, {MAX_CONTEXTS}], got {m}")
        object.__setattr__(self, "max_contexts", int(m))
        q = check_real(self.max_probability, "max_probability")
        if not 0.0 < q <= 1.0:
            raise ValueError(f"max_probability: must be in (0, 1], got {q}")
        object.__setattr__(self, "max_probability", q)

    def __repr__(self) -> str:
        dual = "<secret>" if self.key_b is not None else None
        return (
            f"SGLangWatermark(key=<secret>, key_b={dual}, context_width={self.context_width}, "
            f"mixing_probability={self.mixing_probability}, max_contexts={self.max_contexts}, "
            f"max_probability={self.max_probability})"
        )

    __str__ = __repr__

    @classmethod
    def from_config(cls, config, *, max_contexts: int = MAX_CONTEXTS) -> SGLangWatermark:
        """From SGLang's ``--watermark-config`` JSON (or its dict / ``WatermarkServerConfig``).
        Its keys are hex strings, as SGLang's config takes them (a number is refused: ``1234``
        would be SGLang's 0x1234, not 1234).

        >>> SGLangWatermark.from_config('{"key": "abc", "context_window": 2}').context_width
        2
        """
        config = parse_json(config)
        if not isinstance(config, dict):
            config = {k: getattr(config, k) for k in _CONFIG_FIELDS if hasattr(config, k)}
        unknown = set(config) - _CONFIG_FIELDS
        if unknown:
            raise ValueError(f"config: not an SGLang watermark config (unknown {sorted(unknown)})")
        if config.get("key") is None:
            raise ValueError("config: has no key")
        for name in ("key", "key_b"):  # SGLang's config takes hex strings only: 1234 is ambiguous
            if config.get(name) is not None and not isinstance(config[name], str):
                raise TypeError(f"{name}: must be a hex string, as in SGLang's config")
        kw = {"key": config["key"], "key_b": config.get("key_b")}
        for ours, theirs in (("context_width", "context_window"),
                             ("mixing_probability", "mixing_probability"),
                             ("max_probability", "max_probability")):  # fmt: skip
            if config.get(theirs) is not None:
                kw[ours] = config[theirs]
        return cls(max_contexts=max_contexts, **kw)

    @functools.cached_property  # once per scheme: detect() passes it to the kernel as is
    def keys(self) -> np.ndarray:
        """uint64 ``[1]`` or ``[2]``: key A (and key B). Secret; read-only."""
        keys = [self.key] if self.key_b is None else [self.key, self.key_b]
        arr = np.array(keys, dtype=np.uint64)
        arr.flags.writeable = False
        return arr

    @property
    def threshold(self) -> int:
        """Dual key: key A where the coin is below ``int(mixing_probability * 2^32)``."""
        return int(self.mixing_probability * 2**32)

    def logits_processor(self):
        """A transformers ``LogitsProcessor`` that generates as SGLang's CPU path does, so SGLang's
        detector (and :meth:`detect`) recognise the text. Put it last, after temperature and
        truncation; one per ``generate`` call."""
        from .sglang_processor import SGLangProcessor

        return SGLangProcessor(self)

    def detect(
        self,
        sequences,
        *,
        prefix_lengths=None,
        return_flags: bool = False,
        backend: str = "auto",
    ) -> SGLangResult:
        """Score token sequences as SGLang's ``WatermarkDetector.detect_tokens`` does, in one batch.

        Parameters
        ----------
        sequences : prompt and completion of each request (list of sequences, 2-D array/tensor or
            :class:`Ragged`).
        prefix_lengths : per document, the prompt's length: its tail is context for the first
            completion tokens, it is never scored. None or 0: no prompt known (SGLang then skips
            the first ``context_width`` completion tokens, whose contexts are unknown).
        return_flags : also return per-token ``counted`` flags.
        backend : ``"auto"`` (CUDA input stays on its device where tokenmark has its CUDA
            kernels; the rest goes to the C++ backend), ``"cpu"`` (C++, threads over documents),
            ``"cuda"`` (CUDA tensors) or ``"reference"`` (numpy).
        """
        if backend not in BACKENDS:
            raise ValueError(f"backend: expected one of {BACKENDS}, got {backend!r}")
        want = check_bool(return_flags, "return_flags")
        rag = device_batch(sequences, backend)
        if rag is not None:
            out = ops.score_sglang(
                rag.tokens, rag.offsets, keys=self.keys, context_width=self.context_width,
                threshold=self.threshold, max_contexts=self.max_contexts,
                prefix_lengths=check_prefix(prefix_lengths, len(rag)), want_flags=want,
                backend="cuda",
            )  # fmt: skip
            # Per-document results (and flags) come back for the p-values.
            n, n_a, sums, counted = (None if x is None else x.cpu().numpy() for x in out)
            offsets = rag.offsets.cpu().numpy()
        else:
            tokens, offsets, prefix = host_batch(sequences, prefix_lengths)
            n, n_a, sums, counted = host_scorer("score_sglang", backend)(
                tokens, offsets, prefix, self.context_width, self.max_contexts, self.keys,
                self.threshold, want,
            )  # fmt: skip
        score = sums[:, 0]
        p, log_p = gamma_tail(score, n)
        z = (score - n) / np.sqrt(np.maximum(n, 1))  # n == 0: the score is 0.0, so z is 0.0
        flags = {"counted": split_docs(counted, offsets)} if want else {}
        return SGLangResult(
            n, score, z, p, log_p, n_a, sums[:, 1], sums[:, 2], sums[:, 3], sums[:, 4], **flags
        )


def sglang(
    key,
    context_width: int = 4,
    *,
    key_b=None,
    mixing_probability: float = 0.5,
    max_contexts: int = MAX_CONTEXTS,
    max_probability: float = 1.0,
) -> SGLangWatermark:
    """SGLang's native watermark as a tokenmark scheme: see :class:`SGLangWatermark`."""
    return SGLangWatermark(
        key=key, key_b=key_b, context_width=context_width, mixing_probability=mixing_probability,
        max_contexts=max_contexts, max_probability=max_probability,
    )  # fmt: skip
