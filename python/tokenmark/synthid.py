"""SynthID-Text (Dathathri et al., Nature 2024): tournament sampling with keyed g-values, as a
plain, serialisable config."""

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
    check_int,
    check_optional_bool,
    check_prefix,
    check_rng,
    check_uniforms,
    check_weights,
    host_view,
    is_cuda,
)
from .reference.prf import SEEDINGS
from .stats import (
    binomial_pvalue,
    binomial_sf,
    popcount32,
    weighted_mean_z,
    window_pvalue,
    windows_over_counted,
)


@dataclass(frozen=True)
class SynthIDResult(DocResult):
    """Per-document SynthID-Text scores (arrays of length ``n_docs``).

    ``ones[d, l]`` counts the g-values of layer ``l`` equal to 1 over the ``n_scored`` counted
    tokens. ``mean_score`` is their mean over tokens and layers; under the null (text written
    without this key, repeated (context, token) pairs removed) the ``n * layers`` g-values are
    independent fair coins, so ``p_value = P[Binomial(n * layers, 1/2) >= ones]`` is exact.
    ``weighted_score`` weighs layer ``l`` by ``weights[l]``; its ``weighted_p_value`` is the
    normal approximation (see :func:`tokenmark.stats.weighted_mean_z`).
    """

    n_scored: np.ndarray
    ones: np.ndarray  # [n_docs, layers]
    mean_score: np.ndarray
    p_value: np.ndarray
    weighted_score: np.ndarray
    weighted_z: np.ndarray
    weighted_p_value: np.ndarray
    counted: list[np.ndarray] | None = None
    window: int | None = None
    window_start: np.ndarray | None = None  # token position of the best window's first token
    window_ones: np.ndarray | None = None  # its g-values equal to 1 (window tokens x layers)
    window_p_value: np.ndarray | None = None  # Bonferroni-corrected over the windows

    def to_records(self) -> list[dict[str, Any]]:
        """One JSON-ready dict per document."""
        out = []
        for d in range(len(self)):
            empty = self.n_scored[d] == 0
            rec: dict[str, Any] = {
                "n_scored": int(self.n_scored[d]),
                "mean_score": None if empty else float(self.mean_score[d]),
                "p_value": float(self.p_value[d]),
                "weighted_score": None if empty else float(self.weighted_score[d]),
                "weighted_p_value": float(self.weighted_p_value[d]),
            }
            if self.window_p_value is not None:
                rec["window"] = self._window_record(d, "ones", self.window_ones, int)
            out.append(rec)
        return out


def _truncate_at_eos(rag: Ragged, eos_token_id: int, prefix: np.ndarray | None = None) -> Ragged:
    """Each document up to (not including) its first ``eos_token_id`` that follows its prefix
    (``prefix``: int64 per document, or None) and the leading run of that id (left padding where
    the pad id is the eos id, as in many models: the generated text ends at the eos after it).
    A document of eos alone is cut at its prefix."""
    lengths = rag.lengths
    doc = np.repeat(np.arange(len(rag)), lengths)
    pos = np.arange(len(rag.tokens)) - rag.offsets[:-1][doc]
    hit = rag.tokens == eos_token_id
    start = lengths.copy()  # where the leading run of eos ends
    np.minimum.at(start, doc[~hit], pos[~hit])
    start[start == lengths] = 0  # all eos: nothing generated
    if prefix is not None:
        start = np.maximum(start, prefix)
    first = lengths.copy()
    hit &= pos >= start[doc]
    np.minimum.at(first, doc[hit], pos[hit])
    keep = pos < first[doc]
    offsets = np.concatenate([[0], np.cumsum(first)]).astype(np.int64)
    return Ragged(np.ascontiguousarray(rag.tokens[keep]), offsets)


