"""Per-key calibration: keep the false-positive rate of the key you hold near alpha on a corpus.

Our p-values are exact over random keys. For one fixed key, the documents of one corpus share
frequent (context, token) pairs (``def __init__(self``, licence lines, a speaker's name before
every line), and each such pair is green (or high-scoring) for that key or not, once for every
document: the documents' tests are dependent, and the key's false-positive rate on that corpus
departs from alpha (one key measured 12% at alpha 0.01 on code).

A :class:`Calibration` is a *filter*: the (context, token) pairs most frequent in reference
human text of the kind you will scan, as many as needed to bring the shift they cause below a
bound (``max_shift``). Detection with it drops those pairs (after the scheme's own
de-duplication) and scores the rest exactly as before.

Why a filter, and why it keeps the p-values exact
-------------------------------------------------
Which pairs are dropped depends only on the reference text, never on the key or on the pairs'
green flags or PRF values. Over random keys the remaining tokens are therefore still independent
fair draws (green with probability gamma; uniform; fair g-bits), so the calibrated p-value is
exact over keys, as the uncalibrated one is (``tests/scan/test_calibration_stats.py`` checks it).
For the key in hand, the shared pairs that made the documents' tests dependent are gone.

We measured the alternative, an empirical null of the statistic for the key (a conformal p-value
from the reference documents' p-values): it also controls the key's false-positive rate, but no
p-value can go below ``1 / (n_reference + 1)``, which rules it out for corpus scans (where the
Benjamini-Hochberg line needs p-values near q / m) and for the usual alpha of 1e-3 or less; its
worst key was also worse than the filter's. Dropping only the pairs that are green for the key
(what "makes human text look green") would make the null depend on the key (those pairs could
then only count red): p-values no longer uniform over keys (a test shows it). The filter's rule
(``max_shift``) beat a plain document-count threshold (``min_docs=2``), which drops most tokens
of low-context schemes. Numbers: ``docs/calibration.md`` and ``bench/CALIBRATION.md``.

The filter is keyed: it stores a 64-bit keyed fingerprint of each pair (Philox4x32-10 of (token,
context hash) under the key, PRF domain 8, see ``docs/prf.md``), never the pairs, so a calibration
file neither shows the reference text's n-grams nor works with another key, and it cannot carry
the key (only the key's public fingerprint, checked on load).
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ._inputs import Ragged, as_ragged
from ._validate import check_int, check_real
from .reference.prf import context_hash, philox4x32_10

FORMAT = "tokenmark-calibration"
FORMAT_VERSION = 1
# Frozen: the PRF domain of the filter's pair fingerprints (docs/prf.md, section 10). Changing it
# invalidates every saved calibration file.
DOMAIN_CALIBRATION = 8
SCHEMES = ("kgw", "gumbel", "synthid")
_IDENTITY = ("context_width", "seeding")  # what decides a pair's identity, besides the key


def pair_contexts(rag: Ragged, positions: np.ndarray, context_width: int, seeding: int):
    """Context hashes (uint32) of the tokens at flat ``positions`` of ``rag`` (each at least
    ``context_width`` tokens into its document), as the scoring kernels compute them (no salt)."""
    positions = np.asarray(positions, dtype=np.int64)
    if context_width == 0 or positions.size == 0:
        return np.zeros(positions.size, dtype=np.uint32)
    idx = positions[:, None] - context_width + np.arange(context_width, dtype=np.int64)
    return context_hash(rag.tokens[idx].astype(np.uint32), seeding)


def pair_fingerprints(key_words, ctx: np.ndarray, tokens: np.ndarray) -> np.ndarray:
    """Keyed 64-bit fingerprints (uint64) of (context hash, token) pairs: words 0 and 1 of
    Philox4x32-10 with counter (token, ctx, k2 ^ 8, k3) and key (k0, k1)."""
    kw = np.asarray(key_words, dtype=np.uint64)
    w0, w1, _, _ = philox4x32_10(
        np.asarray(tokens, dtype=np.uint32),
        np.asarray(ctx, dtype=np.uint32),
        kw[2] ^ np.uint64(DOMAIN_CALIBRATION),
        kw[3],
        kw[0],
        kw[1],
    )
    return w0.astype(np.uint64) | (w1.astype(np.uint64) << np.uint64(32))


def _doc_of(offsets: np.ndarray, positions: np.ndarray) -> np.ndarray:
    return np.searchsorted(offsets, positions, side="right") - 1


def _scored_positions(rag: Ragged, context_width: int) -> np.ndarray:
    """Flat positions with a full context inside their document."""
    pos = np.arange(len(rag.tokens), dtype=np.int64)
    start = rag.offsets[:-1][_doc_of(rag.offsets, pos)] if pos.size else pos
    return pos[pos - start >= context_width]


def _check_scheme(scheme) -> str:
    name = getattr(scheme, "scheme_name", None)
    if name not in SCHEMES or not hasattr(scheme, "key"):
        raise TypeError(
            "scheme: expected a tokenmark KGW, Gumbel or SynthID config, got "
            f"{type(scheme).__name__}"
        )
    return name


@dataclass(frozen=True, repr=False, eq=False)
class Calibration:
    """A keyed filter of the (context, token) pairs frequent in reference human text, bound to
    one scheme config and its key. Make one with ``scheme.calibrate(reference_docs)``.

    ``pairs`` holds sorted keyed fingerprints (uint64), never the pairs or the key. ``stats``
    records what the filter was learnt from (reference documents and tokens, and the share of
    the reference's scored tokens it drops).

    Example
    -------
    >>> import tokenmark as tm
    >>> wm = tm.KGW(key=b"my secret", gamma=0.25, context_width=1)
    >>> boiler = [5, 6, 7, 8, 9, 10]
    >>> cal = wm.calibrate([boiler + [i, i + 1] for i in range(20, 40)], min_docs=2)
    >>> cal.n_pairs  # the 5 pairs of the shared boilerplate (in 2 or more documents)
    5
    >>> res = wm.detect_calibrated([boiler + [100, 101, 102]], calibration=cal)
    >>> res.n_scored.tolist()  # (10, 100), (100, 101), (101, 102) are left
    [3]
    """

    scheme: Any  # the scheme config, with its key (in memory only; never saved or printed)
    pairs: np.ndarray
    stats: dict[str, Any] = field(default_factory=dict)

    @property
    def n_pairs(self) -> int:
        return int(self.pairs.size)

    @property
    def key_fingerprint(self) -> str:
        return self.scheme.key.fingerprint

    @property
    def digest(self) -> str:
        """A public identifier of the filter (SHA-256 of its fingerprints, 16 hex digits)."""
        return hashlib.sha256(self.pairs.astype("<u8").tobytes()).hexdigest()[:16]

    def __repr__(self) -> str:
        return (
            f"Calibration(scheme={self.scheme.scheme_name}, key_fingerprint={self.key_fingerprint},"
            f" n_pairs={self.n_pairs})"
        )

    # -- files ----------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict: the scheme config without its key, the key's public fingerprint,
        the filter as base64 of little-endian uint64 fingerprints."""
        return {
            "format": FORMAT,
            "version": FORMAT_VERSION,
            "scheme": self.scheme.to_dict(),  # no key: to_dict leaves it out
            "key_fingerprint": self.key_fingerprint,
            "stats": self.stats,
            "pairs": base64.b64encode(self.pairs.astype("<u8").tobytes()).decode("ascii"),
        }

    def save(self, path: str | os.PathLike) -> None:
        """Write the calibration as JSON to ``path`` (no key in it; safe to share as far as the
        key goes, though it tells which reference pairs the holder's detector ignores)."""
        if not isinstance(path, (str, os.PathLike)):
            raise TypeError(f"path: expected a str or path, got {type(path).__name__}")
        tmp = f"{os.fspath(path)}.tmp"
        with open(tmp, "w", encoding="utf-8") as f:
            json.dump(self.to_dict(), f)
        os.replace(tmp, path)

    @classmethod
    def from_dict(cls, d: dict[str, Any], scheme) -> Calibration:
        """Rebuild from :meth:`to_dict` for ``scheme`` (which holds the key); refused when the
        key or the scheme's pair identity (scheme, context width, seeding) differ."""
        name = _check_scheme(scheme)
        if not isinstance(d, dict) or d.get("format") != FORMAT:
            raise ValueError(f"calibration: not a {FORMAT} file")
        version = d.get("version")
        if version != FORMAT_VERSION:
            raise ValueError(f"calibration: version {version!r}, expected {FORMAT_VERSION}")
        if not scheme.key.has_fingerprint(d.get("key_fingerprint")):
            raise ValueError(
                f"scheme: its key (fingerprint {scheme.key.fingerprint}) is not the key this "
                f"calibration was made for (fingerprint {d.get('key_fingerprint')!r})"
            )
        cfg = d.get("scheme")
        if not isinstance(cfg, dict) or cfg.get("scheme") != name:
            got = cfg.get("scheme") if isinstance(cfg, dict) else None
            raise ValueError(f"scheme: a {name} config, but the calibration is for {got!r}")
        for f in _IDENTITY:
            if cfg.get(f) != getattr(scheme, f):
                raise ValueError(
                    f"scheme: {f}={getattr(scheme, f)!r}, but the calibration was made with "
                    f"{f}={cfg.get(f)!r}"
                )
        try:
            raw = base64.b64decode(d["pairs"], validate=True)
            stats = dict(d.get("stats", {}))
        except (KeyError, TypeError, ValueError) as e:
            raise ValueError(f"calibration: malformed file ({type(e).__name__})") from None
        if len(raw) % 8:
            raise ValueError("calibration: malformed pairs (not a whole number of uint64)")
        pairs = np.frombuffer(raw, dtype="<u8").astype(np.uint64)
        if pairs.size > 1 and not np.all(pairs[1:] > pairs[:-1]):
            raise ValueError("calibration: malformed pairs (not sorted and unique)")
        return cls(scheme=scheme, pairs=pairs, stats=stats)

    @classmethod
    def load(cls, path: str | os.PathLike, scheme) -> Calibration:
        """Read a file written by :meth:`save` for ``scheme`` (same key, same pair identity).

        >>> import tempfile, os, tokenmark as tm
        >>> wm = tm.Gumbel(key=b"my secret", context_width=2)
        >>> cal = wm.calibrate([[1, 2, 3, 4]] * 3)
        >>> path = os.path.join(tempfile.mkdtemp(), "cal.json")
        >>> cal.save(path)
        >>> tm.Calibration.load(path, wm).n_pairs
        2
        """
        _check_scheme(scheme)
        if not isinstance(path, (str, os.PathLike)):
            raise TypeError(f"path: expected a str or path, got {type(path).__name__}")
        try:
            with open(path, encoding="utf-8") as f:
                d = json.load(f)
        except (OSError, UnicodeDecodeError) as e:
            msg = f"path: cannot read calibration file ({type(e).__name__})"
            raise ValueError(msg) from None
        except json.JSONDecodeError as e:
            raise ValueError(f"path: calibration file is not valid JSON ({e.msg})") from None
        except (ValueError, RecursionError):  # a number too long, or nested too deeply
            raise ValueError("path: calibration file is not valid JSON") from None
        return cls.from_dict(d, scheme)

    # -- detection ------------------------------------------------------------------------
    def dropped(self, rag: Ragged, counted: np.ndarray) -> np.ndarray:
        """Flat boolean mask: the ``counted`` positions of ``rag`` whose pair is in the filter."""
        out = np.zeros(len(rag.tokens), dtype=bool)
        pos = np.flatnonzero(counted)
        if pos.size == 0 or self.pairs.size == 0:
            return out
        s = self.scheme
        ctx = pair_contexts(rag, pos, s.context_width, s.seeding_code)
        fp = pair_fingerprints(s.key.words, ctx, rag.tokens[pos])
        i = np.minimum(np.searchsorted(self.pairs, fp), self.pairs.size - 1)
        out[pos[self.pairs[i] == fp]] = True
        return out


def calibrate(
    scheme, reference_docs, *, max_shift: float | None = None, min_docs: int | None = None
) -> Calibration:
    """Learn the filter of ``scheme``'s key from human reference text (see the module docs).

    For one key, a pair that occurs in a share ``q`` of the documents moves every document's
    score the same way; over keys the resulting shift of a document's z-score has standard
    deviation ``sqrt(sum(q^2) / n)`` (``n`` its scored tokens). The filter drops the most
    frequent pairs until that standard deviation, over the pairs left, is at most
    ``max_shift`` (0.05: a 20-key maximum near 0.1, i.e. a false-positive rate near 1.3% at
    alpha 0.01).

    Parameters
    ----------
    scheme : a KGW, Gumbel or SynthID config (with its key).
    reference_docs : human-written documents of the kind you will scan, as token ids (a list of
        sequences, a 2-D array or a :class:`tokenmark.Ragged`), tokenized and cut to lengths as
        you will scan them (the shift grows with the documents' length). Keep them apart from
        the documents you test.
    max_shift : the allowed standard deviation (z units, over keys) of the shared pairs' shift,
        in (0, 1e6] (default 0.05).
    min_docs : instead of ``max_shift`` (give one of them): filter every pair that occurs in at
        least this many reference documents.
    """
    _check_scheme(scheme)
    rag = as_ragged(reference_docs, "reference_docs")
    if min_docs is None:
        max_shift = 0.05 if max_shift is None else check_real(max_shift, "max_shift")
        if not 0 < max_shift <= 1e6:  # 1e6 already drops nothing; its square stays finite
            raise ValueError(f"max_shift: must be in (0, 1e6], got {max_shift}")
    elif max_shift is not None:
        raise ValueError("max_shift, min_docs: give one of them (min_docs replaces max_shift)")
    else:
        min_docs = check_int(min_docs, "min_docs", 1, 2**62)
    if len(rag) == 0:
        raise ValueError("reference_docs: no documents")
    width = scheme.context_width
    pos = _scored_positions(rag, width)
    if pos.size == 0:
        raise ValueError(f"reference_docs: no document is longer than context_width={width} tokens")
    ctx = pair_contexts(rag, pos, width, scheme.seeding_code)
    pair_id = (ctx.astype(np.uint64) << np.uint64(32)) | rag.tokens[pos].astype(np.uint64)
    doc = _doc_of(rag.offsets, pos).astype(np.uint64)
    # Document frequency: distinct (document, pair), then the number of documents per pair.
    order = np.lexsort((pair_id, doc))
    dp, pid = doc[order], pair_id[order]
    first = np.ones(pid.size, dtype=bool)
    first[1:] = (dp[1:] != dp[:-1]) | (pid[1:] != pid[:-1])
    uniq, df = np.unique(pid[first], return_counts=True)
    n_docs = len(rag)
    mean_n = first.sum() / n_docs  # distinct pairs per document: its tokens after dedup
    q = df / n_docs
    shift_before = float(np.sqrt(np.sum(q * q) / mean_n))
    if min_docs is None:
        by_q = np.argsort(-q, kind="stable")
        # tail[k]: the shift variance left when the k most frequent pairs are dropped.
        tail = np.concatenate([np.cumsum((q[by_q] ** 2)[::-1])[::-1], [0.0]]) / mean_n
        k = int(np.argmax(tail <= max_shift**2))
        drop = np.zeros(q.size, dtype=bool)
        drop[by_q[:k]] = True
    else:
        drop = df >= min_docs
    keep = uniq[drop]
    shift_after = float(np.sqrt(np.sum(q[~drop] ** 2) / mean_n))
    fp = pair_fingerprints(
        scheme.key.words,
        (keep >> np.uint64(32)).astype(np.uint32),
        (keep & np.uint64(0xFFFFFFFF)).astype(np.uint32),
    )
    fp = np.unique(fp)
    covered = np.isin(pid[first], keep).mean()
    stats = {
        "n_reference_docs": n_docs,
        "n_reference_tokens": int(len(rag.tokens)),
        "n_reference_pairs": int(uniq.size),
        "reference_counted_tokens_dropped": round(float(covered), 6),
        "shift_before": round(shift_before, 6),
        "shift_after": round(shift_after, 6),
        "rule": "min_docs" if min_docs is not None else "max_shift",
        "max_shift": None if min_docs is not None else max_shift,
        "min_docs": min_docs,
    }
    return Calibration(scheme=scheme, pairs=fp, stats=stats)


def detect_calibrated(scheme, sequences, calibration: Calibration, **kwargs):
    """``scheme.detect(sequences, **kwargs)`` with the calibration's pairs left out of the score
    (see :func:`tokenmark.calibrated_detect.detect_calibrated`)."""
    from .calibrated_detect import detect_calibrated as impl

    return impl(scheme, sequences, calibration, **kwargs)


__all__ = ["Calibration", "calibrate", "detect_calibrated", "pair_fingerprints"]
