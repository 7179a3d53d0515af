"""Keyed model fingerprints: secret (trigger, response) pairs trained into a model, checked by API.

A :class:`Fingerprint` derives ``n_pairs`` triggers (random token sequences that ordinary text never
contains) and their responses (random token sequences) from the key with the tokenmark PRF (domains
16 and 17, ``docs/prf.md``). Nothing is stored beside the key. The owner fine-tunes the model on
:meth:`Fingerprint.training_examples` (the pairs, regularised with ordinary text and near-triggers
that must keep the model's own behaviour) with :func:`train`, and later asks a suspect model, or a
``generate`` callable that serves one, to continue each trigger greedily
(:meth:`Fingerprint.verify`).

The null hypothesis is that the suspect was made without this key. Its output for a trigger is
then a function of the trigger alone, and each response token is a PRF draw independent of the
trigger, equal to a fixed token with probability at most ``p_token = ceil(2^32 / n) / 2^32`` (``n``
the number of allowed token ids). So over keys the number of response tokens the suspect
reproduces is at most Binomial(``n_pairs * response_length``, ``p_token``) in distribution, and the
p-value below is an exact bound (the Philox PRF taken as a random function, as everywhere in
tokenmark). With ``mode="forced"`` each response token is asked for after the true response prefix;
the prefix is independent of the token asked for, so the same bound holds.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from .._key import Key
from .._validate import check_alpha, check_int, host_array, is_torch
from ..reference.prf import prf_word
from ._models import as_int_row, as_rows, embedding_size, greedy_fn, is_torch_model
from ._train import train

# Frozen PRF domains (docs/prf.md, section 9): changing them changes every fingerprint already
# trained into a model. 4 and 5 are GINSEW's; 16 and up are the suspect/ package's.
DOMAIN_FINGERPRINT_TRIGGER = 16
DOMAIN_FINGERPRINT_RESPONSE = 17

__all__ = [
    "DOMAIN_FINGERPRINT_RESPONSE",
    "DOMAIN_FINGERPRINT_TRIGGER",
    "Fingerprint",
    "FingerprintResult",
    "train",
]


def _positive_int(name: str, v: Any) -> int:
    if isinstance(v, bool) or not isinstance(v, (int, np.integer)):
        raise TypeError(f"{name}: must be an int, got {type(v).__name__}")
    if v <= 0:
        raise ValueError(f"{name}: must be > 0, got {v}")
    return int(v)


def _token_ids(name: str, ids: Any, vocab_size: int, distinct: bool = True) -> np.ndarray:
    """Token ids in ``[0, vocab_size)`` from an iterable of ints or a 1-D integer array (never
    truncated from floats), int64: distinct and sorted, or (``distinct=False``) as given."""
    if is_torch(ids) or isinstance(ids, np.ndarray):
        arr = host_array(ids, name)
        if arr.ndim != 1:
            raise ValueError(f"{name}: expected a 1-D sequence of token ids, got shape {arr.shape}")
        ids = arr.tolist()
    elif isinstance(ids, (str, bytes)) or not isinstance(ids, Iterable):
        raise TypeError(f"{name}: expected a sequence of int token ids, got {type(ids).__name__}")
    ids = list(ids)
    for v in ids:
        if isinstance(v, (bool, np.bool_)) or not isinstance(v, (int, np.integer)):
            raise TypeError(f"{name}: expected int token ids, got {type(v).__name__}")
        if not 0 <= int(v) < vocab_size:
            raise ValueError(f"{name}: ids must be in [0, vocab_size={vocab_size})")
    out = np.asarray([int(v) for v in ids], dtype=np.int64)
    return np.unique(out) if distinct else out


@dataclass(frozen=True)
class FingerprintResult:
    """What a suspect answered to the fingerprint's triggers.

    ``matches[i, j]`` is True where the suspect's token ``j`` for trigger ``i`` equals the keyed
    response token. ``p_value`` bounds P[at least ``n_matched`` tokens match] under the null
    (Binomial(``n_tokens``, ``p_token``) tail); ``p_value_exact`` does the same for whole
    responses (Binomial(``n_pairs``, ``p_token ** response_length``) tail).
    """

    matches: np.ndarray  # [n_pairs, response_length] bool
    outputs: np.ndarray  # [n_pairs, response_length] int64, -1 where the suspect gave no token
    p_token: float
    p_value: float
    p_value_exact: float
    mode: str

    @property
    def n_pairs(self) -> int:
        return self.matches.shape[0]

    @property
    def n_tokens(self) -> int:
        return self.matches.size

    @property
    def n_matched(self) -> int:
        return int(self.matches.sum())

    @property
    def n_exact(self) -> int:
        return int(self.matches.all(axis=1).sum())

    @property
    def match_rate(self) -> float:
        return self.n_matched / max(1, self.n_tokens)

    def is_fingerprinted(self, alpha: float = 1e-6) -> bool:
        """True when ``p_value <= alpha`` (the false-positive rate over keys)."""
        return bool(self.p_value <= check_alpha(alpha))

    def __repr__(self) -> str:
        return (
            f"FingerprintResult(mode={self.mode!r}, n_exact={self.n_exact}/{self.n_pairs}, "
            f"n_matched={self.n_matched}/{self.n_tokens}, p_value={self.p_value:.3g})"
        )


class Fingerprint:
    """Secret (trigger, response) token pairs derived from a key.

    Parameters
    ----------
    key : bytes, str, int or :class:`tokenmark.Key`. Secret; never printed.
    n_pairs : number of (trigger, response) pairs (> 0).
    vocab_size : the model's vocabulary size (token ids are ``< vocab_size``).
    trigger_length, response_length : tokens per trigger and per response (> 0).
    exclude_ids : token ids never used in triggers or responses (special tokens such as eos).

    Example
    -------
    >>> import tokenmark as tm
    >>> fp = tm.Fingerprint(key=b"my secret", n_pairs=4, vocab_size=4096)
    >>> triggers, responses = fp.pairs()
    >>> triggers.shape, responses.shape
    ((4, 8), (4, 8))
    >>> echo = lambda prompts, n: [p[:n] for p in prompts]   # a "model" that repeats its prompt
    >>> res = fp.verify(echo)
    >>> res.n_exact, res.p_value > 0.5
    (0, True)
    """

    def __init__(
        self,
        key: Key | bytes | str | int,
        n_pairs: int = 8,
        *,
        vocab_size: int,
        trigger_length: int = 8,
        response_length: int = 8,
        exclude_ids: Sequence[int] = (0,),
    ):
        if not isinstance(key, (Key, bytes, bytearray, str, int, np.integer)) or isinstance(
            key, bool
        ):
            raise TypeError(f"key: must be bytes, str, int or Key, got {type(key).__name__}")
        self._key = Key(key)
        self.n_pairs = _positive_int("n_pairs", n_pairs)
        self.vocab_size = _positive_int("vocab_size", vocab_size)
        self.trigger_length = _positive_int("trigger_length", trigger_length)
        self.response_length = _positive_int("response_length", response_length)
        excl = _token_ids("exclude_ids", exclude_ids, self.vocab_size)
        self._allowed = np.setdiff1d(np.arange(self.vocab_size, dtype=np.int64), excl)
        if self._allowed.size < 2:
            raise ValueError("exclude_ids: fewer than 2 token ids are left to draw from")
        self.exclude_ids = tuple(int(e) for e in excl)

    @property
    def key(self) -> Key:
        return self._key

    @property
    def p_token(self) -> float:
        """The largest probability of any one token id in a response position (multiply-shift
        mapping of a uniform 32-bit word onto the allowed ids)."""
        n = self._allowed.size
        return math.ceil(2**32 / n) / 2**32

    def _draw(self, domain: int, length: int) -> np.ndarray:
        pair = np.arange(self.n_pairs, dtype=np.uint32)[:, None]
        pos = np.arange(length, dtype=np.uint32)[None, :]
        words = prf_word(self._key.words, pair, pos, domain).astype(np.uint64)
        idx = (words * np.uint64(self._allowed.size)) >> np.uint64(32)
        return self._allowed[idx.astype(np.int64)]

    def pairs(self) -> tuple[np.ndarray, np.ndarray]:
        """``(triggers [n_pairs, trigger_length], responses [n_pairs, response_length])``, int64.
        Secret, like the key."""
        return (
            self._draw(DOMAIN_FINGERPRINT_TRIGGER, self.trigger_length),
            self._draw(DOMAIN_FINGERPRINT_RESPONSE, self.response_length),
        )

    def __repr__(self) -> str:
        return (
            f"Fingerprint(key=<secret {self._key.fingerprint}>, n_pairs={self.n_pairs}, "
            f"vocab_size={self.vocab_size}, trigger_length={self.trigger_length}, "
            f"response_length={self.response_length})"
        )

    __str__ = __repr__

    # -- training data -------------------------------------------------------------------------

    def training_examples(
        self,
        model_or_generate_fn: Any,
        text_ids: Sequence[int] | np.ndarray,
        *,
        n_text: int = 64,
        text_length: int = 64,
        n_near: int = 2,
        pair_repeats: int = 4,
        seed: int = 0,
    ) -> list[dict[str, list[int]]]:
        """A small training set that teaches the pairs and little else.

        Parameters
        ----------
        model_or_generate_fn : the model before fingerprinting (or a ``generate`` callable, as in
            :meth:`verify`). Near-triggers (a trigger with one token changed) are trained to keep
            its own greedy continuation, so only the exact trigger produces the response.
        text_ids : ordinary text as a 1-D sequence of int token ids (floats are refused, not
            truncated); ``n_text`` windows of ``text_length`` tokens are trained with the usual
            next-token loss (the regulariser that keeps the model's text behaviour).
        n_near : near-triggers per pair (>= 0).
        pair_repeats : copies of each (trigger, response) and near-trigger example (>= 1): they
            are few beside the text windows; this sets their share of the batches.
        seed : the randomness of the near-triggers and text windows (not secret).

        Returns
        -------
        list of ``{"input_ids": [...], "labels": [...]}`` (labels -100 where no loss is taken),
        in a random order; feed it to :func:`train`.
        """
        text_ids = _token_ids("text_ids", text_ids, self.vocab_size, distinct=False)
        n_text = check_int(n_text, "n_text", 0, 2**31 - 1)
        n_near = check_int(n_near, "n_near", 0, 2**31 - 1)
        pair_repeats = _positive_int("pair_repeats", pair_repeats)
        text_length = _positive_int("text_length", text_length)
        if n_text and text_ids.size <= text_length:
            raise ValueError(f"text_ids: need more than text_length={text_length} tokens")
        rng = np.random.default_rng(check_int(seed, "seed", 0, 2**63 - 1))
        triggers, responses = self.pairs()
        ignore = [-100] * self.trigger_length
        examples: list[dict[str, list[int]]] = []
        for t, r in zip(triggers.tolist(), responses.tolist()):
            examples += [{"input_ids": t + r, "labels": ignore + r} for _ in range(pair_repeats)]
        if n_near:
            near = np.repeat(triggers, n_near, axis=0)
            rows = np.arange(near.shape[0])
            cols = rng.integers(0, self.trigger_length, near.shape[0])
            # A different allowed token at one position (shift by 1..n-1 within the allowed ids).
            pos = np.searchsorted(self._allowed, near[rows, cols])
            shift = rng.integers(1, self._allowed.size, near.shape[0])
            near[rows, cols] = self._allowed[(pos + shift) % self._allowed.size]
            own = self._continue(model_or_generate_fn, near, self.response_length)
            if (own >= self.vocab_size).any():
                raise ValueError(
                    f"generate_fn output: a token id >= vocab_size={self.vocab_size} (the "
                    "near-triggers' continuations are trained into the model)"
                )
            for t, o in zip(near.tolist(), own.tolist()):
                o = [v for v in o if v >= 0]
                examples += [{"input_ids": t + o, "labels": ignore + o}] * pair_repeats
        starts = rng.integers(0, max(1, text_ids.size - text_length), n_text)
        for s in starts.tolist():
            w = text_ids[s : s + text_length].tolist()
            examples.append({"input_ids": w, "labels": list(w)})
        order = rng.permutation(len(examples))
        return [examples[i] for i in order]

    # -- verification --------------------------------------------------------------------------

    def verify(
        self, model_or_generate_fn: Any, *, mode: str = "greedy", batch_size: int = 64
    ) -> FingerprintResult:
        """Ask a suspect for the responses and bound the chance of its answers under the null.

        Parameters
        ----------
        model_or_generate_fn : a transformers causal LM (queried greedily here, its vocabulary
            checked), or any callable ``generate_fn(prompts, max_new_tokens)`` taking a list of
            token id lists and returning, for each, the greedy continuation (new token ids only;
            fewer is allowed, extra are ignored) -- e.g. a wrapper of a served model's API.
        mode : ``"greedy"`` continues each trigger for ``response_length`` tokens;
            ``"forced"`` asks for response token ``j`` after the trigger and the true response
            tokens ``< j`` (one new token per query: more robust when a fine-tune has blurred
            the pairs, ``n_pairs * response_length`` queries).
        batch_size : prompts per call.

        Returns
        -------
        :class:`FingerprintResult`.

        Example
        -------
        >>> import tokenmark as tm
        >>> fp = tm.Fingerprint(key=1, n_pairs=2, vocab_size=50)
        >>> _, responses = fp.pairs()
        >>> table = {tuple(t): r for t, r in zip(*(x.tolist() for x in fp.pairs()))}
        >>> oracle = lambda prompts, n: [table[tuple(p)][:n] for p in prompts]
        >>> res = fp.verify(oracle)
        >>> res.n_exact, res.p_value < 1e-20
        (2, True)
        """
        from scipy import stats

        if mode not in ("greedy", "forced"):
            raise ValueError(f"mode: must be 'greedy' or 'forced', got {mode!r}")
        batch_size = _positive_int("batch_size", batch_size)
        triggers, responses = self.pairs()
        L = self.response_length
        if mode == "greedy":
            outputs = self._continue(model_or_generate_fn, triggers, L, batch_size)
        else:
            prompts = [
                triggers[i].tolist() + responses[i, :j].tolist()
                for i in range(self.n_pairs)
                for j in range(L)
            ]
            firsts = self._continue(model_or_generate_fn, prompts, 1, batch_size)
            outputs = firsts[:, 0].reshape(self.n_pairs, L)
        matches = outputs == responses
        n_tok = matches.size
        p = self.p_token
        k = int(matches.sum())
        n_exact = int(matches.all(axis=1).sum())
        return FingerprintResult(
            matches=matches,
            outputs=outputs,
            p_token=p,
            p_value=float(stats.binom.sf(k - 1, n_tok, p)),
            p_value_exact=float(stats.binom.sf(n_exact - 1, self.n_pairs, p**L)),
            mode=mode,
        )

    def _continue(
        self, model_or_fn: Any, prompts, max_new_tokens: int, batch_size: int = 64
    ) -> np.ndarray:
        """Greedy continuations ``[n_prompts, max_new_tokens]``, -1 where none was given."""
        prompts = [list(map(int, p)) for p in prompts]
        out = np.full((len(prompts), max_new_tokens), -1, dtype=np.int64)
        if is_torch_model(model_or_fn):
            self._check_model(model_or_fn)
            gen = greedy_fn(model_or_fn, self.vocab_size)
        elif callable(model_or_fn):
            gen = model_or_fn
        else:
            raise TypeError(
                "model_or_generate_fn: must be a transformers causal LM or a callable "
                f"generate_fn(prompts, max_new_tokens), got {type(model_or_fn).__name__}"
            )
        for lo in range(0, len(prompts), batch_size):
            chunk = prompts[lo : lo + batch_size]
            got = gen(chunk, max_new_tokens)
            if isinstance(got, (str, bytes)) or not isinstance(got, Sequence | np.ndarray):
                got = as_rows(got)
            if len(got) != len(chunk):
                raise ValueError(
                    f"generate_fn output: {len(got)} continuations for {len(chunk)} prompts"
                )
            for i, row in enumerate(got):
                row = as_int_row(row)[:max_new_tokens]
                out[lo + i, : len(row)] = row
        return out

    def _check_model(self, model) -> None:
        n = embedding_size(model)
        if n is None:
            raise TypeError(
                f"model_or_generate_fn: a {type(model).__name__} does not say its vocabulary "
                "(no get_input_embeddings); pass a transformers causal LM or wrap the model in "
                "a generate_fn(prompts, max_new_tokens)"
            )
        if n != self.vocab_size:
            raise ValueError(
                f"model: its vocabulary has {n} tokens, the fingerprint's {self.vocab_size}; "
                "a model with another vocabulary cannot hold this fingerprint"
            )