def _truncate_at_eos_device(rag: Ragged, eos_token_id: int, prefix: np.ndarray | None) -> Ragged:
    """:func:`_truncate_at_eos` on CUDA tensors, on their device (the tokens stay there)."""
    import torch

    tokens, offsets = rag.tokens, rag.offsets
    lengths = offsets[1:] - offsets[:-1]
    dev = tokens.device
    doc = torch.repeat_interleave(torch.arange(len(lengths), device=dev), lengths)
    pos = torch.arange(tokens.numel(), device=dev) - offsets[:-1][doc]
    hit = tokens == eos_token_id
    # Where each document's leading run of eos ends, then its first eos from there on (its
    # length when it has none).
    start = lengths.scatter_reduce(0, doc, torch.where(hit, lengths[doc], pos), reduce="amin")
    start = torch.where(start == lengths, 0, start)  # all eos: nothing generated
    if prefix is not None:
        start = torch.maximum(start, torch.as_tensor(prefix, device=dev))
    hit &= pos >= start[doc]
    first = lengths.scatter_reduce(0, doc, torch.where(hit, pos, lengths[doc]), reduce="amin")
    keep = pos < first[doc]
    new_offsets = torch.zeros(len(lengths) + 1, dtype=torch.int64, device=dev)
    torch.cumsum(first, 0, out=new_offsets[1:])
    return Ragged(tokens[keep].contiguous(), new_offsets)


