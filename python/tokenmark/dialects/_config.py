"""The peers' configs as the dialects read them: JSON text parsed without ever quoting it (it may
hold a key), and config objects as dicts."""

from __future__ import annotations

import json
from typing import Any


def parse_json(config):
    """``config`` parsed where it is JSON text (str or bytes), else as given."""
    if isinstance(config, (str, bytes)):
        try:
            return json.loads(config)
        except (ValueError, RecursionError):
            raise ValueError("config: not valid JSON (or nested too deeply)") from None
    return config


def config_dict(config, what: str) -> dict[str, Any]:
    """A transformers config object (``to_dict()``), its dict, or its JSON, as a dict."""
    config = parse_json(config)
    d = config.to_dict() if hasattr(config, "to_dict") else config
    if not isinstance(d, dict):
        raise TypeError(
            f"config: expected {what}, its dict or its JSON, got {type(config).__name__}"
        )
    return d


def model_config_getter(model_config):
    """``get(name, default)`` of a transformers ``PretrainedConfig`` or its dict. A composite
    config (e.g. ``LlavaConfig``) without the field gives its text config's, as generation reads
    the vocabulary size from ``get_text_config()``."""
    if isinstance(model_config, dict):
        return model_config.get
    if not hasattr(model_config, "vocab_size") and not hasattr(model_config, "get_text_config"):
        raise TypeError(
            "model_config: expected a transformers PretrainedConfig or a dict with vocab_size, "
            f"got {type(model_config).__name__}"
        )

    def get(name, default=None):
        value = getattr(model_config, name, None)
        if value is None and hasattr(model_config, "get_text_config"):
            value = getattr(model_config.get_text_config(), name, None)
        return default if value is None else value

    return get
