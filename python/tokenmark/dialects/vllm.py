"""vLLM's native watermark (0.33.0: ``vllm/config/watermarking.py``, ``vllm/v1/watermarking/``):
Gumbel-max and dual-key Gumbel on vLLM's Philox PRF, re-stated exactly and scored in batches.

Their rule (``prfs/philox.py``, ``detector.py``, ``gumbel.py``):

- keys: ``key`` (64 bits) splits into Philox key words ``(key & 0xFFFFFFFF, key >> 32)``;
  dual-key Gumbel derives key A and key B as the first 8 bytes (big-endian) of
  ``sha256(b"key_a" | b"key_b" + key.to_bytes(8, "big"))``.
- context: the ``context_width`` generated tokens before a token, ``-1`` where that would reach
  into the prompt (or before the text): the prompt never enters the PRF.
- PRF: absorb the context in blocks of 4 words (``id & 0xFFFFFFFF``, a short last block padded
  with ``0xFFFFFFFF - i``): ``state = (0x574D4358, width, 0, 0)``, ``state = Philox(state ^ block,
  key = (k0 ^ offset, k1))``; then ``word = Philox((t >> 2, s0, s1, s2), key = (k0 ^ s3, k1 ^
  0x574D544B))[t & 3]`` for token ``t``; ``u = float32((float64(word >> 8) + 1) / (2^24 + 1))``.
- detection: a token whose context already occurred in the document is skipped (their
  ``deduplicate_contexts=True`` default); ``score = sum -log1p(-u)`` (float64); p-value the
  Gamma(n, 1) tail. Dual-key: per token ``(1 - alpha) s_A + alpha s_B``; their p-value matches
  the moments with a Gamma (exact for alpha in {0, 1/2, 1}).

We give their ``score`` and p-value (``their_p_value``) and our ``p_value``: for ``gumbel`` the
same exact Gamma tail (scipy), for ``dual_key_gumbel`` the exact tail of ``(1 - alpha) G_A +
alpha G_B`` with independent ``G ~ Gamma(n, 1)`` (a numerical integral, batched).
"""

from __future__ import annotations

import functools
import hashlib
from dataclasses import dataclass
from typing import Any

import numpy as np

from .. import ops
from .._inputs import split_docs
from .._validate import check_alpha, check_bool, check_prefix
from ..reference.vllm import philox_uniform
from ..stats import gamma_pvalue
from ._config import parse_json
from ._host import device_batch, host_batch, host_scorer

BACKENDS = ("auto", "cpu", "cuda", "reference")

ALGORITHMS = ("gumbel", "dual_key_gumbel")
# vLLM's WatermarkConfig fields; the generation-side ones are accepted and not used to detect.
_CONFIG_FIELDS = {
    "key", "algorithm", "alpha", "context_width", "deduplicate_contexts",
    "deduplicate_contexts_max_history", "prf", "allow_target_only_watermarking",
}  # fmt: skip


def derive_key(key: int, domain: bytes) -> int:
    """vLLM's ``derive_watermark_key``: sha256(domain + key as 8 big-endian bytes)[:8]."""
    digest = hashlib.sha256(domain + int(key).to_bytes(8, "big")).digest()
    return int.from_bytes(digest[:8], "big")


@dataclass(frozen=True)
class VLLMResult:
    """Per-document vLLM watermark scores (arrays of length ``n_docs``)."""

    n_scored: np.ndarray
    score: np.ndarray  # their score: sum of per-token -log1p(-u) (dual key: weighted)
    p_value: np.ndarray  # ours: exact
    their_p_value: np.ndarray  # theirs, restated
    counted: list[np.ndarray] | None = None

    def __len__(self) -> int:
        return len(self.n_scored)

    def is_watermarked(self, alpha: float = 1e-3) -> np.ndarray:
        return self.p_value <= check_alpha(alpha)

    def to_records(self) -> list[dict[str, Any]]:
        """One JSON-ready dict per document."""
        return [
            {"n_scored": int(self.n_scored[d]), "score": float(self.score[d]),
             "p_value": float(self.p_value[d]), "their_p_value": float(self.their_p_value[d])}
            for d in range(len(self))
        ]  # fmt: skip


