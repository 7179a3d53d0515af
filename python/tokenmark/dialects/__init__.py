"""Dialects: other implementations' watermarks, re-stated exactly and scored on tokenmark's
batched detectors with exact p-values.

A dialect reproduces another library's PRF, context rule, scored-token rule and statistic, so
text that library watermarked is detected here, in batches, with the same counts and scores as
its own detector plus tokenmark's exact p-value.

- :func:`transformers_kgw`: transformers' ``WatermarkLogitsProcessor`` / ``WatermarkDetector``.
- :func:`synthid_text`: transformers' ``SynthIDTextWatermarkLogitsProcessor`` and ``synthid-text``.
- :func:`tgi_kgw`: text-generation-inference's KGW (a transformers ``lefthash`` special case).
- :func:`vllm`: vLLM's native ``gumbel`` and ``dual_key_gumbel`` watermarks (0.33).
- :func:`sglang`: SGLang's native Aaronson-Gumbel watermark with MurmurHash3 (0.5.23).
- :func:`unigram`: Unigram-Watermark (Zhao et al., 2023) as its reference code makes it.
- :func:`from_config`: the dialect of a peer's own config object, dict or JSON.
"""

from ._from_config import from_config
from .sglang import SGLangResult, SGLangWatermark, sglang
from .synthid_text import SynthIDText, SynthIDTextResult, synthid_text
from .tgi import tgi_kgw
from .transformers_kgw import TransformersKGW, transformers_kgw
from .unigram import Unigram, unigram
from .vllm import VLLMResult, VLLMWatermark, vllm

__all__ = [
    "SGLangResult",
    "SGLangWatermark",
    "SynthIDText",
    "SynthIDTextResult",
    "TransformersKGW",
    "Unigram",
    "VLLMResult",
    "VLLMWatermark",
    "from_config",
    "sglang",
    "synthid_text",
    "tgi_kgw",
    "transformers_kgw",
    "unigram",
    "vllm",
]
