"""What a watermark scheme provides to be evaluated, and the adapters for KGW, Gumbel-max and
SynthID-Text.

A scheme plugs into the harness by providing a name, a transformers logits processor that
watermarks generation (``None`` for the unwatermarked baseline), and detection that turns token
sequences into one-sided p-values (small = watermarked). Detection of a watermarked span inside a
longer text (the copy-paste attack) is optional.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import numpy as np

from ..gumbel import Gumbel
from ..kgw import KGW
from ..synthid import SynthID


@runtime_checkable
class EvalScheme(Protocol):
    """The interface the harness needs.

    Example
    -------
    >>> from tokenmark import KGW
    >>> from tokenmark.evaluation.schemes import EvalScheme, KGWScheme
    >>> isinstance(KGWScheme(KGW(key=b"k")), EvalScheme)
    True
    """

    name: str
    family: str  # groups configurations of one scheme in tables and plots ("kgw", "none", ...)

    def processor(self):
        """A transformers ``LogitsProcessor`` that watermarks, or ``None`` (no watermark)."""

    def pvalues(self, seqs: list[np.ndarray], prefix_lengths: np.ndarray | int) -> np.ndarray:
        """One p-value per sequence; the first ``prefix_lengths`` tokens are context only."""

    def window_pvalues(self, seqs: list[np.ndarray], window: int) -> np.ndarray | None:
        """Per sequence, the p-value of its most watermarked span of ``window`` scored tokens
        (corrected for the search), or ``None`` if the scheme has no windowed detector."""


class _Adapter:
    """What the adapters share: the scheme's own processor, p-values from its full detection
    result, and no windowed detector (Gumbel and SynthID have none; KGW overrides)."""

    def processor(self):
        return self.wm.logits_processor()

    def detect(self, seqs, prefix_lengths=0):
        """The full result (scores, counts); ``prefix_lengths``: one for all or one per sequence."""
        return self.wm.detect(seqs, prefix_lengths=prefix_lengths)

    def pvalues(self, seqs, prefix_lengths=0) -> np.ndarray:
        return self.detect(seqs, prefix_lengths).p_value

    def window_pvalues(self, seqs, window: int) -> np.ndarray | None:
        return None


@dataclass(frozen=True)
class KGWScheme(_Adapter):
    """:class:`tokenmark.KGW` as an :class:`EvalScheme`.

    Example
    -------
    >>> from tokenmark import KGW
    >>> s = KGWScheme(KGW(key=b"k", gamma=0.25, delta=2.0))
    >>> s.name
    'KGW d=2 g=0.25 h=4'
    """

    wm: KGW
    family: str = "kgw"

    @property
    def name(self) -> str:
        return f"KGW d={self.wm.delta:g} g={self.wm.gamma:g} h={self.wm.context_width}"

    def detect(self, seqs, prefix_lengths=0):
        """The full :class:`tokenmark.kgw.KGWResult` (green counts for the theory check)."""
        return self.wm.detect(seqs, prefix_lengths=np.broadcast_to(prefix_lengths, (len(seqs),)))

    def window_pvalues(self, seqs, window: int) -> np.ndarray:
        return self.wm.detect(seqs, window=window).window_p_value


@dataclass(frozen=True)
class GumbelScheme(_Adapter):
    """:class:`tokenmark.Gumbel` as an :class:`EvalScheme` (exact Gamma-tail p-values).

    Its logits processor must be the last one before sampling (it turns each watermarked row into
    a one-hot choice): the harness passes no temperature / top-k / top-p to ``generate``.

    Example
    -------
    >>> from tokenmark import Gumbel
    >>> s = GumbelScheme(Gumbel(key=b"k", context_width=4))
    >>> s.name, s.window_pvalues([[1, 2, 3]], 2) is None
    ('Gumbel h=4', True)
    """

    wm: Gumbel
    family: str = "gumbel"

    @property
    def name(self) -> str:
        return f"Gumbel h={self.wm.context_width}"


@dataclass(frozen=True)
class SynthIDScheme(_Adapter):
    """:class:`tokenmark.SynthID` as an :class:`EvalScheme`.

    p-values are the exact binomial tails of the unweighted mean g-value (the weighted score's
    p-value is a normal approximation, so its false-positive rate is not guaranteed at small
    alpha). Like Gumbel's, its logits processor must come last.

    Example
    -------
    >>> from tokenmark import SynthID
    >>> s = SynthIDScheme(SynthID(key=b"k", layers=30, context_width=4))
    >>> s.name, s.family
    ('SynthID l=30 h=4', 'synthid')
    """

    wm: SynthID
    family: str = "synthid"

    @property
    def name(self) -> str:
        seeding = "" if self.wm.seeding == "prev" else f" {self.wm.seeding}"
        return f"SynthID l={self.wm.layers} h={self.wm.context_width}{seeding}"


@dataclass(frozen=True)
class NoWatermark:
    """The unwatermarked baseline: generation untouched; detection is a given scheme's detector
    (so its p-values are the null distribution for that detector)."""

    detector: EvalScheme
    name: str = "no watermark"
    family: str = "none"

    def processor(self):
        return None

    def pvalues(self, seqs, prefix_lengths=0) -> np.ndarray:
        return self.detector.pvalues(seqs, prefix_lengths)

    def window_pvalues(self, seqs, window: int) -> np.ndarray | None:
        return self.detector.window_pvalues(seqs, window)
