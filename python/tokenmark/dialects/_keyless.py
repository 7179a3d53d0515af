"""A dialect from a peer's config with its keys taken out, and the keys given apart (a key file or
an environment variable): how the command line and the scan's watermarks config take dialects,
so that keys stay out of configs.

Config forms (a dict, parsed from JSON):

- the peer's own config, keys removed: vLLM's ``--watermark-config`` (``{"algorithm": ...}``),
  SGLang's (``{"context_window": ...}``), transformers' ``WatermarkingConfig`` /
  ``SynthIDTextWatermarkingConfig`` dicts; the dialect is recognised by its fields.
- ``{"dialect": "<name>", "config": {<the peer's config>}, "options": {...}}``: the dialect
  named (``vllm``, ``sglang``, ``transformers_kgw``, ``synthid_text``), ``options`` passed to its
  ``from_config`` (e.g. ``vocab_size`` / ``bos_token_id`` for transformers' KGW, whose config
  lacks them, or ``eos_token_id`` for SynthID-Text).

A flat config whose fields fit a peer's config and tokenmark's own KGW alike (``{"context_width":
4}``: vLLM's with its algorithm defaulted, or our KGW without ``scheme``) is refused, not guessed.

Key material (text): a JSON object of the dialect's key fields (``{"key": 123}``; SGLang
``{"key": "abc", "key_b": "def"}``; transformers ``{"hashing_key": 15485863}``; SynthID-Text
``{"keys": [654, 400, ...]}``), or the value of its first key field alone (``123``, ``abc``,
``[654, 400]``). A bare SGLang key is always SGLang's hex string (``1234`` is 0x1234), as SGLang
reads it; in a JSON object SGLang's keys must be strings, as in SGLang's own config.
"""

from __future__ import annotations

import json
from typing import Any

from .sglang import _CONFIG_FIELDS as _SGLANG_FIELDS
from .sglang import SGLangWatermark
from .synthid_text import _CONFIG_FIELDS as _SYNTHID_FIELDS
from .synthid_text import SynthIDText
from .transformers_kgw import _CONFIG_FIELDS as _KGW_FIELDS
from .transformers_kgw import TransformersKGW
from .vllm import _CONFIG_FIELDS as _VLLM_FIELDS
from .vllm import VLLMWatermark

DIALECTS = {
    "vllm": VLLMWatermark, "sglang": SGLangWatermark, "transformers_kgw": TransformersKGW,
    "synthid_text": SynthIDText,
}  # fmt: skip
KEY_FIELDS = {
    "vllm": ("key",), "sglang": ("key", "key_b"), "transformers_kgw": ("hashing_key",),
    "synthid_text": ("keys",),
}  # fmt: skip
_FIELDS = {
    "vllm": set(_VLLM_FIELDS), "sglang": set(_SGLANG_FIELDS), "transformers_kgw": set(_KGW_FIELDS),
    "synthid_text": set(_SYNTHID_FIELDS),
}  # fmt: skip
# Fields only one peer's config has: they name the dialect of a flat config.
_MARKERS = {
    "vllm": {"algorithm", "prf", "deduplicate_contexts", "alpha",
             "deduplicate_contexts_max_history", "allow_target_only_watermarking"},
    "sglang": {"context_window", "mixing_probability", "max_probability", "default_enabled",
               "enforce_all"},
    "transformers_kgw": {"greenlist_ratio", "seeding_scheme", "bias"},
    "synthid_text": {"ngram_len", "sampling_table_seed", "sampling_table_size",
                     "context_history_size", "skip_first_ngram_calls"},
}  # fmt: skip


def dialect_of(cfg: dict) -> str | None:
    """The dialect of a config (wrapped or flat), or None when it is tokenmark's own (it has
    ``scheme``, or fields no peer's config has). A flat config that a peer's could be but that
    names no dialect (``{"context_width": 2}``: vLLM's, its algorithm defaulted, or tokenmark's
    KGW) is refused rather than guessed."""
    if "dialect" in cfg:
        name = cfg["dialect"]
        if not isinstance(name, str) or name not in DIALECTS:
            raise ValueError(f"dialect: expected one of {sorted(DIALECTS)}, got {name!r}")
        return name
    if "scheme" in cfg:
        return None
    hits = [name for name, marks in _MARKERS.items() if marks & set(cfg)]
    if len(hits) == 1 and set(cfg) <= _FIELDS[hits[0]] | set(KEY_FIELDS[hits[0]]):
        return hits[0]
    peers = [name for name in DIALECTS if set(cfg) <= _FIELDS[name] | set(KEY_FIELDS[name])]
    if not hits and peers:
        raise ValueError(
            f"config: fields {sorted(cfg)} fit tokenmark's KGW and the config of {peers}: say "
            'which ("scheme": "kgw"; vLLM\'s "algorithm", which it defaults to "gumbel"; or '
            '{"dialect": ..., "config": {...}})'
        )
    return None


def parse_key_material(name: str, material: bytes | str) -> dict[str, Any]:
    """The key fields of dialect ``name`` from key material (see the module docstring). Errors
    never quote the material."""
    if isinstance(material, bytes):
        try:
            material = material.decode("utf-8")
        except UnicodeDecodeError:
            raise ValueError("key: not UTF-8 text") from None  # the codec's message quotes bytes
    text = material.strip()
    fields = KEY_FIELDS[name]
    try:
        value = json.loads(text)
    except ValueError:
        value = text  # a bare string (an SGLang hex key)
    if name == "sglang" and not isinstance(value, (dict, str)):
        # SGLang's keys are hex strings: a bare 1234 (or 1e5) is their hex "1234", not the JSON
        # number
        value = text
    if isinstance(value, dict):
        extra = set(value) - set(fields)
        if extra:
            raise ValueError(f"key: a {name} key holds only {list(fields)}, not {sorted(extra)}")
        return value
    return {fields[0]: value}


def from_keyless_config(cfg: dict, material: bytes | str):
    """The dialect of ``cfg`` (keys removed) with the keys of ``material``."""
    name = dialect_of(cfg)
    if name is None:
        raise ValueError("config: not a dialect's config")
    if "dialect" in cfg:
        extra = set(cfg) - {"dialect", "config", "options"}
        if extra:
            raise ValueError(f"config: unknown fields {sorted(extra)} (dialect, config, options)")
        peer, options = cfg.get("config", {}), cfg.get("options", {})
        if not isinstance(peer, dict) or not isinstance(options, dict):
            raise ValueError("config: 'config' and 'options' must be JSON objects")
    else:
        peer, options = cfg, {}
    held = [f for f in KEY_FIELDS[name] if f in peer]
    if held:
        raise ValueError(
            f"config: holds {held}; keys stay out of configs (give them in the key file or the "
            "environment)"
        )
    return DIALECTS[name].from_config({**peer, **parse_key_material(name, material)}, **options)
