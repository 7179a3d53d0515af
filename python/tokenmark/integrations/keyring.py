"""The key ring of a serving engine: named watermark configs the server loads once, so that a
request only ever names a watermark (``{"watermark": "cust-17"}``) and keys never travel in
requests (requests get logged).

The files are the scan's (:mod:`tokenmark.scan.watermarks`): a watermarks config (each entry a
scheme's ``to_dict()`` plus ``name`` and ``key_id``) and a key file ``{"<key_id>": "<key>"}``
(or ``TOKENMARK_KEY_<KEY_ID>`` variables). The detector reads the same two files:
``tokenmark scan --config watermarks.json --key-file keys.json ...`` or :meth:`KeyRing.detect`.

A server finds its files through the environment: ``TOKENMARK_KEYRING`` names the watermarks
config, ``TOKENMARK_KEYRING_KEYS`` the key file (optional; without it the keys come from
``TOKENMARK_KEY_<KEY_ID>``).

The serving processors generate KGW, Gumbel and SynthID watermarks only. A scan config may also
hold dialect entries (other implementations' watermarks, detection only): a serving key ring
(:func:`server_keyring`) refuses them when it loads, and :meth:`KeyRing.for_request` refuses a
request naming one, so keep them out of the config the server loads.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from functools import lru_cache
from typing import Any

from ..scan.watermarks import ScanConfigError, Watermark, load_watermarks

KEYRING_ENV = "TOKENMARK_KEYRING"
KEYS_ENV = "TOKENMARK_KEYRING_KEYS"
REQUEST_FIELD = "watermark"
# A request must carry no field (other than "watermark") whose name contains one of these, in
# any case: a key in a request would end up in the request logs.
_KEY_WORDS = ("key", "secret")
# The schemes the serving processors generate; dialect entries are for detection only.
SERVING_SCHEMES = ("kgw", "gumbel", "synthid")


class UnknownWatermarkError(ValueError):
    """A request names a watermark the server's key ring does not hold (or names it badly)."""


class KeyRing:
    """Named watermarks with their keys, as a server holds them.

    Parameters
    ----------
    watermarks : the loaded watermarks (see :func:`tokenmark.scan.watermarks.load_watermarks`).

    Examples
    --------
    >>> import os
    >>> os.environ["TOKENMARK_KEY_CUST17"] = "customer 17 secret"
    >>> ring = KeyRing.from_config([{"name": "cust-17", "key_id": "cust17", "scheme": "kgw"}])
    >>> ring.get("cust-17").scheme_name, ring.names()
    ('kgw', ['cust-17'])
    >>> ring.for_request({"watermark": "cust-17"}).name
    'cust-17'
    """

    def __init__(self, watermarks: list[Watermark]):
        self._by_name = {w.name: w for w in watermarks}

    @classmethod
    def from_config(
        cls,
        config: str | os.PathLike | dict | list,
        key_file: str | os.PathLike | None = None,
    ) -> KeyRing:
        """A key ring from a watermarks config (path or parsed JSON) and an optional key file."""
        return cls(load_watermarks(config, key_file))

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> KeyRing:
        """The key ring named by ``TOKENMARK_KEYRING`` (and ``TOKENMARK_KEYRING_KEYS``)."""
        env = os.environ if environ is None else environ
        config = env.get(KEYRING_ENV)
        if not config:
            raise ScanConfigError(
                f"{KEYRING_ENV} is not set: it must name the watermarks config the server "
                f"serves (and {KEYS_ENV} its key file, or set TOKENMARK_KEY_<KEY_ID>)"
            )
        return cls.from_config(config, env.get(KEYS_ENV) or None)

    def names(self) -> list[str]:
        """The watermark names, sorted."""
        return sorted(self._by_name)

    def __len__(self) -> int:
        return len(self._by_name)

    def __contains__(self, name: object) -> bool:
        return name in self._by_name

    def get(self, name: str) -> Watermark:
        """The watermark called ``name``; :class:`UnknownWatermarkError` (a ``ValueError``)
        otherwise. The message gives the requested name's length, never the name (a client may
        have sent its key as the name)."""
        if not isinstance(name, str):
            raise UnknownWatermarkError(
                f"{REQUEST_FIELD}: expected a watermark name (a string), got {type(name).__name__}"
            )
        wm = self._by_name.get(name)
        if wm is None:
            raise UnknownWatermarkError(
                f"{REQUEST_FIELD}: the requested name ({len(name)} characters, not repeated "
                f"here) is not in this server's key ring ({len(self)} watermarks loaded)"
            )
        return wm

    def for_request(self, params: Mapping[str, Any] | None) -> Watermark | None:
        """The watermark a request's parameters name (``params["watermark"]``), or None when they
        name none. A request carrying a field whose name contains "key" or "secret" (any case)
        is refused: keys stay on the server. So is a request naming an entry the serving
        processors do not generate (a dialect entry)."""
        if params is None:
            return None
        if not isinstance(params, Mapping):
            raise UnknownWatermarkError(
                f"request parameters: expected a mapping, got {type(params).__name__}"
            )
        leaked = sum(1 for f in params if f != REQUEST_FIELD and _key_like(f))
        if leaked:
            # The field names are not repeated: a client may have sent the key as a name.
            raise UnknownWatermarkError(
                f"request parameters: {leaked} field(s) whose name contains 'key' or 'secret' "
                "must not be sent; requests name a watermark of the server's key ring and keys "
                "never travel in requests"
            )
        name = params.get(REQUEST_FIELD)
        if name is None:
            return None
        wm = self.get(name)
        if wm.scheme_name not in SERVING_SCHEMES:
            raise UnknownWatermarkError(
                f"{REQUEST_FIELD}: {wm.name!r} is a {wm.scheme_name} entry of the key ring; "
                f"the serving processors generate {'/'.join(SERVING_SCHEMES)} watermarks only"
            )
        return wm

    def check_servable(self) -> KeyRing:
        """This key ring, if the serving processors generate every entry (KGW, Gumbel,
        SynthID); :class:`ScanConfigError` naming the other entries (dialects) otherwise."""
        other = [f"{n!r} ({self._by_name[n].scheme_name})" for n in self.names()
                 if self._by_name[n].scheme_name not in SERVING_SCHEMES]  # fmt: skip
        if other:
            raise ScanConfigError(
                f"{KEYRING_ENV}: the serving key ring holds {', '.join(other)}; the serving "
                f"processors generate {'/'.join(SERVING_SCHEMES)} watermarks only (dialect "
                "entries are for detection): remove them from the config the server loads"
            )
        return self

    def detect(self, name: str, sequences, *, prefix_lengths=None, backend: str = "auto"):
        """Detect watermark ``name`` in token id sequences, with the detection options of its
        config entry (KGW ``window``, Gumbel ``salt``, SynthID ``eos_token_id``). Returns the
        scheme's result (``p_value`` per sequence)."""
        wm = self.get(name)
        return wm.scheme.detect(
            sequences, prefix_lengths=prefix_lengths, backend=backend, **dict(wm.options)
        )

    def __repr__(self) -> str:
        return f"KeyRing({self.names()!r})"


@lru_cache(maxsize=1)
def server_keyring() -> KeyRing:
    """The key ring of this process, loaded once from the environment (see the module); a
    :class:`ScanConfigError` if it holds an entry the serving processors cannot generate."""
    return KeyRing.from_env().check_servable()


def _key_like(field: object) -> bool:
    f = str(field).lower()
    return any(w in f for w in _KEY_WORDS)
