"""The top hits, token by token: each hit's document read again from its shard (only the shards
that hold one) and re-scored for its watermark with ``return_flags``, as coloured pieces of text
with the strongest window."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from ..calibrated import calibrated_detect
from ..inputs import expand_inputs
from ..readers import ReadOptions, read_shard
from ..scoring import score_batch
from ..watermarks import Watermark


@dataclass
class TokenView:
    """One document as coloured pieces: ``pieces[i]`` is token ``i``'s text (``gaps[i]`` the text
    before it not covered by any token), ``level[i]`` in [-1, 1] (red to green; NaN: not
    counted), ``window`` the (first, last) token of the strongest window or None."""

    pieces: list[str]
    gaps: list[str]
    level: np.ndarray
    title: list[str]
    window: tuple[int, int] | None
    window_label: str
    log10_p: float


def _pieces(tokenizer, text: str | None, ids: np.ndarray) -> tuple[list[str], list[str], str]:
    """Token texts and the gaps before them; the trailing text."""
    if text is not None and tokenizer is not None:
        enc = tokenizer.encode(text, add_special_tokens=False)
        if np.array_equal(np.asarray(enc.ids), ids):
            pieces, gaps, prev = [], [], 0
            for s, e in enc.offsets:
                s = max(s, prev)  # byte-level tokens of one character share its offsets
                gaps.append(text[prev:s])
                pieces.append(text[s:e] if e > s else "")
                prev = max(prev, e)
            return pieces, gaps, text[prev:]
    if tokenizer is not None:
        return [tokenizer.decode([int(t)]) for t in ids], [""] * len(ids), ""
    return [f"[{int(t)}]" for t in ids], [""] * len(ids), ""


def _per_token(wm: Watermark, ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(contribution of each token, counted flag): KGW 1 green / 0 red; Gumbel ``-log(1 - u)``
    (mean 1 without the watermark); SynthID the mean g-value over layers (mean 1/2). A token's
    contribution is that of a one-token document with its context as prefix. A calibrated
    watermark's counted flags are its calibrated detection's: the tokens of the calibration's
    pairs are not counted."""
    from ..._inputs import Ragged

    s = wm.scheme
    detect = s.detect if wm.calibration is None else calibrated_detect(wm)
    one = Ragged(ids.astype(np.int32), np.array([0, len(ids)], dtype=np.int64))
    if wm.scheme_name == "kgw":
        res = detect(one, return_flags=True)
        return res.green[0].astype(np.float64), res.counted[0].astype(bool)
    kw = {"salt": dict(wm.options).get("salt", 0)} if wm.scheme_name == "gumbel" else {}
    if wm.scheme_name == "synthid":
        kw = {"eos_token_id": dict(wm.options).get("eos_token_id")}
    counted = detect(one, return_flags=True, **kw).counted[0].astype(bool)
    h = s.context_width
    n = len(ids)
    starts = np.maximum(np.arange(n) - h, 0)
    offs = np.concatenate([[0], np.cumsum(np.arange(n) - starts + 1)]).astype(np.int64)
    toks = np.concatenate([ids[a : t + 1] for t, a in enumerate(starts)]) if n else ids[:0]
    windows = Ragged(toks.astype(np.int32), offs)
    res = s.detect(windows, prefix_lengths=np.arange(n) - starts, **kw)
    val = res.score if wm.scheme_name == "gumbel" else res.mean_score
    return np.nan_to_num(np.asarray(val, dtype=np.float64)), counted


def _levels(wm: Watermark, contrib: np.ndarray, counted: np.ndarray) -> np.ndarray:
    if wm.scheme_name == "kgw":
        lvl = np.where(contrib > 0, 1.0, -1.0)
    elif wm.scheme_name == "gumbel":  # -log(1 - u) is Exp(1) without the watermark
        lvl = np.clip((contrib - 1.0) / 2.0, -1.0, 1.0)
    else:  # mean g over layers, 1/2 without the watermark
        lvl = np.clip((contrib - 0.5) * 4.0, -1.0, 1.0)
    return np.where(counted, lvl, np.nan)


