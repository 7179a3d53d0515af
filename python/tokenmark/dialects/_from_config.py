"""One entry point for the peers' own configs: which dialect a config object, dict or JSON is."""

from __future__ import annotations

from typing import Any

from ._config import parse_json
from .sglang import _CONFIG_FIELDS as _SGLANG_FIELDS
from .sglang import SGLangWatermark
from .synthid_text import SynthIDText
from .transformers_kgw import TransformersKGW
from .vllm import _CONFIG_FIELDS as _VLLM_FIELDS
from .vllm import VLLMWatermark


def _as_dict(config) -> dict[str, Any]:
    config = parse_json(config)
    if isinstance(config, dict):
        return config
    if hasattr(config, "to_dict"):  # transformers' configs
        return config.to_dict()
    fields = ("key", "algorithm", "alpha", "context_width", "prf", "deduplicate_contexts")
    if hasattr(config, "key") and hasattr(config, "algorithm"):  # vLLM's WatermarkConfig
        return {f: getattr(config, f) for f in fields if hasattr(config, f)}
    if hasattr(config, "key") and hasattr(config, "context_window"):  # SGLang's server config
        return {f: getattr(config, f) for f in _SGLANG_FIELDS if hasattr(config, f)}
    raise TypeError(f"config: not a watermark config a dialect knows ({type(config).__name__})")


def from_config(config, **kwargs):
    """The dialect of a peer's own watermark config, made from it.

    ``config`` is transformers' ``WatermarkingConfig`` or ``SynthIDTextWatermarkingConfig``,
    vLLM's ``WatermarkConfig``, SGLang's ``WatermarkServerConfig``, one of their dicts, or its
    JSON (vLLM's or SGLang's ``--watermark-config``).
    ``kwargs`` go to the dialect's ``from_config`` (e.g. ``model_config=`` or ``vocab_size=``
    for transformers' KGW, ``eos_token_id=`` for SynthID-Text).

    >>> import tokenmark as tm
    >>> tm.dialects.from_config('{"key": 5, "algorithm": "gumbel", "context_width": 2}')
    VLLMWatermark(key=<secret>, algorithm='gumbel', context_width=2, alpha=0.1, \
deduplicate_contexts=True)
    """
    d = _as_dict(config)
    if "algorithm" in d:
        return VLLMWatermark.from_config(d, **kwargs)
    if "key" in d and set(d) <= _SGLANG_FIELDS and (isinstance(d["key"], str) or len(d) > 1):
        return SGLangWatermark.from_config(d, **kwargs)  # it refuses a number key, as SGLang
    if "key" in d and set(d) <= _VLLM_FIELDS:
        # vLLM's algorithm defaults to gumbel; its key is an int (SGLang's a hex string)
        return VLLMWatermark.from_config(d, **kwargs)
    if "ngram_len" in d or "keys" in d:
        return SynthIDText.from_config(d, **kwargs)
    if "greenlist_ratio" in d or "seeding_scheme" in d or "hashing_key" in d:
        return TransformersKGW.from_config(d, **kwargs)
    raise ValueError(f"config: no dialect has these fields ({sorted(d)})")
