"""The serving key ring: the scan's config + key files, loaded by name; keys never leave it."""

from __future__ import annotations

import json

import numpy as np
import pytest
import tokenmark as tm
from keyring_helpers import serve_keyring, write_keyring
from tokenmark.integrations.keyring import (
    KEYRING_ENV,
    KeyRing,
    UnknownWatermarkError,
    server_keyring,
)
from tokenmark.scan.watermarks import ScanConfigError, load_watermarks

SECRETS = {"cust17": "customer seventeen's secret", "api": "the api secret"}
CONFIG = {
    "watermarks": [
        {"name": "cust-17", "key_id": "cust17", "scheme": "kgw", "gamma": 0.25, "window": 50},
        {"name": "api-gumbel", "key_id": "api", "scheme": "gumbel", "context_width": 2},
        {"name": "api-synthid", "key_id": "api", "scheme": "synthid", "context_width": 3},
    ]
}


@pytest.fixture
def files(tmp_path):
    return write_keyring(tmp_path, CONFIG["watermarks"], SECRETS)


@pytest.fixture
def served(tmp_path, monkeypatch):
    yield from serve_keyring(tmp_path, monkeypatch, CONFIG["watermarks"], SECRETS)


def _no_secret(text: str) -> None:
    for secret in SECRETS.values():
        assert secret not in text
        assert tm.Key(secret).to_hex() not in text


def test_from_files_matches_the_scan_loader(files):
    ring = KeyRing.from_config(*files)
    assert ring.names() == ["api-gumbel", "api-synthid", "cust-17"]
    scan = {w.name: w for w in load_watermarks(*files)}
    for name in ring.names():
        wm = ring.get(name)
        assert wm.scheme.to_dict() == scan[name].scheme.to_dict()
        assert wm.scheme.key.words.tolist() == scan[name].scheme.key.words.tolist()
        assert wm.options == scan[name].options
    assert ring.get("cust-17").scheme.key.words.tolist() == tm.Key(SECRETS["cust17"]).words.tolist()
    _no_secret(repr(ring))


def test_from_env(files, served, monkeypatch):
    config, keys = files
    assert served.names() == KeyRing.from_config(config, keys).names()
    assert server_keyring() is served  # one ring per serving process
    # Without a key file the keys come from TOKENMARK_KEY_<KEY_ID>, as in a scan.
    env = {KEYRING_ENV: str(config), "TOKENMARK_KEY_CUST17": "x", "TOKENMARK_KEY_API": "y"}
    monkeypatch.setenv("TOKENMARK_KEY_CUST17", "x")
    monkeypatch.setenv("TOKENMARK_KEY_API", "y")
    ring = KeyRing.from_env(env)
    assert ring.get("api-gumbel").scheme.key.words.tolist() == tm.Key("y").words.tolist()


def test_from_env_unset_says_what_to_set():
    with pytest.raises(ScanConfigError, match=KEYRING_ENV):
        KeyRing.from_env({})


def test_missing_key_is_refused_without_a_secret(tmp_path, files):
    config, _ = files
    keys = tmp_path / "partial.json"
    keys.write_text(json.dumps({"api": SECRETS["api"]}))
    with pytest.raises(ScanConfigError, match="cust17") as e:
        KeyRing.from_config(config, keys)
    _no_secret(str(e.value))


def test_requests_name_a_watermark(files):
    ring = KeyRing.from_config(*files)
    assert ring.for_request(None) is None
    assert ring.for_request({}) is None
    assert ring.for_request({"other": 1}) is None
    assert ring.for_request({"watermark": "api-gumbel"}).scheme_name == "gumbel"


