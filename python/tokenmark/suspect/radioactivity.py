"""Radioactivity: was a suspect model trained on text watermarked with our KGW or Gumbel key?

Sander et al. (2024), "Watermarking makes language models radioactive": a model fine-tuned on
watermarked text reproduces the watermark's bias, so its own predictions score as watermarked.

- **Open mode** (:func:`test_open`): the suspect reads watermarked text; at every position its
  argmax next-token prediction is scored with the scheme's test, the context window taken from the
  true text (not from the predictions).
- **Closed mode** (:func:`test_closed`): text the suspect wrote (e.g. answers to prompts) is scored.

Both modes score each (context window, token) tuple once over the whole call (the deduplication
*tape*) and skip every window that the suspect could read, followed by its token, in its own input:
earlier in the same text (open mode) or in the prompt (closed mode). A clean model copies such
tokens, and a watermarked text's tokens after a window are green-biased, so without these two
rules a clean model looks radioactive (``tests/suspect/test_radioactivity.py`` shows it).

With both rules every scored tuple has a context window whose keyed draws the suspect did not
read in that text, and distinct tuples have independent draws, so under the null (the suspect
never learnt from text with this key) each scored draw is uniform and the p-values are the exact
tails: KGW counts green tuples, ``P[Binomial(n, gamma) >= k]`` (``scipy.special.betainc``); Gumbel
sums ``-log(1 - u)``, ``P[Gamma(n, 1) >= s]`` (``scipy.special.gammaincc``). What remains is a
second-order dependence between texts (one text may show a window that is scored in another);
the level over keys is measured in ``tests/suspect/test_radioactivity.py``. Windows are compared
by their context hash (what the PRF reads), so hash collisions between different windows count as
the same window (conservative).

Example
-------
>>> import numpy as np, tokenmark as tm
>>> from tokenmark.suspect import radioactivity
>>> wm = tm.KGW(key=b"secret", gamma=0.25, delta=2.0, context_width=2)
>>> res = radioactivity.test_closed(wm, [[5, 6, 7, 8, 9, 5, 6, 7]], prompts=[[1, 2, 3]])
>>> res.n_scored, 0.0 < res.p_value <= 1.0
(7, True)
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from .._inputs import Ragged, as_ragged
from .._validate import check_alpha, check_bool
from ..gumbel import Gumbel
from ..kgw import KGW
from ..reference.prf import context_hash
from ._models import predict_argmax

__all__ = ["RadioactivityResult", "predict_argmax", "test_closed", "test_open"]


@dataclass(frozen=True)
class RadioactivityResult:
    """One radioactivity test over all the texts of a call.

    ``score``: KGW, the number of green scored tuples; Gumbel, the sum of ``-log(1 - u)``.
    ``n_scored``: tuples scored. ``p_value``: exact one-sided p-value (1 when nothing is scored).
    ``z``: the normal-approximation score, for reading and plotting only.
    ``n_positions``: candidate positions (a full context window); of these ``n_seen_window`` were
    skipped because the suspect could read the window followed by its token, ``n_filtered`` because
    the window is not in ``data_filter``, and ``n_repeated`` because the tuple was on the tape.
    """

    scheme: str
    mode: str
    score: float
    n_scored: int
    p_value: float
    z: float
    n_positions: int
    n_seen_window: int
    n_filtered: int
    n_repeated: int

    def is_radioactive(self, alpha: float = 1e-3) -> bool:
        """Whether the p-value is at most ``alpha`` (the false-positive rate of the test)."""
        return self.p_value <= check_alpha(alpha)

    @property
    def mean_score(self) -> float:
        """KGW: the green fraction (``gamma`` under the null); Gumbel: the mean ``-log(1 - u)``
        (1 under the null). NaN when nothing is scored."""
        return self.score / self.n_scored if self.n_scored else math.nan


# -- statistics --------------------------------------------------------------------------------


def kgw_pvalue(n_green: int, n: int, gamma: float) -> float:
    """``P[Binomial(n, gamma) >= n_green]`` = ``I_gamma(n_green, n - n_green + 1)``."""
    from scipy import special

    if n <= 0 or n_green <= 0:
        return 1.0
    return float(special.betainc(n_green, n - n_green + 1, gamma))


def gumbel_pvalue(score: float, n: int) -> float:
    """``P[Gamma(n, 1) >= score]`` (regularised upper incomplete gamma)."""
    from scipy import special

    if n <= 0:
        return 1.0
    return float(special.gammaincc(n, score))


# -- the tape and the filters ------------------------------------------------------------------


def _check_scheme(scheme) -> None:
    if not isinstance(scheme, (KGW, Gumbel)):
        raise TypeError(f"scheme: expected a tokenmark KGW or Gumbel config, got {type(scheme)}")


def _window_hashes(doc: np.ndarray, width: int, seeding: int) -> np.ndarray:
    """Context hash of the window before each position ``i`` in ``[width, len(doc)]`` (uint32,
    ``len(doc) - width + 1`` entries; the last is the window after the final token)."""
    if len(doc) < width:
        return np.zeros(0, dtype=np.uint32)
    if width == 0:
        return np.zeros(len(doc) + 1, dtype=np.uint32)
    wins = np.lib.stride_tricks.sliding_window_view(doc.astype(np.int64), width)
    return context_hash(wins, seeding).astype(np.uint32)


def _filter_hashes(data_filter, width: int, seeding: int) -> np.ndarray | None:
    if data_filter is None:
        return None
    rag = as_ragged(data_filter, "data_filter")
    parts = [_window_hashes(np.asarray(rag[d]), width, seeding) for d in range(len(rag))]
    return np.unique(np.concatenate(parts)) if parts else np.zeros(0, dtype=np.uint32)


def _first_in_doc(hashes: np.ndarray) -> np.ndarray:
    """True where a hash occurs for the first time in ``hashes``."""
    first = np.zeros(len(hashes), dtype=bool)
    if len(hashes):
        first[np.unique(hashes, return_index=True)[1]] = True
    return first


def _score(
    scheme,
    mode: str,
    windows: list[np.ndarray],
    hashes: list[np.ndarray],
    tokens: list[np.ndarray],
    keep: list[np.ndarray],
    n_seen: int,
    phi: np.ndarray | None,
    dedup: bool,
) -> RadioactivityResult:
    """Score candidate tuples (window rows ``[n, width]``, their hashes, tokens), after the
    per-document ``keep`` masks, the data filter and the tape."""
    width = scheme.context_width
    cat = lambda xs, dt: np.concatenate(xs) if xs else np.zeros(0, dtype=dt)  # noqa: E731
    win = np.concatenate(windows) if windows else np.zeros((0, width), dtype=np.int64)
    h, tok, k = cat(hashes, np.uint32), cat(tokens, np.int64), cat(keep, bool)
    n_positions = len(h)
    n_filtered = 0
    if phi is not None:
        in_phi = np.isin(h, phi)
        n_filtered = int((k & ~in_phi).sum())
        k &= in_phi
    idx = np.flatnonzero(k)
    n_repeated = 0
    if dedup and len(idx):
        pair = (h[idx].astype(np.uint64) << np.uint64(32)) | tok[idx].astype(np.uint64)
        first = np.sort(np.unique(pair, return_index=True)[1])
        n_repeated = len(idx) - len(first)
        idx = idx[first]
    n = len(idx)
    # Each tuple becomes a one-token document after its window, scored by the scheme's own op.
    docs = np.concatenate([win[idx], tok[idx, None]], axis=1).reshape(-1)
    rag = Ragged(docs.astype(np.int32), np.arange(n + 1, dtype=np.int64) * (width + 1))
    res = scheme.detect(rag, prefix_lengths=width, dedup=False)
    if isinstance(scheme, KGW):
        score = float(res.n_green.sum())
        g = scheme.gamma_effective
        p = kgw_pvalue(int(score), n, g)
        z = (score - n * g) / math.sqrt(n * g * (1 - g)) if n else 0.0
    else:
        score = float(res.score.sum())
        p = gumbel_pvalue(score, n)
        z = (score - n) / math.sqrt(n) if n else 0.0
    return RadioactivityResult(
        scheme=scheme.scheme_name,
        mode=mode,
        score=score,
        n_scored=n,
        p_value=p,
        z=float(z),
        n_positions=n_positions,
        n_seen_window=n_seen,
        n_filtered=n_filtered,
        n_repeated=n_repeated,
    )


def _windows(doc: np.ndarray, width: int, stop: int) -> np.ndarray:
    """Window rows ``[stop - width + 1, width]`` for positions ``width..stop``."""
    ext = np.concatenate([doc.astype(np.int64), np.zeros(1, dtype=np.int64)])[: stop + 1]
    if width == 0:
        return np.zeros((stop + 1, 0), dtype=np.int64)
    return np.lib.stride_tricks.sliding_window_view(ext, width)[: stop - width + 1]


# -- open mode ---------------------------------------------------------------------------------


def test_open(
    scheme: KGW | Gumbel,
    model_or_fn: Any,
    texts,
    *,
    batch_size: int = 16,
    data_filter=None,
    dedup: bool = True,
    skip_seen_windows: bool = True,
    predictions: Sequence | None = None,
) -> RadioactivityResult:
    """Open-model radioactivity test: the suspect's argmax predictions on watermarked text.

    Parameters
    ----------
    scheme : the :class:`tokenmark.KGW` or :class:`tokenmark.Gumbel` config (with its key) whose
        watermarked text the suspect may have learnt from.
    model_or_fn : a transformers causal LM, or a callable ``fn(input_ids LongTensor [b, s]) ->
        scores [b, s, vocab]`` (the next-token logits or probabilities after each position).
    texts : watermarked token id sequences (list, 2-D array, :class:`tokenmark.Ragged`), e.g. the
        owner's watermarked outputs. The position after text token ``i - 1`` is scored as the
        tuple (window ``text[i - w:i]``, prediction), ``w = scheme.context_width``, for ``i`` from
        ``max(w, 1)`` to ``len(text)``.
    batch_size : texts per forward pass.
    data_filter : optional token sequences (the paper's filter phi, e.g. the watermarked data the
        suspect is believed to have trained on): only windows that occur in them are scored.
    dedup : the tape: each (window, predicted token) tuple is scored once over all texts.
    skip_seen_windows : skip a position whose window already occurred earlier in the same text
        (the suspect read which token followed it there).
    predictions : the suspect's argmax after each position of each text, precomputed (e.g. by
        :func:`predict_argmax`); ``model_or_fn`` is then not called and may be None.

    Leaving ``dedup`` or ``skip_seen_windows`` off invalidates the p-value (for demonstration).

    Example
    -------
    >>> import numpy as np, tokenmark as tm
    >>> from tokenmark.suspect import radioactivity
    >>> wm = tm.Gumbel(key=b"secret", context_width=2)
    >>> fn = lambda ids: np.eye(50)[(ids.numpy() + 1) % 50]     # a clean "model": next id + 1
    >>> res = radioactivity.test_open(wm, fn, [np.arange(40) % 50])
    >>> res.n_scored, res.p_value > 1e-3
    (39, True)
    """
    _check_scheme(scheme)
    dedup = check_bool(dedup, "dedup")
    skip_seen_windows = check_bool(skip_seen_windows, "skip_seen_windows")
    if predictions is None:
        predictions = predict_argmax(model_or_fn, texts, batch_size=batch_size)
    rag = as_ragged(texts, "texts")
    preds = as_ragged(predictions, "predictions")
    if not np.array_equal(rag.lengths, preds.lengths):
        raise ValueError("predictions: expected one prediction per text position")
    width, seeding = scheme.context_width, scheme.seeding_code
    start = max(width, 1)
    windows, hashes, tokens, keep = [], [], [], []
    n_seen = 0
    for d in range(len(rag)):
        doc = np.asarray(rag[d], dtype=np.int64)
        if len(doc) < start:
            continue
        hs = _window_hashes(doc, width, seeding)  # positions width..len(doc)
        k = np.ones(len(hs), dtype=bool)
        if skip_seen_windows:
            k = _first_in_doc(hs)
        cut = start - width  # position 0 has no prediction before it (width 0 only)
        windows.append(_windows(doc, width, len(doc))[cut:])
        hashes.append(hs[cut:])
        # The prediction after position i - 1 is the candidate for position i.
        tokens.append(np.asarray(preds[d], dtype=np.int64)[start - 1 :])
        keep.append(k[cut:])
        n_seen += int((~k[cut:]).sum())
    phi = _filter_hashes(data_filter, width, seeding)
    return _score(scheme, "open", windows, hashes, tokens, keep, n_seen, phi, dedup)


# -- closed mode -------------------------------------------------------------------------------


def test_closed(
    scheme: KGW | Gumbel,
    generated,
    *,
    prompts=None,
    data_filter=None,
    dedup: bool = True,
    skip_prompt_windows: bool = True,
) -> RadioactivityResult:
    """Closed-model radioactivity test: text the suspect generated.

    Parameters
    ----------
    scheme : the :class:`tokenmark.KGW` or :class:`tokenmark.Gumbel` config (with its key).
    generated : the suspect's continuations, token id sequences (without their prompts).
    prompts : the prompt of each continuation (token id sequences), or None. Each continuation
        is scored in the context of its prompt; windows that occur in the prompt followed by a
        token are skipped (the suspect could copy the watermarked token that followed them).
    data_filter : optional token sequences (the paper's filter phi): only windows that occur in
        them are scored.
    dedup : the tape: each (window, token) tuple is scored once over all continuations.
    skip_prompt_windows : the prompt filter above.

    Example
    -------
    >>> import tokenmark as tm
    >>> from tokenmark.suspect import radioactivity
    >>> wm = tm.KGW(key=b"secret", context_width=1)
    >>> res = radioactivity.test_closed(wm, [[4, 5, 4, 5, 4, 5]], prompts=[[1, 4, 5]])
    >>> # window (4,) is followed by 5 in the prompt; (5,) -> 4 three times: scored once
    >>> res.n_scored, res.n_seen_window, res.n_repeated
    (1, 3, 2)
    """
    _check_scheme(scheme)
    dedup = check_bool(dedup, "dedup")
    skip_prompt_windows = check_bool(skip_prompt_windows, "skip_prompt_windows")
    gen = as_ragged(generated, "generated")
    if prompts is not None:
        pr = as_ragged(prompts, "prompts")
        if len(pr) != len(gen):
            raise ValueError(f"prompts: expected {len(gen)} prompts (one per text), got {len(pr)}")
    width, seeding = scheme.context_width, scheme.seeding_code
    windows, hashes, tokens, keep = [], [], [], []
    n_seen = 0
    for d in range(len(gen)):
        cont = np.asarray(gen[d], dtype=np.int64)
        p = np.asarray(pr[d], dtype=np.int64) if prompts is not None else cont[:0]
        doc = np.concatenate([p, cont])
        first = max(width, len(p))  # first scored position in doc
        if len(doc) <= first:
            continue
        hs = _window_hashes(doc, width, seeding)[first - width : len(doc) - width]
        k = np.ones(len(hs), dtype=bool)
        if skip_prompt_windows and len(p) > width:
            # Windows of the prompt that a prompt token follows (positions width..len(p) - 1).
            seen = _window_hashes(p, width, seeding)[:-1]
            k = ~np.isin(hs, seen)
        windows.append(_windows(doc, width, len(doc) - 1)[first - width :])
        hashes.append(hs)
        tokens.append(doc[first:])
        keep.append(k)
        n_seen += int((~k).sum())
    phi = _filter_hashes(data_filter, width, seeding)
    return _score(scheme, "closed", windows, hashes, tokens, keep, n_seen, phi, dedup)


# Named like tests but they are the API: pytest must not collect them where they are imported.
test_open.__test__ = False  # type: ignore[attr-defined]
test_closed.__test__ = False  # type: ignore[attr-defined]
