"""A serving key ring for tests: the config and key files a server reads, written to a temporary
folder, and the environment that names them."""

from __future__ import annotations

import json
from pathlib import Path

from tokenmark.integrations.keyring import KEYRING_ENV, KEYS_ENV, server_keyring


def write_keyring(folder: Path, watermarks: list[dict], secrets: dict) -> tuple[Path, Path]:
    """``(watermarks.json, keys.json)`` in ``folder``: the scan's config format and key file."""
    config, keys = folder / "watermarks.json", folder / "keys.json"
    config.write_text(json.dumps({"watermarks": watermarks}))
    keys.write_text(json.dumps(secrets))
    return config, keys


def serve_keyring(folder: Path, monkeypatch, watermarks: list[dict], secrets: dict):
    """A fixture body: yields the server's key ring loaded through the environment, as
    ``server_keyring()`` loads it in a serving process; its cache is cleared around the test."""
    config, keys = write_keyring(folder, watermarks, secrets)
    monkeypatch.setenv(KEYRING_ENV, str(config))
    monkeypatch.setenv(KEYS_ENV, str(keys))
    server_keyring.cache_clear()
    yield server_keyring()
    server_keyring.cache_clear()