_GL_X, _GL_W = np.polynomial.legendre.leggauss(16)
_PANELS = 64


def dual_key_tail(score, n, alpha: float) -> np.ndarray:
    """P[(1 - alpha) G_A + alpha G_B >= score] for independent G_A, G_B ~ Gamma(n, 1), per
    document (1 where n == 0).

    With ``big``/``small`` the larger/smaller weight, ``P = P[G >= score / small] +
    int_0^{score / small} pdf(x) sf((score - small x) / big) dx``, G ~ Gamma(n). The integrand
    is log-concave with most of its mass where G's density is; the integral runs in log space
    (so tails down to ~1e-300 keep their relative accuracy) with 64 x 16-point Gauss-Legendre
    panels over ``[0, min(score / small, x_hi)]``, ``x_hi`` far enough into G's tail that what is
    cut is below 1e-12 of the lower bound ``P[big G >= score]``. Relative error ~1e-9 (checked
    against a 50-digit integral in the tests).
    """
    from scipy import special, stats

    score = np.atleast_1d(np.asarray(score, dtype=np.float64))
    n = np.atleast_1d(np.asarray(n, dtype=np.int64))
    out = np.ones(score.shape)
    a, b = 1.0 - alpha, alpha
    has = (n > 0) & (score > 0)
    if a == 0 or b == 0:
        out[has] = stats.gamma.sf(score[has] / max(a, b), n[has])
        return out
    if a == b:
        out[has] = stats.gamma.sf(score[has] / a, 2 * n[has])
        return out
    if not has.any():
        return out
    big, small = max(a, b), min(a, b)
    s, k = score[has], n[has].astype(np.float64)
    edge = s / small
    log_lower = stats.gamma.logsf(s / big, k)  # P >= P[big G_A >= s]
    # x_hi: G's tail past it is below 1e-12 of the lower bound (Chernoff-safe: isf in log)
    x_hi = np.maximum(stats.gamma.isf(np.exp(np.maximum(log_lower - 28.0, -700.0)), k), k + 1)
    hi = np.minimum(edge, x_hi)
    width = hi / _PANELS
    left = width[:, None] * np.arange(_PANELS)[None, :]
    x = (left[:, :, None] + (width[:, None, None] / 2) * (_GL_X + 1)[None, None, :]).reshape(
        len(s), -1
    )
    logw = np.log(np.tile(_GL_W, _PANELS))[None, :] + np.log(width / 2)[:, None]
    with np.errstate(divide="ignore"):
        log_pdf = (k[:, None] - 1) * np.log(x) - x - special.gammaln(k)[:, None]
        log_inner = np.log(special.gammaincc(k[:, None], (s[:, None] - small * x) / big))
    log_int = special.logsumexp(logw + log_pdf + log_inner, axis=1)
    log_tail = stats.gamma.logsf(edge, k)  # x past score / small: the inner tail is 1
    out[has] = np.minimum(1.0, np.exp(np.logaddexp(log_int, log_tail)))
    return out