def _strongest(
    wm: Watermark, contrib: np.ndarray, counted: np.ndarray, start: int | None
) -> tuple[tuple[int, int] | None, str]:
    pos = np.flatnonzero(counted)
    if not len(pos):
        return None, ""
    window = dict(wm.options).get("window")
    if window is not None and start is not None:  # the scan's own window (our schemes)
        first = int(np.searchsorted(pos, start))
        last = pos[min(first + window, len(pos)) - 1]
        return (int(start), int(last)), f"strongest window of {window} counted tokens (scan)"
    w = min(int(window or 50), len(pos))
    centred = contrib[pos] - (0.5 if wm.scheme_name == "synthid" else 1.0)
    if wm.scheme_name == "kgw":
        centred = contrib[pos] - wm.scheme.gamma_effective
    cs = np.concatenate([[0.0], np.cumsum(centred)])
    k = int(np.argmax(cs[w:] - cs[:-w]))
    return (int(pos[k]), int(pos[k + w - 1])), f"strongest span of {w} counted tokens (display)"


def token_view(wm: Watermark, ids: np.ndarray, text: str | None, tokenizer) -> TokenView:
    """The coloured view of one document for one watermark (re-scored here)."""
    from ..._inputs import Ragged

    ids = np.asarray(ids, dtype=np.int64)
    rag = Ragged(ids.astype(np.int32), np.array([0, len(ids)], dtype=np.int64))
    s = score_batch(wm, rag)
    if wm.dialect is not None:
        return _plain_view(ids, text, tokenizer, float(s["log10_p"][0]))
    contrib, counted = _per_token(wm, ids)
    start = int(s["window_start"][0]) if "window_start" in s else None
    win, label = _strongest(wm, contrib, counted, start)
    pieces, gaps, tail = _pieces(tokenizer, text, ids)
    if tail:
        pieces.append(tail)
        gaps.append("")
        contrib = np.append(contrib, np.nan)
        counted = np.append(counted, False)
    titles = []
    for i in range(len(pieces)):
        if i >= len(ids):
            titles.append("")
        elif not counted[i]:
            titles.append(f"token {int(ids[i])}: not counted (context, repeat or calibration)")
        else:
            titles.append(f"token {int(ids[i])}: {contrib[i]:.3g}")
    return TokenView(
        pieces, gaps, _levels(wm, contrib, counted), titles, win, label, float(s["log10_p"][0])
    )


def _plain_view(ids: np.ndarray, text: str | None, tokenizer, log10_p: float) -> TokenView:
    """A dialect watermark's document (another implementation's scheme: its p-value, no
    per-token terms to colour): the tokens uncoloured, no window."""
    pieces, gaps, tail = _pieces(tokenizer, text, ids)
    if tail:
        pieces.append(tail)
        gaps.append("")
    titles = [f"token {int(t)}" for t in ids] + [""] * (len(pieces) - len(ids))
    return TokenView(pieces, gaps, np.full(len(pieces), np.nan), titles, None, "", log10_p)


def _documents(
    wanted: dict[str, set[int]], settings: dict[str, Any]
) -> dict[tuple[str, int], tuple[str | None, np.ndarray | None]]:
    """(text, tokens) of the wanted rows, read again from their shards."""
    opt = ReadOptions(
        text_column=settings.get("text_column"),
        tokens_column=settings.get("tokens_column"),
        id_column=settings.get("id_column"),
        text_mode=settings.get("text_mode", "doc"),
        max_doc_bytes=settings.get("max_doc_bytes", 8 << 20),
        format=settings.get("format"),
    )
    found: dict[tuple[str, int], tuple[str | None, np.ndarray | None]] = {}
    for source, rows in wanted.items():
        try:
            shards = expand_inputs([source], settings.get("format"))
        except ValueError:
            continue  # the file is gone: those hits are listed without their text
        for shard in shards:
            for batch in read_shard(shard, opt):
                for i, r in enumerate(batch.rows):
                    if r in rows:
                        if batch.texts is not None:
                            found[(source, r)] = (batch.texts[i], None)
                        else:
                            found[(source, r)] = (None, np.asarray(batch.tokens[i]))
                if all((source, r) in found for r in rows):
                    break
    return found


def _encode_one(tokenizer, text: str) -> np.ndarray:
    if tokenizer is None:
        raise ValueError("tokenizer: a text scan's report needs its tokenizer")
    return np.asarray(tokenizer.encode(text, add_special_tokens=False).ids, dtype=np.int64)
