"""The KGW watermark scheme (Kirchenbauer et al., 2023) as a plain, serialisable config."""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np

from . import ops
from ._inputs import Ragged, as_ragged, device_ragged, split_docs
from ._key import Key
from ._scheme import DocResult, SchemeConfig, keys_list
from ._validate import (
    check_bool,
    check_choice,
    check_context_width,
    check_int,
    check_optional_bool,
    check_prefix,
    check_real,
)
from .reference.prf import SEEDINGS
from .stats import (
    binomial_pvalue,
    binomial_sf,
    binomial_z,
    window_pvalue,
    windows_over_counted,
)


@dataclass(frozen=True)
class KGWResult(DocResult):
    """Per-document detection scores (arrays of length ``n_docs``).

    ``p_value`` is the exact one-sided binomial tail P[X >= n_green], X ~ Binomial(n_scored,
    gamma_effective), valid under the null that the text was written without this key (tokens'
    green flags are then fair coins of bias gamma, once repeated (context, token) pairs are
    removed). ``z`` is the normal-approximation score, for reading only. A document with no
    scored token has ``p_value`` 1 and ``z`` 0.
    """

    n_scored: np.ndarray
    n_green: np.ndarray
    z: np.ndarray
    p_value: np.ndarray
    gamma: float
    green: list[np.ndarray] | None = None  # per document: 1 green, 0 red, -1 not scored
    counted: list[np.ndarray] | None = None  # per document: 1 where the token was counted
    window: int | None = None
    window_start: np.ndarray | None = None  # token position of the best window's first token
    window_green: np.ndarray | None = None
    window_p_value: np.ndarray | None = None  # Bonferroni-corrected over the windows

    @property
    def green_fraction(self) -> np.ndarray:
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(self.n_scored > 0, self.n_green / np.maximum(self.n_scored, 1), np.nan)

    def to_records(self) -> list[dict[str, Any]]:
        """One JSON-ready dict per document."""
        out = []
        for d in range(len(self)):
            rec: dict[str, Any] = {
                "n_scored": int(self.n_scored[d]),
                "n_green": int(self.n_green[d]),
                "green_fraction": None if self.n_scored[d] == 0 else float(self.green_fraction[d]),
                "z": float(self.z[d]),
                "p_value": float(self.p_value[d]),
            }
            if self.window_p_value is not None:
                rec["window"] = self._window_record(d, "n_green", self.window_green, int)
            out.append(rec)
        return out


def _check_prob(name: str, v: float) -> float:
    if isinstance(v, (bool, np.bool_)) or not isinstance(v, (int, float, np.integer, np.floating)):
        raise TypeError(f"{name}: expected a number in (0, 1), got {type(v).__name__}")
    try:
        f = float(v)
    except OverflowError:  # an int beyond the float range
        f = math.inf if v > 0 else -math.inf
    if not math.isfinite(f) or not 0.0 < f < 1.0:
        raise ValueError(f"{name}: must be in the open interval (0, 1), got {f}")
    return f