@pytest.mark.parametrize(
    "params, match",
    [
        ({"watermark": "cust-18"}, r"name \(7 characters, not repeated here\) is not in"),
        ({"watermark": 17}, "expected a watermark name"),
        ({"watermark": "x" * 1000}, r"\(1000 characters"),
        ({"watermark": "cust-17", "key": SECRETS["cust17"]}, "keys never travel"),
        ({"key_hex": tm.Key(SECRETS["api"]).to_hex()}, "keys never travel"),
        # Any field whose name contains "key" or "secret", in any case, is refused.
        ({"watermark": "cust-17", "Key": SECRETS["cust17"]}, "keys never travel"),
        ({"watermark": "cust-17", "KEY": SECRETS["cust17"]}, "keys never travel"),
        ({"watermark": "cust-17", "secret_key": SECRETS["cust17"]}, "keys never travel"),
        ({"watermark": "cust-17", "watermark_key": SECRETS["cust17"]}, "keys never travel"),
        ({"watermark": "cust-17", "apiSecret": SECRETS["cust17"]}, "keys never travel"),
        ({"watermark": "cust-17", "key_id": "cust17"}, "keys never travel"),
        # A field named by the key itself is not repeated either.
        ({"watermark": "cust-17", SECRETS["cust17"]: 1}, "1 field"),
        # A client that sends its key as the name does not get it back in the error.
        ({"watermark": SECRETS["cust17"]}, r"\(27 characters, not repeated here\)"),
        ({"watermark": tm.Key(SECRETS["api"]).to_hex()}, "not in this server's key ring"),
        (["cust-17"], "expected a mapping"),
    ],
)
def test_bad_requests_are_refused_without_a_secret(files, params, match):
    ring = KeyRing.from_config(*files)
    with pytest.raises(UnknownWatermarkError, match=match) as e:
        ring.for_request(params)
    assert isinstance(e.value, ValueError)
    _no_secret(str(e.value))
    assert len(str(e.value)) < 400


PEER = {"name": "peer-vllm", "key_id": "peer", "dialect": "vllm",
        "config": {"algorithm": "gumbel", "context_width": 2}}  # fmt: skip


def test_a_dialect_entry_is_detected_but_never_served(tmp_path, monkeypatch):
    """A dialect entry (detection only) passed for_request, then failed inside the engine (a raw
    TypeError in SGLang's sampling step, a misleading startup error in vLLM)."""
    secrets = {**SECRETS, "peer": "1234"}
    config, keys = write_keyring(tmp_path, [*CONFIG["watermarks"], PEER], secrets)
    ring = KeyRing.from_config(config, keys)  # the scan's use of the same files is unchanged
    assert ring.get("peer-vllm").scheme_name == "dialect:vllm"
    rng = np.random.default_rng(1)
    docs = [rng.integers(0, 1000, 80).tolist() for _ in range(2)]
    assert len(ring.detect("peer-vllm", docs).p_value) == 2
    assert ring.for_request({"watermark": "cust-17"}).scheme_name == "kgw"
    with pytest.raises(UnknownWatermarkError, match="'peer-vllm' is a dialect:vllm entry") as e:
        ring.for_request({"watermark": "peer-vllm"})
    assert "kgw/gumbel/synthid" in str(e.value)
    _no_secret(str(e.value))
    # The server's own ring refuses to load with it, naming the entry.
    monkeypatch.setenv(KEYRING_ENV, str(config))
    monkeypatch.setenv("TOKENMARK_KEYRING_KEYS", str(keys))
    server_keyring.cache_clear()
    try:
        with pytest.raises(ScanConfigError, match=r"'peer-vllm' \(dialect:vllm\)") as e:
            server_keyring()
    finally:
        server_keyring.cache_clear()
    assert "1234" not in str(e.value)
    _no_secret(str(e.value))


def test_detect_uses_the_entry_and_its_options(files):
    ring = KeyRing.from_config(*files)
    rng = np.random.default_rng(0)
    docs = [rng.integers(0, 1000, 120).tolist() for _ in range(3)]
    for name in ring.names():
        wm = ring.get(name)
        got = ring.detect(name, docs, prefix_lengths=[5, 5, 5])
        want = wm.scheme.detect(docs, prefix_lengths=[5, 5, 5], **dict(wm.options))
        np.testing.assert_array_equal(got.p_value, want.p_value)
    # The KGW entry's window reaches detect().
    assert ring.get("cust-17").scheme.detect(docs).window is None
    assert ring.detect("cust-17", docs).window == 50