@dataclass(frozen=True, repr=False)
class VLLMWatermark:
    """vLLM's ``WatermarkConfig`` (``gumbel`` or ``dual_key_gumbel``) as a tokenmark scheme.

    Parameters
    ----------
    key : int in [0, 2^64). Secret; never printed.
    algorithm : ``"gumbel"`` or ``"dual_key_gumbel"``.
    context_width : generated tokens of context (vLLM's default 4).
    alpha : dual-key weight of key B (vLLM's default 0.1).
    deduplicate_contexts : the detector skips tokens whose context already occurred (their
        detector's default True).

    Example
    -------
    >>> import tokenmark as tm
    >>> wm = tm.dialects.vllm(key=1234, algorithm="gumbel", context_width=4)
    >>> res = wm.detect([[5, 17, 3, 99, 42, 7, 7, 1000]])
    >>> int(res.n_scored[0])
    8
    """

    key: int = 0
    algorithm: str = "gumbel"
    context_width: int = 4
    alpha: float = 0.1
    deduplicate_contexts: bool = True

    def __post_init__(self):
        k = self.key
        if isinstance(k, bool) or not isinstance(k, (int, np.integer)):
            raise TypeError("key: must be an int")
        if not 0 <= int(k) < 2**64:
            raise ValueError("key: must be in [0, 2^64)")  # no value: it is the secret
        object.__setattr__(self, "key", int(k))
        if self.algorithm not in ALGORITHMS:
            raise ValueError(f"algorithm: expected one of {ALGORITHMS}, got {self.algorithm!r}")
        w = self.context_width
        if isinstance(w, bool) or not isinstance(w, (int, np.integer)):
            raise TypeError("context_width: must be an int")
        if not 1 <= int(w) <= 1024:
            raise ValueError(f"context_width: must be in [1, 1024], got {w}")
        object.__setattr__(self, "context_width", int(w))
        object.__setattr__(self, "alpha", check_alpha(self.alpha))  # the dual-key weight
        dedup = check_bool(self.deduplicate_contexts, "deduplicate_contexts")
        object.__setattr__(self, "deduplicate_contexts", dedup)

    def __repr__(self) -> str:
        return (
            f"VLLMWatermark(key=<secret>, algorithm={self.algorithm!r}, "
            f"context_width={self.context_width}, alpha={self.alpha}, "
            f"deduplicate_contexts={self.deduplicate_contexts})"
        )

    __str__ = __repr__

    @classmethod
    def from_config(cls, config, *, deduplicate_contexts: bool = True) -> VLLMWatermark:
        """From vLLM's ``WatermarkConfig``, its dict, or the JSON of ``--watermark-config``.

        >>> VLLMWatermark.from_config('{"key": 7, "algorithm": "dual_key_gumbel"}').alpha
        0.1
        """
        config = parse_json(config)
        if not isinstance(config, dict):
            config = {k: getattr(config, k) for k in _CONFIG_FIELDS if hasattr(config, k)}
        unknown = set(config) - _CONFIG_FIELDS
        if unknown:
            raise ValueError(f"config: not a vLLM WatermarkConfig (unknown {sorted(unknown)})")
        if "key" not in config:
            raise ValueError("config: has no key")
        if config.get("prf", "philox") != "philox":
            raise ValueError(f"config: prf {config['prf']!r} is not supported (only philox)")
        kw = {k: config[k] for k in ("key", "algorithm", "alpha", "context_width") if k in config}
        if "context_width" in kw and kw["context_width"] is None:
            del kw["context_width"]  # theirs: None is the algorithm's default, 4 for both
        return cls(deduplicate_contexts=deduplicate_contexts, **kw)

    @functools.cached_property  # two sha256 per dual-key scheme, not per detect() call
    def prf_keys(self) -> tuple[int, ...]:
        """The Philox keys the PRF runs with: ``(key,)``, or ``(key A, key B)`` (secret)."""
        if self.algorithm == "gumbel":
            return (self.key,)
        return derive_key(self.key, b"key_a"), derive_key(self.key, b"key_b")

    def uniforms(self, contexts: np.ndarray, tokens: np.ndarray) -> np.ndarray:
        """float32 ``[n, len(prf_keys)]``: vLLM's uniforms of each (context, token)."""
        return np.stack([philox_uniform(k, contexts, tokens) for k in self.prf_keys], axis=1)

    def logits_processor(self, seed: int = 0):
        """A transformers ``LogitsProcessor`` that generates as vLLM does with this config, so
        vLLM's detector (and :meth:`detect`) recognise the text. Put it last; one per
        ``generate`` call. ``seed`` drives the dual-key routing."""
        from .vllm_processor import VLLMGumbelProcessor

        return VLLMGumbelProcessor(self, seed=seed)

    @functools.cached_property
    def _kernel_args(self) -> tuple[np.ndarray, np.ndarray]:
        """The kernel's keys (uint64) and weights (float64), made once per scheme, read-only."""
        keys = np.array(self.prf_keys, dtype=np.uint64)
        w = np.ones(1) if self.algorithm == "gumbel" else np.array([1.0 - self.alpha, self.alpha])
        keys.flags.writeable = w.flags.writeable = False
        return keys, w

    def detect(
        self,
        sequences,
        *,
        prefix_lengths=None,
        return_flags: bool = False,
        backend: str = "auto",
    ) -> VLLMResult:
        """Score generated token sequences as vLLM's detector does, in one batch.

        Parameters
        ----------
        sequences : the generated tokens of each request (list of sequences, 2-D array/tensor or
            :class:`Ragged`). vLLM's contexts never reach into the prompt: pass the prompt too
            only with ``prefix_lengths``, and its tokens are then dropped, not used as context.
        prefix_lengths : per document, leading tokens to drop (the prompt).
        return_flags : also return per-token ``counted`` flags.
        backend : ``"auto"`` (CUDA input stays on its device where tokenmark has its CUDA
            kernels; the rest goes to the C++ backend), ``"cpu"`` (C++, threads over documents),
            ``"cuda"`` (CUDA tensors) or ``"reference"`` (numpy).
        """
        if backend not in BACKENDS:
            raise ValueError(f"backend: expected one of {BACKENDS}, got {backend!r}")
        want = check_bool(return_flags, "return_flags")
        keys, weights = self._kernel_args
        rag = device_batch(sequences, backend)
        if rag is not None:
            n_scored, score, counted = ops.score_vllm(
                rag.tokens, rag.offsets, keys=keys, weights=weights,
                context_width=self.context_width, dedup=self.deduplicate_contexts,
                prefix_lengths=check_prefix(prefix_lengths, len(rag)), want_flags=want,
                backend="cuda",
            )  # fmt: skip
            # Per-document results (and flags) come back for the p-values.
            n_scored, score = n_scored.cpu().numpy(), score.cpu().numpy()
            offsets = rag.offsets.cpu().numpy()
            counted = counted.cpu().numpy() if want else None
        else:
            tokens, offsets, prefix = host_batch(sequences, prefix_lengths)
            n_scored, score, counted = host_scorer("score_vllm", backend)(
                tokens, offsets, prefix, self.context_width, keys, weights,
                self.deduplicate_contexts, want,
            )  # fmt: skip
        ours, theirs = self._p_values(score, n_scored)
        flags = {"counted": split_docs(counted, offsets)} if want else {}
        return VLLMResult(n_scored, score, ours, theirs, **flags)

    def _p_values(self, score: np.ndarray, n: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        from scipy import special, stats

        has = n > 0
        safe_n = np.maximum(n, 1)
        if self.algorithm == "gumbel":
            p = gamma_pvalue(score, n)
            return p, p.copy()
        a = self.alpha
        var = (1 - a) ** 2 + a**2
        if a in (0.0, 0.5, 1.0):
            theirs = stats.gamma.sf(score / var, np.round(safe_n / var))
        else:
            theirs = special.gammaincc(safe_n / var, score / var)
        theirs = np.where(has & (score > 0), theirs, 1.0)
        return dual_key_tail(score, n, a), theirs


def vllm(
    key: int,
    algorithm: str = "gumbel",
    context_width: int = 4,
    *,
    alpha: float = 0.1,
    deduplicate_contexts: bool = True,
) -> VLLMWatermark:
    """vLLM's native watermark as a tokenmark scheme: see :class:`VLLMWatermark`."""
    return VLLMWatermark(
        key=key, algorithm=algorithm, context_width=context_width, alpha=alpha,
        deduplicate_contexts=deduplicate_contexts,
    )  # fmt: skip
