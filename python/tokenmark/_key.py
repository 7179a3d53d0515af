"""Secret keys: derivation of the 128-bit PRF key from user key material, never printed."""

from __future__ import annotations

import hashlib
import hmac

import numpy as np

# Frozen: changing the derivation changes every key, so every green list.
_KEY_DOMAIN = b"tokenmark/v1/key\x00"
_FINGERPRINT_DOMAIN = b"tokenmark/v1/fingerprint\x00"
# The public fingerprint is scrypt of the derived key (RFC 7914; N = 2^14, r = 8, p = 1: 16 MiB and
# tens of ms a guess). A fast hash there let anyone holding a fingerprint (a config, a scan folder,
# a repr) test guesses of low-entropy key material (small ints, words) at hashing speed; scrypt
# makes each guess cost as much as a password check. It cannot make a guessable key safe: key
# material must be unguessable (16 random bytes: ``secrets.token_bytes(16)``).
_FINGERPRINT_SALT = b"tokenmark/v2/fingerprint\x00"
_FINGERPRINT_COST = {"n": 2**14, "r": 8, "p": 1, "maxmem": 64 * 2**20}


class Key:
    """A 128-bit watermark key derived with SHA-256 from bytes, a str (UTF-8) or an int >= 0.

    The key never appears in ``repr``, ``str``, logs or error messages; ``fingerprint`` is a
    public identifier for telling keys apart. It is slow to compute on purpose (scrypt), but a
    guessable key material (a small int, a word) can still be found from it, or from text
    watermarked under it, by trying guesses: use 16 random bytes or more.

    >>> k = Key(b"hunter2")
    >>> "hunter2" in repr(k), repr(k).startswith("Key(<secret>")
    (False, True)
    >>> k == Key(b"hunter2"), k == Key("hunter2"), k == Key(b"other")
    (True, True, False)
    """

    __slots__ = ("_words", "_fingerprint")

    def __init__(self, material: Key | bytes | bytearray | str | int):
        self._fingerprint: str | None = None
        if isinstance(material, Key):
            self._words, self._fingerprint = material._words, material._fingerprint
            return
        if isinstance(material, bool):
            raise TypeError("key must be bytes, str, int or Key, got bool")
        if isinstance(material, str):
            # A str is its UTF-8 bytes: "k" and b"k" are one key, in Python and on the CLI.
            data = _utf8(material)
        elif isinstance(material, (bytes, bytearray)):
            data = b"b" + bytes(material)
        elif isinstance(material, (int, np.integer)):
            value = int(material)
            if value < 0:
                raise ValueError("key: an int key must be >= 0")
            data = b"i" + value.to_bytes((value.bit_length() + 7) // 8 or 1, "big")
        else:
            raise TypeError(f"key must be bytes, str, int or Key, got {type(material).__name__}")
        if len(data) == 1:
            raise ValueError("key: key material must not be empty")
        digest = hashlib.sha256(_KEY_DOMAIN + data).digest()
        self._words = np.frombuffer(digest[:16], dtype="<u4").astype(np.uint32)
        self._words.setflags(write=False)

    @classmethod
    def from_hex(cls, hex_words: str) -> Key:
        """Rebuild a key from :meth:`to_hex` (the derived 128 bits, not the material)."""
        if not isinstance(hex_words, str):
            raise TypeError(f"key_hex: expected 32 hex digits, got {type(hex_words).__name__}")
        raw = _unhex(hex_words)
        if raw is None or len(raw) != 16:
            raise ValueError("key_hex: expected exactly 32 hex digits (16 bytes)")
        k = cls.__new__(cls)
        k._fingerprint = None
        k._words = np.frombuffer(raw, dtype="<u4").astype(np.uint32)
        k._words.setflags(write=False)
        return k

    def to_hex(self) -> str:
        """The derived key as 32 hex digits. Secret: store it like a password."""
        return self._words.astype("<u4").tobytes().hex()

    @property
    def words(self) -> np.ndarray:
        """The four uint32 words (k0, k1: Philox key; k2, k3: counter). Secret."""
        return self._words

    @property
    def fingerprint(self) -> str:
        """A public 8-hex-digit identifier of the key: scrypt of the derived key, computed once
        per key (tens of ms)."""
        if self._fingerprint is None:
            digest = hashlib.scrypt(
                self._words.tobytes(), salt=_FINGERPRINT_SALT, dklen=4, **_FINGERPRINT_COST
            )
            self._fingerprint = digest.hex()
        return self._fingerprint

    def has_fingerprint(self, fingerprint: str) -> bool:
        """Whether ``fingerprint`` is this key's: its :attr:`fingerprint`, or the one tokenmark
        0.1 wrote (a fast hash, accepted on load so that older configs and calibrations still
        load, never written)."""
        legacy = hashlib.sha256(_FINGERPRINT_DOMAIN + self._words.tobytes()).hexdigest()[:8]
        return isinstance(fingerprint, str) and fingerprint in (self.fingerprint, legacy)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Key):
            return NotImplemented
        return hmac.compare_digest(self._words.tobytes(), other._words.tobytes())

    def __hash__(self) -> int:
        return hash(self._words.tobytes())

    def __repr__(self) -> str:
        return f"Key(<secret>, fingerprint={self.fingerprint})"

    __str__ = __repr__

    def __reduce__(self):
        # Pickling (multiprocessing, Ray) carries the derived key, never the material.
        return (Key.from_hex, (self.to_hex(),))


def _utf8(material: str) -> bytes:
    """``b"b"`` + the UTF-8 bytes of a str key. The codec's exception would carry the whole key
    (also as ``__context__`` of anything raised inside ``except``): raise outside it instead."""
    try:
        data = b"b" + material.encode("utf-8")
    except UnicodeEncodeError:
        data = None
    if data is None:
        raise ValueError(
            "key: a str key must be valid Unicode text (no lone surrogates); "
            "pass bytes for binary key material"
        )
    return data


def _unhex(hex_words: str) -> bytes | None:
    try:
        return bytes.fromhex(hex_words)
    except ValueError:
        return None


def key_from_config(d: dict, key) -> Key:
    """The key of a scheme config dict (``to_dict`` output, popped in place): ``key`` when given,
    else the dict's ``key_hex``; checked against its ``key_fingerprint``."""
    fingerprint = d.pop("key_fingerprint", None)
    if fingerprint is not None and not isinstance(fingerprint, str):
        raise TypeError("key_fingerprint: expected a str of 8 hex digits")
    key_hex = d.pop("key_hex", None)
    if key is None:
        if key_hex is None:
            raise ValueError("key: the config holds no key; pass key=")
        key = Key.from_hex(key_hex)
    key = Key(key)
    if key_hex is not None and Key.from_hex(key_hex) != key:
        raise ValueError("key: does not match the config's key_hex")
    if fingerprint is not None and not key.has_fingerprint(fingerprint):
        raise ValueError("key: does not match the config's key_fingerprint")
    return key
