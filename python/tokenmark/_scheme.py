"""What every watermark scheme config shares: serialisation and text detection."""

from __future__ import annotations

import dataclasses
import json
from typing import Any, ClassVar

import numpy as np

from ._inputs import encode_texts
from ._key import Key, key_from_config
from ._validate import check_alpha, check_bool
from .stats import check_window


class DocResult:
    """Mixin for the per-document results of ``detect()`` (``KGWResult``, ``GumbelResult``,
    ``SynthIDResult``): arrays of length ``n_docs``, among them ``n_scored`` and ``p_value``."""

    def __len__(self) -> int:
        return len(self.n_scored)

    def is_watermarked(self, alpha: float = 1e-3) -> np.ndarray:
        """Documents whose p-value is at most ``alpha`` (the false-positive rate per document)."""
        return self.p_value <= check_alpha(alpha)

    def _window_record(self, d: int, stat: str, values: np.ndarray, kind: type) -> dict[str, Any]:
        """Document ``d``'s best window for ``to_records``: its size, first token position,
        statistic (``stat``: ``values[d]`` as ``kind``) and p-value."""
        return {
            "size": self.window,
            "start": int(self.window_start[d]),
            stat: kind(values[d]),
            "p_value": float(self.window_p_value[d]),
        }


class SchemeConfig:
    """Mixin for the frozen scheme dataclasses (``KGW``, ``Gumbel``, ``SynthID``).

    A config serialises to a plain dict of its fields plus ``scheme``, ``version`` and the key's
    public fingerprint; the key itself only on request, as the derived hex key (secret).
    """

    scheme_name: ClassVar[str]
    config_version: ClassVar[int] = 1

    def to_dict(self, include_key: bool = False) -> dict[str, Any]:
        """The config as a dict. The key is left out unless ``include_key`` (then as the derived
        128-bit hex key, which is secret: store it like a password)."""
        include_key = check_bool(include_key, "include_key")
        d: dict[str, Any] = {"scheme": self.scheme_name, "version": self.config_version}
        for f in dataclasses.fields(self):
            if f.name != "key":
                d[f.name] = getattr(self, f.name)
        d["key_fingerprint"] = self.key.fingerprint
        if include_key:
            d["key_hex"] = self.key.to_hex()
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any], key=None):
        """Rebuild from :meth:`to_dict`; pass ``key`` when the dict holds none."""
        if not isinstance(d, dict):
            raise TypeError(f"config: expected a dict (a JSON object), got {type(d).__name__}")
        d = dict(d)
        if d.pop("scheme", cls.scheme_name) != cls.scheme_name:
            raise ValueError(f"scheme: this config is not a {cls.__name__} config")
        version = d.pop("version", cls.config_version)
        if isinstance(version, bool) or not isinstance(version, int):
            raise TypeError(f"version: expected an int, got {type(version).__name__}")
        if not 1 <= version <= cls.config_version:
            raise ValueError(
                f"version: expected a {cls.__name__} config version in [1, {cls.config_version}], "
                f"got {version} (a newer version is written by a newer tokenmark)"
            )
        known = {f.name for f in dataclasses.fields(cls)} | {"key_fingerprint", "key_hex"}
        unknown = sorted(str(k) for k in d if k not in known - {"key"})
        if unknown:
            raise ValueError(
                f"config: unknown field(s) {unknown} for {cls.__name__}; expected some of "
                f"{sorted(known - {'key'})}"
            )
        return cls(key=key_from_config(d, key), **d)

    def to_json(self, include_key: bool = False) -> str:
        return json.dumps(self.to_dict(include_key=include_key))

    @classmethod
    def from_json(cls, s: str, key=None):
        """Rebuild from :meth:`to_json`; pass ``key`` when the JSON holds none."""
        if not isinstance(s, (str, bytes, bytearray)):
            raise TypeError(f"s: expected a JSON str, got {type(s).__name__}")
        try:
            d = json.loads(s)
        except (ValueError, RecursionError) as e:
            msg = e.msg if isinstance(e, json.JSONDecodeError) else "not valid JSON"
            d, err = None, f"s: invalid JSON config: {msg}"
        else:
            err = None
        if err is not None:
            raise ValueError(err)
        return cls.from_dict(d, key=key)

    def detect_text(self, texts, tokenizer, **kwargs):
        """Tokenize ``texts`` (no special tokens) with a Hugging Face tokenizer, a
        ``tokenizers.Tokenizer`` or a local tokenizer path, then ``detect``."""
        if isinstance(texts, str):
            texts = [texts]
        return self.detect(encode_texts(texts, tokenizer), **kwargs)

    # -- per-key calibration (tokenmark.calibration) -------------------------------------------
    def calibrate(
        self, reference_docs, *, max_shift: float | None = None, min_docs: int | None = None
    ):
        """Learn, for this key, the (context, token) pairs frequent in human reference text;
        :meth:`detect_calibrated` leaves them out so that this key's false-positive rate on text
        of that kind stays near alpha. See :func:`tokenmark.calibration.calibrate` (``max_shift``
        0.05 by default, or ``min_docs`` instead).

        >>> import tokenmark as tm
        >>> wm = tm.KGW(key=b"my secret", context_width=1)
        >>> cal = wm.calibrate([[1, 2, 3], [1, 2, 4], [7, 8, 9]], min_docs=2)
        >>> wm.detect_calibrated([[1, 2, 5]], calibration=cal).n_scored.tolist()
        [1]
        """
        from .calibration import calibrate

        return calibrate(self, reference_docs, max_shift=max_shift, min_docs=min_docs)

    def detect_calibrated(self, sequences, *, calibration, **kwargs):
        """``detect(sequences, **kwargs)`` without the pairs of ``calibration`` (made by
        :meth:`calibrate` or ``tokenmark.Calibration.load`` for this key): the same result type,
        exact p-values over the remaining tokens."""
        from .calibrated_detect import detect_calibrated

        return detect_calibrated(self, sequences, calibration, **kwargs)


def keys_list(keys) -> list[Key]:
    """``keys`` of ``detect_many``: a sequence of :class:`Key` or key material (bytes, str, int);
    the error never shows them."""
    if isinstance(keys, (str, bytes, bytearray, int, Key)) or not hasattr(keys, "__iter__"):
        raise TypeError("keys: expected a list of keys (tokenmark.Key, bytes, str or int)")
    out = []
    for i, k in enumerate(keys):
        try:
            out.append(Key(k))
        except (TypeError, ValueError):
            err = f"keys[{i}]: expected a tokenmark.Key, non-empty bytes or str, or an int >= 0"
        else:
            continue
        raise TypeError(err)
    return out


def check_window_request(window, backend) -> int | None:
    """A ``detect(window=...)`` argument: None, or a window size for the host scorers (the
    per-token terms of Gumbel's and SynthID's windows come from the host backends). A GPU
    backend is refused by name; any other backend is left to the usual backend check."""
    if window is None:
        return None
    window = check_window(window)
    from .backends import GPU_BACKENDS

    if isinstance(backend, str) and backend in GPU_BACKENDS:
        raise ValueError(
            "backend: with a window, expected 'auto', 'cpu' or 'reference' (the windowed "
            f"detector scores on the host), got {backend!r}"
        )
    return window
