"""The Gumbel-max watermark (Aaronson 2022; EXP of Kuditipudi et al. 2023) as a plain,
serialisable config."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np

from . import ops
from ._inputs import Ragged, as_ragged, device_ragged, split_docs
from ._key import Key
from ._scheme import DocResult, SchemeConfig, check_window_request, keys_list
from ._validate import (
    check_bool,
    check_choice,
    check_context_width,
    check_optional_bool,
    check_prefix,
    check_rng,
    check_salt,
    host_array,
)
from .reference.gumbel import score_term
from .reference.prf import SEEDINGS
from .stats import gamma_pvalue, window_pvalue, windows_over_counted


@dataclass(frozen=True)
class GumbelResult(DocResult):
    """Per-document Gumbel detection scores (arrays of length ``n_docs``).

    ``score`` is the sum of ``-log(1 - u_t)`` over the ``n_scored`` counted tokens, ``u_t`` the
    PRF uniform of token ``t`` under its context. Without this key each counted ``u_t`` is
    uniform and independent (repeated (context, token) pairs removed), so ``score`` is
    Gamma(n_scored, 1) and ``p_value = P[Gamma(n_scored, 1) >= score]`` is exact. A document with
    no counted token has ``p_value`` 1.
    """

    n_scored: np.ndarray
    score: np.ndarray
    p_value: np.ndarray
    counted: list[np.ndarray] | None = None  # per document: 1 where the token was counted
    window: int | None = None
    window_start: np.ndarray | None = None  # token position of the best window's first token
    window_score: np.ndarray | None = None  # its sum of -log(1 - u) over `window` counted tokens
    window_p_value: np.ndarray | None = None  # Bonferroni-corrected over the windows

    @property
    def mean_score(self) -> np.ndarray:
        """``score / n_scored``: about 1 without the watermark, larger with it (NaN if n = 0)."""
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(self.n_scored > 0, self.score / np.maximum(self.n_scored, 1), np.nan)

    def to_records(self) -> list[dict[str, Any]]:
        """One JSON-ready dict per document."""
        out = []
        for d in range(len(self)):
            rec: dict[str, Any] = {
                "n_scored": int(self.n_scored[d]),
                "score": float(self.score[d]),
                "p_value": float(self.p_value[d]),
            }
            if self.window_p_value is not None:
                rec["window"] = self._window_record(d, "score", self.window_score, float)
            out.append(rec)
        return out


@dataclass(frozen=True)
class Gumbel(SchemeConfig):
    """Gumbel-max watermark: the next token is ``argmax_v logits_v + G_v`` with ``G_v`` the
    Gumbel noise of the keyed PRF of (previous ``context_width`` tokens, ``v``).

    Over keys this is an exact sample of ``softmax(logits)`` (distortion-free), but for one key it
    is deterministic given the context: the same context always gives the same token. Remedies:
    ``skip_repeated`` (default) leaves a step unwatermarked (sampled as usual) when its context
    already occurred in the sequence, which breaks repetition loops; a per-request ``salt`` (an
    integer XORed into the context hash, told to the detector) makes two requests with the same
    prompt differ. The trade-off: unwatermarked steps and unknown salts cost detection power.

    Parameters
    ----------
    key : bytes, str, int or :class:`Key`. Secret; never printed.
    context_width : tokens of context hashed into each draw (>= 1 recommended: with 0 every step
        uses the same noise).
    seeding : ``"prev"`` (ordered h-gram) or ``"minhash"``. With ``minhash``, neighbouring
        contexts often share their hash, so ``skip_repeated`` leaves many steps unwatermarked.
    skip_repeated : generation leaves steps whose context hash occurred earlier in the row
        (prompt included) unwatermarked.
    dedup : detection counts each (context, token) pair once per document.

    Example
    -------
    >>> import numpy as np, tokenmark as tm
    >>> wm = tm.Gumbel(key=b"my secret", context_width=4)
    >>> logits = np.zeros((1, 100), dtype=np.float32)
    >>> tok = wm.sample(logits, np.array([[5, 17, 3, 99]]))
    >>> 0 <= int(tok[0]) < 100
    True
    >>> int(wm.detect([[5, 17, 3, 99, int(tok[0])]]).n_scored[0])
    1
    """

    scheme_name: ClassVar[str] = "gumbel"

    key: Key = field(repr=True)
    context_width: int = 4
    seeding: str = "prev"
    skip_repeated: bool = True
    dedup: bool = True

    def __post_init__(self):
        object.__setattr__(self, "key", Key(self.key))
        object.__setattr__(self, "context_width", check_context_width(self.context_width))
        check_choice(self.seeding, "seeding", SEEDINGS)
        object.__setattr__(self, "dedup", check_bool(self.dedup, "dedup"))
        object.__setattr__(self, "skip_repeated", check_bool(self.skip_repeated, "skip_repeated"))

    @property
    def seeding_code(self) -> int:
        return SEEDINGS[self.seeding]

    # -- generation -----------------------------------------------------------------------
    def choose(self, logits, input_ids, *, salt=0, enabled=None, backend: str = "auto"):
        """The Gumbel choice per row of ``logits [batch, vocab]`` (after temperature / top-k /
        top-p), int64 ``[batch]``, -1 where the row is not watermarked (disabled, fewer than
        ``context_width`` ids, or a repeated context). A numpy array for host logits; for CUDA
        logits a tensor on their device, with -2 where a row has no finite logit."""
        batch = logits.shape[0] if getattr(logits, "ndim", 0) == 2 else 1  # else: ops says why
        return ops.sample_gumbel(
            logits,
            input_ids,
            keys=self.key.words,
            salts=check_salt(salt, batch),
            context_width=self.context_width,
            seeding=self.seeding_code,
            skip_repeated=self.skip_repeated,
            enabled=enabled,
            backend=backend,
        )

    def sample(
        self, logits, input_ids, *, salt=0, enabled=None, rng=None, backend: str = "auto"
    ) -> np.ndarray:
        """Next tokens ``[batch]``: the Gumbel choice where watermarked, else a plain sample of
        ``softmax(logits)`` drawn with ``rng`` (a ``numpy.random.Generator``). Host logits; on
        CUDA use :meth:`choose` (a device tensor, no sync) or the logits processor."""
        if getattr(logits, "is_cuda", False):
            raise ValueError("logits: sample takes host logits; use choose() for CUDA tensors")
        rng = check_rng(rng)
        out = self.choose(logits, input_ids, salt=salt, enabled=enabled, backend=backend)
        rows = np.flatnonzero(out < 0)
        if rows.size:
            x = host_array(
                logits[rows].float() if hasattr(logits, "float") else logits[rows], "logits"
            )
            x = x.astype(np.float64)
            bad = ~np.isfinite(x.max(axis=1)) | np.isnan(x).any(axis=1)
            if bad.any():
                r = int(rows[np.flatnonzero(bad)[0]])
                raise ValueError(
                    f"logits: row {r} (left unwatermarked, so sampled from softmax) has NaN, "
                    "+inf or no finite entry; expected finite logits, -inf where masked"
                )
            p = np.exp(x - x.max(axis=1, keepdims=True))
            p /= p.sum(axis=1, keepdims=True)
            out[rows] = [rng.choice(p.shape[1], p=pr) for pr in p]
        return out

    def logits_processor(self, salt=0, backend: str = "auto"):
        """A transformers ``LogitsProcessor`` that makes ``generate`` emit the Gumbel choice.
        Put it last in the list, after any temperature / top-k / top-p processors."""
        from .integrations.transformers import GumbelLogitsProcessor

        return GumbelLogitsProcessor(self, salt=salt, backend=backend)

    # -- detection ------------------------------------------------------------------------
    def detect(
        self,
        sequences,
        *,
        prefix_lengths=None,
        salt=0,
        dedup: bool | None = None,
        return_flags: bool = False,
        window: int | None = None,
        backend: str = "auto",
    ) -> GumbelResult:
        """Score token id sequences for this watermark.

        Parameters
        ----------
        sequences : list of token id sequences, a 2-D array/tensor, or a :class:`Ragged`.
        prefix_lengths : per document, how many leading tokens are known context (not scored).
        salt : the generation's salt, one for all documents or one per document.
        dedup : override the scheme's ``dedup``.
        return_flags : also return per-token counted flags.
        window : also find the window of this many counted tokens with the largest score per
            document (a watermarked passage inside other text): ``window_start`` (its first
            token's position), ``window_score`` and ``window_p_value``, the exact Gamma(window,
            1) tail times the number of windows (Bonferroni: valid whatever their overlap,
            conservative). Scored on the host (CUDA input is copied there).
        """
        window = check_window_request(window, backend)
        rag = device_ragged(sequences) if window is None else None  # CUDA: on its device
        if rag is None:
            rag = as_ragged(sequences)
        n_docs = len(rag)
        out = ops.score_gumbel(
            rag.tokens,
            rag.offsets,
            key=self.key.words,
            salts=check_salt(salt, n_docs),
            context_width=self.context_width,
            seeding=self.seeding_code,
            dedup=self.dedup if check_optional_bool(dedup, "dedup") is None else dedup,
            prefix_lengths=check_prefix(prefix_lengths, n_docs),
            want_flags=check_bool(return_flags, "return_flags") or window is not None,
            want_words=window is not None,
            backend=backend,
        )
        n, score, counted = out[:3]
        if not isinstance(rag.offsets, np.ndarray):
            # Scored on the device: per-document results (and flags) come back for the p-values.
            n, score = n.cpu().numpy(), score.cpu().numpy()
            counted = counted.cpu().numpy() if return_flags else None
            rag = Ragged(rag.tokens, rag.offsets.cpu().numpy())
        extra: dict[str, Any] = {}
        if window is not None:
            extra = self._window(out[3], counted, rag.offsets, window)
        return GumbelResult(
            n_scored=n,
            score=score,
            p_value=gamma_pvalue(score, n),
            counted=split_docs(counted, rag.offsets) if return_flags else None,
            **extra,
        )

    def _window(self, words, counted, offsets, window: int) -> dict[str, Any]:
        """The best window's fields from each counted token's PRF word (``words``, per token)."""
        start, best, w, n_windows = windows_over_counted(
            score_term(words), counted, offsets, window
        )
        wp = window_pvalue(n_windows, gamma_pvalue(best, w))
        return dict(window=window, window_start=start, window_score=best, window_p_value=wp)

    def detect_many(
        self,
        sequences,
        *,
        keys,
        prefix_lengths=None,
        salt=0,
        dedup: bool | None = None,
        backend: str = "auto",
    ) -> list[GumbelResult]:
        """Score token id sequences for K keys at once, with this config's other parameters.

        One pass over the documents (``tokenmark.score_gumbel_keys``): each key's result equals
        ``dataclasses.replace(self, key=k).detect(sequences, ...)`` bit for bit (no flags). This
        config's own key is not used unless it is in ``keys``.

        Parameters
        ----------
        sequences : list of token id sequences, a 2-D array, or a :class:`Ragged` (host memory).
        keys : K keys: :class:`Key` objects or key material (bytes, str, int).
        prefix_lengths, salt, dedup, backend : as in :meth:`detect` (one salt set for all keys).

        Returns
        -------
        list of K :class:`GumbelResult`, in the order of ``keys``.

        Examples
        --------
        >>> import tokenmark as tm
        >>> wm = tm.Gumbel(key=b"unused", context_width=1)
        >>> res = wm.detect_many([[5, 17, 3, 99]], keys=[b"v1", b"v2"])
        >>> len(res), res[1].n_scored.tolist()
        (2, [3])
        """
        rag = as_ragged(sequences)
        n_docs = len(rag)
        n, score, _ = ops.score_gumbel_keys(
            rag.tokens,
            rag.offsets,
            keys=[k.words for k in keys_list(keys)] or np.zeros((0, 4), np.uint32),
            salts=check_salt(salt, n_docs),
            context_width=self.context_width,
            seeding=self.seeding_code,
            dedup=self.dedup if check_optional_bool(dedup, "dedup") is None else dedup,
            prefix_lengths=check_prefix(prefix_lengths, n_docs),
            backend=backend,
        )
        return [GumbelResult(n_scored=n, score=s, p_value=gamma_pvalue(s, n)) for s in score]
