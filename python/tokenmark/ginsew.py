"""GINSEW (Zhao, Li, Wang, ICML 2023): a model watermark that survives distillation.

The teacher's next-token distribution is perturbed: a keyed share ``fraction`` of the vocabulary
(G0) gains or loses mass ``eps (1 + cos(f t)) / (1 + 2 eps)`` against the rest (G1), ``t`` a keyed
time of the context. A student trained on the teacher's outputs inherits the sinusoid, and
:meth:`GINSEW.detect_model` (probing the suspect's next-token distributions) or
:meth:`GINSEW.detect` (only text the suspect wrote) finds it. Spec: ``docs/prf.md`` section 8.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass, field
from typing import ClassVar

import numpy as np

from . import ops
from ._inputs import as_ragged
from ._key import Key
from ._scheme import SchemeConfig
from ._validate import check_int, check_prefix, check_real, clamp_prefix, ids_in_range
from .reference import ginsew as _ref

T_SOURCES = ("context", "prompt_position")


@dataclass(frozen=True)
class GINSEW(SchemeConfig):
    """GINSEW model watermark: keyed vocabulary split, keyed time, sinusoidal mass shift.

    Parameters
    ----------
    key : bytes, str, int or :class:`Key`. Secret; never printed.
    epsilon : strength, >= 0 (the paper uses 0.2; the shift of G0's mass is at most
        ``2 eps / (1 + 2 eps)``).
    frequency : ``f`` of ``cos(f t)`` in radians per unit of ``t`` (``t`` in [0, 1)).
    context_width : ids of context hashed into the time (``t_source="context"``), >= 1.
    fraction : share of the vocabulary in G0, in (0, 1).
    t_source : ``"context"`` (the time of each step's last ``context_width`` ids) or
        ``"prompt_position"`` (the official code's choice: the time of the one id at
        ``prompt_position`` of the input, fixed for a whole generation). The latter is weaker:
        under a chat template that id is the same for every prompt, so every step of every
        answer has one time and the detector sees no sinusoid.
    prompt_position : the id's index for ``t_source="prompt_position"`` (the official code: 5).

    Example
    -------
    >>> import numpy as np, tokenmark as tm
    >>> wm = tm.GINSEW(key=b"hunter2", epsilon=0.2, frequency=16.0)
    >>> x = np.zeros((2, 10), dtype=np.float32)
    >>> _ = wm.apply_(x, np.array([[4, 7], [4, 9]]))
    >>> np.exp(x.astype(np.float64)).sum(axis=1).round(6).tolist()
    [1.0, 1.0]
    >>> "hunter2" in repr(wm)
    False
    """

    scheme_name: ClassVar[str] = "ginsew"

    key: Key = field(repr=True)
    epsilon: float = 0.2
    frequency: float = 16.0
    context_width: int = 1
    fraction: float = 0.5
    t_source: str = "context"
    prompt_position: int = 5

    def __post_init__(self):
        object.__setattr__(self, "key", Key(self.key))
        eps = check_real(self.epsilon, "epsilon")
        if not math.isfinite(eps) or eps < 0:
            raise ValueError(f"epsilon: must be finite and >= 0, got {eps}")
        object.__setattr__(self, "epsilon", eps)
        f = check_real(self.frequency, "frequency")
        if not math.isfinite(f) or f <= 0:
            raise ValueError(f"frequency: must be finite and > 0 (radians), got {f}")
        object.__setattr__(self, "frequency", f)
        frac = check_real(self.fraction, "fraction")
        if not math.isfinite(frac) or not 0.0 < frac < 1.0:
            raise ValueError(f"fraction: must be in the open interval (0, 1), got {frac}")
        object.__setattr__(self, "fraction", frac)
        for name, lo, hi in (("context_width", 1, 1024), ("prompt_position", 0, 2**31 - 1)):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, (int, np.integer)):
                raise TypeError(f"{name}: must be an int")
            if not lo <= int(v) <= hi:
                raise ValueError(f"{name}: must be in [{lo}, {hi}], got {v}")
            object.__setattr__(self, name, int(v))
        if self.t_source not in T_SOURCES:
            raise ValueError(f"t_source: expected one of {T_SOURCES}, got {self.t_source!r}")

    # -- derived --------------------------------------------------------------------------
    @property
    def position(self) -> int | None:
        """The id index that sets the time, or None for the context (the ops' ``position``)."""
        return None if self.t_source == "context" else self.prompt_position

    @property
    def amplitude(self) -> float:
        """``eps / (1 + 2 eps)``: the sinusoid's amplitude in the teacher's G0 mass."""
        return self.epsilon / (1.0 + 2.0 * self.epsilon)

    @functools.cached_property
    def row_params(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """(key [1, 4] uint32, epsilon [1], frequency [1], fraction [1] float64), made once."""
        return (
            self.key.words.reshape(1, 4).copy(),
            np.array([self.epsilon]),
            np.array([self.frequency]),
            np.array([self.fraction]),
        )

    def group_flags(self, vocab_size: int) -> np.ndarray:
        """``bool [vocab_size]``: True where a token is in G0."""
        vocab_size = check_int(vocab_size, "vocab_size", 0, 2**31 - 1)
        return _ref.group_flags(self.key.words, vocab_size, self.fraction)

    def times(self, input_ids) -> np.ndarray:
        """``float64 [batch]``: the keyed time of each row of ``input_ids [batch, length]`` (NaN
        for a row too short to have one; such rows are not perturbed)."""
        ids = _id_array(input_ids.cpu() if hasattr(input_ids, "cpu") else input_ids)
        if ids.ndim == 1:
            ids = ids[None, :]
        if ids.ndim != 2 or (ids.size and ids.dtype.kind not in "iu"):
            raise TypeError("input_ids: expected integer ids [batch, length]")
        if ids.size and not ids_in_range(ids):
            raise ValueError("input_ids: token ids must be in [0, 2^31)")
        return _ref.times(self.key.words, ids, self.context_width, self.position)

    # -- generation -----------------------------------------------------------------------
    def apply_(self, logits, input_ids, *, enabled=None, backend: str = "auto"):
        """Replace ``logits [batch, vocab]`` in place by the watermarked teacher's
        log-probabilities for the next token after ``input_ids``; returns ``logits``."""
        key, eps, freq, frac = self.row_params
        return ops.apply_ginsew_(
            logits,
            input_ids,
            keys=key,
            epsilon=eps,
            frequency=freq,
            context_width=self.context_width,
            fraction=frac,
            enabled=enabled,
            position=self.position,
            backend=backend,
        )

    def apply_sequence_(self, logits, input_ids, *, backend: str = "auto"):
        """The watermarked teacher at every position of whole sequences (distillation targets).

        ``logits [batch, length, vocab]`` (a torch tensor, or numpy) are the model's outputs on
        ``input_ids [batch, length]``; position ``i`` predicts the id after
        ``input_ids[:, :i + 1]``. Each position is replaced in place by the log-probabilities
        :meth:`apply_` would give after that prefix (positions whose prefix is too short for a
        time are only normalised).

        Example
        -------
        >>> import numpy as np, tokenmark as tm
        >>> wm = tm.GINSEW(key=b"k", context_width=2)
        >>> ids = np.array([[3, 1, 4, 1]])
        >>> x = np.random.default_rng(0).normal(size=(1, 4, 9)).astype(np.float32)
        >>> y = x[0, 2:3].copy()
        >>> _ = wm.apply_sequence_(x, ids)
        >>> _ = wm.apply_(y, ids[:, :3])
        >>> bool(np.array_equal(x[0, 2], y[0]))
        True
        """
        if getattr(logits, "ndim", 0) != 3:
            raise ValueError("logits: expected [batch, length, vocab]")
        batch, length, vocab = logits.shape
        ids = input_ids if hasattr(input_ids, "unfold") else _id_array(input_ids)
        if tuple(ids.shape) != (batch, length):
            raise ValueError(
                f"input_ids: expected shape [{batch}, {length}], got {tuple(ids.shape)}"
            )
        if length == 0:
            return logits
        flat = logits.reshape(batch * length, vocab)
        # The window of position i: the last w ids of the prefix (w = 1 at prompt_position: the
        # prefix's id at that index, when the prefix reaches it).
        if self.position is None:
            w, first = self.context_width, self.context_width - 1
        else:
            w, first = 1, self.position
        is_torch = hasattr(ids, "unfold")
        if is_torch:
            import torch

            pad = torch.zeros(batch, w - 1, dtype=ids.dtype, device=ids.device)
            win = torch.cat([pad, ids], dim=1).unfold(1, w, 1)  # [batch, length, w]
            if self.position is not None and length > self.position:
                win = ids[:, self.position : self.position + 1, None].expand(batch, length, 1)
            win = win.reshape(batch * length, w).contiguous()
            timed = (torch.arange(length, device=ids.device) >= first).repeat(batch)
        else:
            ids = np.asarray(ids)
            padded = np.concatenate([np.zeros((batch, w - 1), dtype=ids.dtype), ids], axis=1)
            win = np.lib.stride_tricks.sliding_window_view(padded, w, axis=1)
            if self.position is not None and length > self.position:
                win = np.broadcast_to(ids[:, self.position, None, None], (batch, length, 1))
            win = np.ascontiguousarray(win.reshape(batch * length, w))
            timed = np.tile(np.arange(length) >= first, batch)
        if self.position is not None and length <= self.position:
            timed = timed & False
        key, eps, freq, frac = self.row_params
        ops.apply_ginsew_(
            flat,
            win,
            keys=key,
            epsilon=eps,
            frequency=freq,
            context_width=w,
            fraction=frac,
            enabled=timed,
            backend=backend,
        )
        if not _same_memory(flat, logits):  # reshape copied (non-contiguous logits)
            logits[...] = flat.reshape(batch, length, vocab)
        return logits

    def logits_processor(self, backend: str = "auto", pad_token_id: int | None = None):
        """A transformers ``LogitsProcessor`` turning the scores into the watermarked teacher's
        log-probabilities inside ``generate`` (or for distillation targets).

        ``pad_token_id``: with ``t_source="prompt_position"`` and left-padded batches, the
        tokenizer's pad id, so that ``prompt_position`` counts from each row's first real id
        (leading ids equal to it are taken as padding). Without it rows are read as unpadded."""
        from .integrations.ginsew_transformers import GINSEWLogitsProcessor

        return GINSEWLogitsProcessor(self, backend=backend, pad_token_id=pad_token_id)

    # -- detection ------------------------------------------------------------------------
    def detect_model(self, model_or_fn, probes, batch_size: int = 64, *, skip_seen_windows=True):
        """Probe a suspect model: its G0 mass after each probe context, against the time.

        Parameters
        ----------
        model_or_fn : a transformers causal LM, or a callable ``fn(ids LongTensor [b, s]) ->
            probabilities [b, vocab]`` (the next-token distribution after the last position).
        probes : token id sequences (contexts), each at least ``context_width`` long
            (``prompt_position + 1`` in that mode). Probes of one length are batched together.
        batch_size : probes per forward call.
        skip_seen_windows : do not score a probe whose time window (its last ``context_width``
            ids, or the id at ``prompt_position``) occurs earlier in it followed by an id. Text
            the watermarked teacher wrote (e.g. our served outputs) carries the time of each
            such window in the id after it, and a clean model that copies from its context would
            look distilled. Turn it off only for probes the teacher did not write (e.g. held-out
            human text); in ``prompt_position`` mode it keeps only probes that end at that id.

        Returns
        -------
        :class:`GINSEWResult` (``z``, one-sided ``p_value``, ``p_snr``, ``n`` distinct times,
        ``amplitude``).

        Example
        -------
        >>> import numpy as np, tokenmark as tm
        >>> wm = tm.GINSEW(key=b"k")
        >>> flat = lambda ids: np.full((len(ids), 50), 1 / 50)   # a model that knows nothing
        >>> res = wm.detect_model(flat, [[i] for i in range(100)])
        >>> res.n, res.p_value
        (100, 1.0)
        """
        from .suspect import ginsew as _suspect

        return _suspect.detect_model(
            model_or_fn,
            probes,
            key_words=self.key.words,
            fraction=self.fraction,
            frequency=self.frequency,
            context_width=self.context_width,
            position=self.position,
            batch_size=batch_size,
            skip_seen_windows=skip_seen_windows,
        )

    def detect(self, sequences, prefix_lengths=None, *, skip_prompt_windows=True):
        """Text-only test: ``y = 1[token in G0]`` over text the suspect wrote, against the time
        of each token's context (needs about 4x more tokens than probes for the same power).

        Parameters
        ----------
        sequences : token id sequences (a list, a 2-D array or a :class:`Ragged`), all written
            by the suspect; one result for all of them.
        prefix_lengths : per document, leading ids not written by the suspect (the prompt).
        skip_prompt_windows : do not score a token whose time window occurs in its prompt
            followed by an id (the suspect could copy it; see :meth:`detect_model`). Turn it off
            only for prompts the watermarked teacher did not write.

        Example
        -------
        >>> import tokenmark as tm
        >>> res = tm.GINSEW(key=b"k").detect([[5, 17, 3, 99, 42, 7, 7, 1000]])
        >>> res.n_observations
        7
        """
        from .suspect import ginsew as _suspect

        rag = as_ragged(sequences)
        prefix = clamp_prefix(check_prefix(prefix_lengths, len(rag)), rag.offsets)
        return _suspect.detect_text(
            rag.tokens,
            rag.offsets,
            prefix,
            key_words=self.key.words,
            fraction=self.fraction,
            frequency=self.frequency,
            context_width=self.context_width,
            position=self.position,
            skip_prompt_windows=skip_prompt_windows,
        )


def _id_array(ids) -> np.ndarray:
    """``ids`` as a numpy array; rows of different lengths are refused by name."""
    try:
        return np.asarray(ids)
    except ValueError:
        raise ValueError(
            "input_ids: rows of different lengths (expected [batch, length])"
        ) from None


def _same_memory(a, b) -> bool:
    if hasattr(a, "data_ptr"):
        return a.data_ptr() == b.data_ptr() and b.is_contiguous()
    return np.shares_memory(a, b)