@dataclass(frozen=True)
class KGW(SchemeConfig):
    """KGW green-list watermark: bias ``delta`` on a ``gamma`` fraction of the vocabulary chosen
    by a keyed PRF of the previous ``context_width`` tokens.

    Parameters
    ----------
    key : bytes, str, int or :class:`Key`. Secret; never printed.
    gamma : green fraction, in (0, 1).
    delta : logit bias added to green tokens (finite; 0 disables the effect, not the detector).
    context_width : tokens of context hashed into each green list (0: one fixed list, "Unigram").
    seeding : ``"prev"`` (ordered h-gram) or ``"minhash"`` (min over the h tokens' hashes;
        survives local edits better).
    dedup : detection counts each (context, token) pair once per document (default; without it
        repetitive text gives false positives).

    Example
    -------
    >>> import tokenmark as tm
    >>> wm = tm.KGW(key=b"my secret", gamma=0.25, delta=2.0, context_width=4)
    >>> res = wm.detect([[5, 17, 3, 99, 42, 7, 7, 1000]])
    >>> int(res.n_scored[0])
    4
    """

    scheme_name: ClassVar[str] = "kgw"

    key: Key = field(repr=True)
    gamma: float = 0.25
    delta: float = 2.0
    context_width: int = 4
    seeding: str = "prev"
    dedup: bool = True

    def __post_init__(self):
        object.__setattr__(self, "key", Key(self.key))
        object.__setattr__(self, "gamma", _check_prob("gamma", self.gamma))
        object.__setattr__(self, "delta", check_real(self.delta, "delta"))
        if abs(self.delta) > float(np.finfo(np.float32).max):  # the kernels add it as float32
            raise ValueError(f"delta: must fit a float32 (|delta| < 3.4e38), got {self.delta!r}")
        object.__setattr__(self, "context_width", check_context_width(self.context_width))
        check_choice(self.seeding, "seeding", SEEDINGS)
        object.__setattr__(self, "dedup", check_bool(self.dedup, "dedup"))
        if self.threshold == 0:
            raise ValueError(f"gamma: {self.gamma} is below 2^-32")

    # -- derived --------------------------------------------------------------------------
    @property
    def threshold(self) -> int:
        """floor(gamma * 2^32): a token is green when its PRF word is below this."""
        return min(int(math.floor(self.gamma * 2**32)), 2**32 - 1)

    @property
    def gamma_effective(self) -> float:
        """The exact green probability, threshold / 2^32 (what the detector tests against)."""
        return self.threshold / 2**32

    @property
    def seeding_code(self) -> int:
        return SEEDINGS[self.seeding]

    @functools.cached_property
    def row_params(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(keys [1, 4] uint32, thresholds [1] uint32, deltas [1] float32), made once: the form
        the kernels take, so a decode step pays no conversion."""
        return (
            self.key.words.reshape(1, 4).copy(),
            np.array([self.threshold], dtype=np.uint32),
            np.array([self.delta], dtype=np.float32),
        )

    # -- generation -----------------------------------------------------------------------
    def apply_(self, logits, input_ids, *, enabled=None, backend: str = "auto"):
        """Bias ``logits [batch, vocab]`` in place for the next token after ``input_ids``."""
        keys, thresholds, deltas = self.row_params
        return ops.apply_kgw_bias_(
            logits,
            input_ids,
            keys=keys,
            thresholds=thresholds,
            deltas=deltas,
            context_width=self.context_width,
            seeding=self.seeding_code,
            enabled=enabled,
            backend=backend,
        )

    def logits_processor(self, backend: str = "auto"):
        """A transformers ``LogitsProcessor`` applying this watermark inside ``generate``."""
        from .integrations.transformers import KGWLogitsProcessor

        return KGWLogitsProcessor(self, backend=backend)

    # -- detection ------------------------------------------------------------------------
    def detect(
        self,
        sequences,
        *,
        prefix_lengths=None,
        dedup: bool | None = None,
        return_flags: bool = False,
        window: int | None = None,
        backend: str = "auto",
    ) -> KGWResult:
        """Score token id sequences for this watermark.

        Parameters
        ----------
        sequences : list of token id sequences, a 2-D array/tensor, or a :class:`Ragged`.
        prefix_lengths : per document, how many leading tokens are known context (e.g. the
            prompt) and not scored. The first ``context_width`` tokens are never scored.
        dedup : override the scheme's ``dedup``.
        return_flags : also return per-token green / counted flags (for display).
        window : also find the most-green window of this many counted tokens per document
            (the watermarked span inside a long human text), with a Bonferroni-corrected p-value.
        """
        rag = device_ragged(sequences)
        if rag is None:
            rag = as_ragged(sequences)
        n_docs = len(rag)
        prefix = check_prefix(prefix_lengths, n_docs)
        dedup = check_optional_bool(dedup, "dedup")
        return_flags = check_bool(return_flags, "return_flags")
        if window is not None:
            window = check_int(window, "window", 1, 2**62)
        want_flags = return_flags or window is not None
        n_scored, n_green, green, counted = ops.score_kgw(
            rag.tokens,
            rag.offsets,
            key=self.key.words,
            threshold=self.threshold,
            context_width=self.context_width,
            seeding=self.seeding_code,
            dedup=self.dedup if dedup is None else dedup,
            prefix_lengths=prefix,
            want_flags=want_flags,
            backend=backend,
        )
        if not isinstance(rag.offsets, np.ndarray):
            # Scored on the device: counts (and flags) come back to the host for the p-values.
            n_scored, n_green = n_scored.cpu().numpy(), n_green.cpu().numpy()
            if want_flags:
                green, counted = green.cpu().numpy(), counted.cpu().numpy()
            rag = Ragged(rag.tokens, rag.offsets.cpu().numpy())
        p = self.gamma_effective
        extra: dict[str, Any] = {}
        if return_flags:
            extra["green"] = split_docs(green, rag.offsets)
            extra["counted"] = split_docs(counted, rag.offsets)
        if window is not None:
            start, best, w, n_windows = windows_over_counted(green, counted, rag.offsets, window)
            wp = window_pvalue(n_windows, binomial_sf(best - 1, w, p))
            extra.update(
                window=int(window), window_start=start, window_green=best, window_p_value=wp
            )
        return KGWResult(
            n_scored=n_scored,
            n_green=n_green,
            z=binomial_z(n_green, n_scored, p),
            p_value=binomial_pvalue(n_green, n_scored, p),
            gamma=p,
            **extra,
        )

    def detect_many(
        self,
        sequences,
        *,
        keys,
        prefix_lengths=None,
        dedup: bool | None = None,
        backend: str = "auto",
    ) -> list[KGWResult]:
        """Score token id sequences for K keys at once, with this config's other parameters.

        One pass over the documents (``tokenmark.score_kgw_keys``): each key's result equals
        ``dataclasses.replace(self, key=k).detect(sequences, ...)`` (flags and windows are not
        offered here). This config's own key is not used unless it is in ``keys``.

        Parameters
        ----------
        sequences : list of token id sequences, a 2-D array, or a :class:`Ragged` (host memory).
        keys : K keys: :class:`Key` objects or key material (bytes, str, int).
        prefix_lengths, dedup, backend : as in :meth:`detect`.

        Returns
        -------
        list of K :class:`KGWResult`, in the order of ``keys``.

        Examples
        --------
        >>> import tokenmark as tm
        >>> wm = tm.KGW(key=b"unused", gamma=0.25, context_width=1)
        >>> res = wm.detect_many([[5, 17, 3, 99], [4, 4]], keys=[b"v1", b"v2", b"v3"])
        >>> len(res), res[0].n_scored.tolist()
        (3, [3, 1])
        """
        rag = as_ragged(sequences)
        dedup = check_optional_bool(dedup, "dedup")
        n_scored, n_green, _ = ops.score_kgw_keys(
            rag.tokens,
            rag.offsets,
            keys=[k.words for k in keys_list(keys)] or np.zeros((0, 4), np.uint32),
            threshold=self.threshold,
            context_width=self.context_width,
            seeding=self.seeding_code,
            dedup=self.dedup if dedup is None else dedup,
            prefix_lengths=check_prefix(prefix_lengths, len(rag)),
            backend=backend,
        )
        p = self.gamma_effective
        return [
            KGWResult(
                n_scored=n_scored,
                n_green=g,
                z=binomial_z(g, n_scored, p),
                p_value=binomial_pvalue(g, n_scored, p),
                gamma=p,
            )
            for g in n_green
        ]
