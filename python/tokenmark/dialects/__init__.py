"""Dialects: other implementations' watermarks, re-stated exactly and scored on tokenmark's
batched detectors with exact p-values.

A dialect reproduces another library's PRF, context rule, scored-token rule and statistic, so
text that library watermarked is detected here, in batches, with the same counts and scores as
its own detector plus tokenmark's exact p-value.

- :func:`transformers_kgw`: transformers' ``WatermarkLogitsProcessor`` / ``WatermarkDetector``.
- :func:`synthid_text`: transformers' ``SynthIDTextWatermarkLogitsProcessor`` and ``synthid-text``.
"""

from .synthid_text import SynthIDText, SynthIDTextResult, synthid_text
from .transformers_kgw import TransformersKGW, transformers_kgw

__all__ = [
    "SynthIDText",
    "SynthIDTextResult",
    "TransformersKGW",
    "synthid_text",
    "transformers_kgw",
]