@dataclass(frozen=True)
class SynthID(SchemeConfig):
    """SynthID-Text: tournament sampling with ``layers`` layers of 2 leaves per match (the
    non-distortionary variant), g-values from the keyed PRF of (previous ``context_width``
    tokens, token).

    Each step samples from ``p * prod_l (1 + g_l - E[g_l])`` (the tournament in closed form),
    which over keys is ``p`` itself. Steps whose context occurred within the last
    ``context_history`` positions are sampled without the tournament (their g-values would
    repeat).

    Parameters
    ----------
    key : bytes, str, int or :class:`Key`. Secret; never printed.
    layers : tournament layers, 1..32 (default 30).
    context_width : tokens of context hashed into the g-values.
    seeding : ``"prev"`` or ``"minhash"``. With ``minhash``, neighbouring contexts often share
        their hash, so the repeated-context mask leaves over half of the steps unwatermarked
        (docs/prf.md): keep ``"prev"`` unless you need minhash's robustness.
    top_k : 0 for the whole vocabulary, else the tournament runs over the k largest logits.
    context_history : positions searched for a repeated context at generation (0: none).
    dedup : detection counts each (context, token) pair once per document.

    Example
    -------
    >>> import numpy as np, tokenmark as tm
    >>> wm = tm.SynthID(key=b"my secret", layers=30)
    >>> logits = np.zeros((1, 100), dtype=np.float32)
    >>> tok = wm.sample(logits, np.array([[5, 17, 3, 99]]), rng=np.random.default_rng(0))
    >>> int(wm.detect([[5, 17, 3, 99, int(tok[0])]]).n_scored[0])
    1
    """

    scheme_name: ClassVar[str] = "synthid"

    key: Key = field(repr=True)
    layers: int = 30
    context_width: int = 4
    seeding: str = "prev"
    top_k: int = 0
    context_history: int = 1024
    dedup: bool = True

    def __post_init__(self):
        object.__setattr__(self, "key", Key(self.key))
        object.__setattr__(self, "context_width", check_context_width(self.context_width))
        check_choice(self.seeding, "seeding", SEEDINGS)
        object.__setattr__(self, "dedup", check_bool(self.dedup, "dedup"))
        for name, lo, hi in (
            ("layers", 1, 32),
            ("top_k", 0, 2**31 - 1),
            ("context_history", 0, 2**40),
        ):
            object.__setattr__(self, name, check_int(getattr(self, name), name, lo, hi))

    @property
    def seeding_code(self) -> int:
        return SEEDINGS[self.seeding]

    # -- generation -----------------------------------------------------------------------
    def sample(
        self,
        logits,
        input_ids,
        *,
        uniforms=None,
        rng=None,
        enabled=None,
        return_marked: bool = False,
        backend: str = "auto",
    ):
        """Next tokens ``[batch]`` (int64) by tournament sampling of ``logits [batch, vocab]``
        (after temperature / top-p). ``uniforms`` (float64 in [0, 1), one per row) are the
        sampling draws; without them they come from ``rng`` (a ``numpy.random.Generator``).
        With ``return_marked`` also return which rows ran the tournament."""
        rng = check_rng(rng)
        return_marked = check_bool(return_marked, "return_marked")
        batch = logits.shape[0] if getattr(logits, "ndim", 0) == 2 else 1  # else: ops says why
        if not is_cuda(logits):
            host_view(logits, "logits")  # a bad logits argument is named before uniforms
        uniforms = rng.random(batch) if uniforms is None else check_uniforms(uniforms, batch)
        tokens, marked = ops.sample_synthid(
            logits,
            input_ids,
            keys=self.key.words,
            uniforms=uniforms,
            context_width=self.context_width,
            seeding=self.seeding_code,
            layers=self.layers,
            top_k=self.top_k,
            context_history=self.context_history,
            enabled=enabled,
            backend=backend,
        )
        return (tokens, marked) if return_marked else tokens

    def logits_processor(self, backend: str = "auto"):
        """A transformers ``LogitsProcessor`` that makes ``generate`` emit the tournament's
        sample. Put it last in the list, after any temperature / top-p processors."""
        from .integrations.transformers import SynthIDLogitsProcessor

        return SynthIDLogitsProcessor(self, backend=backend)

    # -- detection ------------------------------------------------------------------------
    def detect(
        self,
        sequences,
        *,
        prefix_lengths=None,
        eos_token_id: int | None = None,
        weights=None,
        dedup: bool | None = None,
        return_flags: bool = False,
        window: int | None = None,
        backend: str = "auto",
    ) -> SynthIDResult:
        """Score token id sequences for this watermark.

        Parameters
        ----------
        sequences : list of token id sequences, a 2-D array/tensor, or a :class:`Ragged`.
        prefix_lengths : per document, how many leading tokens are known context (not scored).
        eos_token_id : each document ends before its first occurrence of this id after its
            prefix and after any leading run of it (left padding with pad = eos): what follows
            is padding, not generated text.
        weights : per-layer weights of the weighted-mean score (default: linear 10 -> 1).
        dedup : override the scheme's ``dedup``.
        return_flags : also return per-token counted flags.
        window : also find the window of this many counted tokens with the most g-values equal
            to 1 per document (a watermarked passage inside other text): ``window_start`` (its
            first token's position), ``window_ones`` and ``window_p_value``, the exact
            Binomial(window x layers, 1/2) tail times the number of windows (Bonferroni: valid
            whatever their overlap, conservative). Scored on the host (CUDA input is copied).
        """
        window = check_window_request(window, backend)
        # CUDA input is scored on its device (the windows' per-token words: on the host)
        rag = device_ragged(sequences) if window is None else None
        on_device = rag is not None
        if not on_device:
            rag = as_ragged(sequences)
        prefix = check_prefix(prefix_lengths, len(rag))
        if eos_token_id is not None:
            eos = check_int(eos_token_id, "eos_token_id", 0, 2**31 - 1)
            cut = _truncate_at_eos_device if on_device else _truncate_at_eos
            rag = cut(rag, eos, prefix)
        w = check_weights(weights, self.layers)
        out = ops.score_synthid(
            rag.tokens,
            rag.offsets,
            key=self.key.words,
            context_width=self.context_width,
            seeding=self.seeding_code,
            layers=self.layers,
            dedup=self.dedup if check_optional_bool(dedup, "dedup") is None else dedup,
            prefix_lengths=prefix,
            want_flags=check_bool(return_flags, "return_flags") or window is not None,
            want_words=window is not None,
            backend=backend,
        )
        n, ones, counted = out[:3]
        if on_device:
            # Scored on the device: per-document counts (and flags) come back for the p-values.
            n, ones = n.cpu().numpy(), ones.cpu().numpy()
            counted = counted.cpu().numpy() if return_flags else None
            rag = Ragged(rag.tokens, rag.offsets.cpu().numpy())
        extra = self._window(out[3], counted, rag.offsets, window) if window is not None else {}
        counted = split_docs(counted, rag.offsets) if return_flags else None
        return self._result(n, ones, w, counted, **extra)

    def _window(self, words, counted, offsets, window: int) -> dict[str, Any]:
        """The best window's fields: the g-values equal to 1 per token are the set bits of its
        word's low ``layers`` bits."""
        per_token = popcount32(words & np.uint32((1 << self.layers) - 1))
        start, best, w, n_windows = windows_over_counted(per_token, counted, offsets, window)
        tail = binomial_sf(best - 1, w * self.layers, 0.5)
        return dict(window=window, window_start=start, window_ones=best,
                    window_p_value=window_pvalue(n_windows, tail))  # fmt: skip

    def _result(self, n, ones, w, counted=None, **window) -> SynthIDResult:
        total = ones.sum(axis=1)
        bits = n * self.layers
        with np.errstate(invalid="ignore", divide="ignore"):
            mean = np.where(n > 0, total / np.maximum(bits, 1), np.nan)
        ws, wz, wp = weighted_mean_z(ones, n, w)
        return SynthIDResult(
            n_scored=n,
            ones=ones,
            mean_score=mean,
            p_value=binomial_pvalue(total, bits, 0.5),
            weighted_score=ws,
            weighted_z=wz,
            weighted_p_value=wp,
            counted=counted,
            **window,
        )

    def detect_many(
        self,
        sequences,
        *,
        keys,
        prefix_lengths=None,
        eos_token_id: int | None = None,
        weights=None,
        dedup: bool | None = None,
        backend: str = "auto",
    ) -> list[SynthIDResult]:
        """Score token id sequences for K keys at once, with this config's other parameters.

        One pass over the documents (``tokenmark.score_synthid_keys``): each key's result
        equals ``dataclasses.replace(self, key=k).detect(sequences, ...)`` (no flags). This
        config's own key is not used unless it is in ``keys``.

        Parameters
        ----------
        sequences : list of token id sequences, a 2-D array, or a :class:`Ragged` (host memory).
        keys : K keys: :class:`Key` objects or key material (bytes, str, int).
        prefix_lengths, eos_token_id, weights, dedup, backend : as in :meth:`detect`.

        Returns
        -------
        list of K :class:`SynthIDResult`, in the order of ``keys``.

        Examples
        --------
        >>> import tokenmark as tm
        >>> wm = tm.SynthID(key=b"unused", layers=4, context_width=1)
        >>> res = wm.detect_many([[5, 17, 3, 99]], keys=[b"v1", b"v2"])
        >>> len(res), res[0].ones.shape
        (2, (1, 4))
        """
        rag = as_ragged(sequences)
        if eos_token_id is not None:
            rag = _truncate_at_eos(rag, check_int(eos_token_id, "eos_token_id", 0, 2**31 - 1))
        w = check_weights(weights, self.layers)
        n, ones, _ = ops.score_synthid_keys(
            rag.tokens,
            rag.offsets,
            keys=[k.words for k in keys_list(keys)] or np.zeros((0, 4), np.uint32),
            context_width=self.context_width,
            seeding=self.seeding_code,
            layers=self.layers,
            dedup=self.dedup if check_optional_bool(dedup, "dedup") is None else dedup,
            prefix_lengths=check_prefix(prefix_lengths, len(rag)),
            backend=backend,
        )
        return [self._result(n, o, w) for o in ones]
