"""The watermarks a scan looks for: a JSON config of our schemes' configs with key ids, and the
keys themselves from a key file or the environment (never from the config, never printed).

Config (``watermarks.json``)::

    {"watermarks": [
      {"name": "chat-v1", "key_id": "chat", "scheme": "kgw", "gamma": 0.25, "context_width": 4,
       "window": 100},
      {"name": "api-gumbel", "key_id": "api", "scheme": "gumbel", "context_width": 4}
    ]}

Each entry is a scheme's ``to_dict()`` (``to_json()``) plus ``key_id`` (which key), an optional
``name`` (unique; default ``<key_id>/<scheme>``) and detection options: ``window`` (the
strongest window of this many counted tokens: KGW, Gumbel, SynthID), ``salt`` (Gumbel),
``eos_token_id`` (SynthID).
A ``key_fingerprint`` in an entry is checked against the key.

Dialects (other implementations' watermarks, :mod:`tokenmark.dialects`): an entry
``{"key_id": ..., "dialect": "vllm" | "sglang" | "transformers_kgw" | "synthid_text",
"config": {<the peer's own config, keys removed>}, "options": {...}}``; its key is the peer's key
material as text (e.g. ``"1234"``, or ``"{\"key\": \"abc\", \"key_b\": \"def\"}"`` for
SGLang's two keys), from the key file or the environment as for our schemes (see
:mod:`tokenmark.dialects._keyless`).

Keys: a key file, JSON ``{"<key_id>": "<key material>", ...}`` (material as ``TOKENMARK_KEY``
takes it; or ``{"key_hex": "<32 hex digits>"}`` for a derived key from ``to_json(include_key=
True)``), or the environment variable ``TOKENMARK_KEY_<KEY_ID>`` (the key id upper-cased, other
characters than letters and digits as ``_``). The key file wins.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .._key import Key
from ..gumbel import Gumbel
from ..kgw import KGW
from ..synthid import SynthID

SCHEMES = {"kgw": KGW, "gumbel": Gumbel, "synthid": SynthID}
ENV_PREFIX = "TOKENMARK_KEY_"
_DETECT_OPTIONS = {
    "kgw": ("window",),
    "gumbel": ("window", "salt"),
    "synthid": ("window", "eos_token_id"),
}


class ScanConfigError(ValueError):
    """A usage error in the watermarks config or the keys (exit code 2 on the command line)."""


@dataclass(frozen=True)
class Watermark:
    """One watermark to look for: a display name, the scheme config (with its key) and the
    detection options passed to its ``detect()``."""

    name: str
    key_id: str
    scheme: Any  # KGW | Gumbel | SynthID, or a dialect's scheme
    options: tuple[tuple[str, Any], ...] = ()
    dialect: str | None = None  # the dialect's name; then dialect_config is its keyless config
    dialect_config: str | None = None  # with its key material's public fingerprint
    calibration: Any = None  # a tokenmark.Calibration for this key (scan --calibration)

    @property
    def scheme_name(self) -> str:
        return f"dialect:{self.dialect}" if self.dialect else self.scheme.scheme_name

    def public_dict(self) -> dict[str, Any]:
        """What identifies this watermark without its key (the key's public fingerprint in it)."""
        if self.dialect is not None:
            return {"name": self.name, "key_id": self.key_id,
                    **json.loads(self.dialect_config)}  # fmt: skip
        return {
            "name": self.name,
            "key_id": self.key_id,
            **self.scheme.to_dict(),
            **dict(self.options),
            **({"calibration": self.calibration.digest} if self.calibration is not None else {}),
        }

    def __repr__(self) -> str:
        return f"Watermark(name={self.name!r}, key_id={self.key_id!r}, scheme={self.scheme_name})"


def env_name(key_id: str, prefix: str = ENV_PREFIX) -> str:
    """The environment variable that holds the key ``key_id``.

    >>> env_name("chat-v1")
    'TOKENMARK_KEY_CHAT_V1'
    """
    return prefix + re.sub(r"[^A-Za-z0-9]", "_", key_id).upper()


def load_keys(key_file: str | os.PathLike | None) -> dict[str, Key]:
    """Keys by id from a JSON key file (see the module docstring); {} without one."""
    if key_file is None:
        return {}
    try:
        raw = Path(key_file).read_bytes()
    except OSError as e:
        raise ScanConfigError(f"key_file: cannot read it ({type(e).__name__})") from None
    try:
        data = json.loads(raw)
    except (ValueError, RecursionError):
        # The message must not quote the file: it holds secrets.
        raise ScanConfigError("key_file: not valid JSON") from None
    if not isinstance(data, dict):
        raise ScanConfigError('key_file: expected a JSON object {"<key_id>": "<key>", ...}')
    keys = {}
    for key_id, value in data.items():
        try:
            if isinstance(value, str):
                keys[key_id] = Key(value)
            elif isinstance(value, dict) and set(value) == {"key_hex"}:
                keys[key_id] = Key.from_hex(str(value["key_hex"]))
            else:
                raise ValueError
        except (ValueError, TypeError):
            raise ScanConfigError(
                f'key_file: key {key_id!r} must be a non-empty string or {{"key_hex": <32 hex>}}'
            ) from None
    return keys


def _key_for(key_id: str, keys: dict[str, Key], env_prefix: str) -> Key:
    if key_id in keys:
        return keys[key_id]
    var = env_name(key_id, env_prefix)
    value = os.environ.get(var)
    if value is None:
        raise ScanConfigError(
            f"key {key_id!r}: not in the key file and {var} is not set "
            "(keys are never read from the command line or the watermarks config)"
        )
    if not value:
        raise ScanConfigError(f"key {key_id!r}: {var} is set but empty")
    # Its raw bytes, as `tokenmark detect` reads TOKENMARK_KEY: "k" and b"k" are one key, and
    # bytes that are not UTF-8 are a key as they are (not an error that names no variable).
    return Key(os.fsencode(value))


def load_watermarks(
    config: str | os.PathLike | dict | list,
    key_file: str | os.PathLike | None = None,
    env_prefix: str = ENV_PREFIX,
    default_window: int | None = None,
) -> list[Watermark]:
    """The watermarks of a config file (or its parsed JSON), each with its key.

    Parameters
    ----------
    config : path of the watermarks JSON, or its content (a dict with ``"watermarks"`` or a list).
    key_file : JSON key file; keys not in it come from ``<env_prefix><KEY_ID>``.
    env_prefix : prefix of the key environment variables.
    default_window : ``window`` for the entries of our schemes that give none.

    Example
    -------
    >>> import os
    >>> os.environ["TOKENMARK_KEY_DOCS"] = "my secret"
    >>> [w.name for w in load_watermarks([{"key_id": "docs", "scheme": "kgw"}])]
    ['docs/kgw']
    """
    if isinstance(config, (str, os.PathLike)):
        try:
            config = json.loads(Path(config).read_text(encoding="utf-8"))
        except OSError as e:
            raise ScanConfigError(f"config: cannot read it ({type(e).__name__})") from None
        except (ValueError, RecursionError) as e:
            raise ScanConfigError(f"config: not valid JSON ({e})") from None
    entries = config.get("watermarks") if isinstance(config, dict) else config
    if not isinstance(entries, list) or not entries:
        raise ScanConfigError('config: expected {"watermarks": [...]} with at least one entry')
    keys = load_keys(key_file)
    out: list[Watermark] = []
    for i, entry in enumerate(entries):
        where = f"config: watermarks[{i}]"
        if not isinstance(entry, dict):
            raise ScanConfigError(f"{where}: expected an object")
        d = dict(entry)
        if "key_hex" in d:
            raise ScanConfigError(
                f"{where}: holds key_hex; a scan takes keys from the key file or the environment"
            )
        key_id = d.pop("key_id", None)
        if not isinstance(key_id, str) or not key_id:
            raise ScanConfigError(f"{where}: needs a key_id (a non-empty string)")
        if "dialect" in d:
            out.append(_dialect_watermark(d, key_id, key_file, env_prefix, where))
            continue
        scheme = d.get("scheme", "kgw")
        cls = SCHEMES.get(scheme) if isinstance(scheme, str) else None
        if cls is None:
            raise ScanConfigError(f"{where}: unknown scheme {scheme!r}, expected {sorted(SCHEMES)}")
        name = d.pop("name", f"{key_id}/{scheme}")
        if not isinstance(name, str) or not name:
            raise ScanConfigError(f"{where}: name must be a non-empty string")
        options = {k: d.pop(k) for k in _DETECT_OPTIONS[scheme] if k in d}
        if "window" not in options and default_window is not None:
            options["window"] = default_window
        _check_options(options, where)
        key = _key_for(key_id, keys, env_prefix)
        try:
            wm = cls.from_dict(d, key=key)
        except TypeError as e:
            raise ScanConfigError(f"{where}: {e}") from None
        except ValueError as e:
            raise ScanConfigError(f"{where}: {e}") from None
        out.append(Watermark(name, key_id, wm, tuple(sorted(options.items()))))
    names = [w.name for w in out]
    dup = sorted({n for n in names if names.count(n) > 1})
    if dup:
        raise ScanConfigError(f"config: watermark names must be unique, repeated: {dup}")
    return out


def _key_material(key_id: str, key_file, env_prefix: str) -> str:
    """A dialect's key material as text: the key file's string for ``key_id``, or the variable."""
    if key_file is not None:
        data = json.loads(Path(key_file).read_bytes())  # load_keys has checked it
        if isinstance(data.get(key_id), str):
            return data[key_id]
    value = os.environ.get(env_name(key_id, env_prefix))
    if value:
        return value
    raise ScanConfigError(
        f"key {key_id!r}: not a string in the key file and {env_name(key_id, env_prefix)} is "
        "not set (keys are never read from the command line or the watermarks config)"
    )


def _dialect_watermark(d: dict, key_id: str, key_file, env_prefix: str, where: str) -> Watermark:
    from ..dialects._keyless import dialect_of, from_keyless_config

    name = d.pop("name", f"{key_id}/{d['dialect']}")
    if not isinstance(name, str) or not name:
        raise ScanConfigError(f"{where}: name must be a non-empty string")
    load_keys(key_file)  # the key file is checked as for every entry
    material = _key_material(key_id, key_file, env_prefix)
    try:
        dialect = dialect_of(d)
        scheme = from_keyless_config(d, material)
    except (TypeError, ValueError) as e:
        raise ScanConfigError(f"{where}: {e}") from None
    # The material's public fingerprint (as our keys'): a rerun with another key is other
    # settings, refused, as for our schemes.
    public = {**d, "key_fingerprint": Key(material).fingerprint}
    return Watermark(name, key_id, scheme, (), dialect, json.dumps(public, sort_keys=True))


def _check_options(options: dict, where: str) -> None:
    for k, v in options.items():
        if v is None:
            continue
        if isinstance(v, bool) or not isinstance(v, int):
            raise ScanConfigError(f"{where}: {k} must be an integer, got {v!r}")
        if k == "window" and v < 1:
            raise ScanConfigError(f"{where}: window must be >= 1, got {v}")
        if k in ("salt", "eos_token_id") and not 0 <= v < 2**32:
            raise ScanConfigError(f"{where}: {k} must be in [0, 2^32), got {v}")
