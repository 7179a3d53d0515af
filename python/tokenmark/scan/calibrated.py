"""``scan --calibration FILE``: per-key calibrations (``tokenmark.Calibration``) for a scan.

A calibration file holds no key, only the key's public fingerprint and the scheme config it was
made for; each file is given to every watermark of the scan whose key and pair identity
(scheme, context width, seeding) it matches, and a file that matches none is a usage error.
Calibrations are made for our own schemes (KGW, Gumbel, SynthID): dialect watermarks never match
one and are scored uncalibrated.
"""

from __future__ import annotations

import dataclasses
import functools
import os

from ..calibration import Calibration
from .watermarks import ScanConfigError, Watermark


def attach_calibrations(
    watermarks: list[Watermark], paths: list[str | os.PathLike]
) -> list[Watermark]:
    """``watermarks`` with the calibration of ``paths`` that matches each (at most one each).

    Example
    -------
    >>> import os, tempfile, tokenmark as tm
    >>> from tokenmark.scan import load_watermarks
    >>> os.environ["TOKENMARK_KEY_DOCS"] = "my secret"
    >>> wms = load_watermarks([{"key_id": "docs", "scheme": "kgw", "context_width": 1}])
    >>> path = os.path.join(tempfile.mkdtemp(), "docs.cal.json")
    >>> wms[0].scheme.calibrate([[1, 2, 3], [1, 2, 4]], min_docs=2).save(path)
    >>> attach_calibrations(wms, [path])[0].calibration.n_pairs
    1
    """
    out = list(watermarks)
    for path in paths:
        matched = False
        for i, wm in enumerate(out):
            if wm.dialect is not None:  # no calibration is made for another implementation's
                continue
            try:
                cal = Calibration.load(path, wm.scheme)
            except ValueError as e:
                if str(e).startswith("path:") or str(e).startswith("calibration:"):
                    raise ScanConfigError(f"--calibration {path}: {e}") from None
                continue  # made for another key or another scheme config
            if wm.calibration is not None:
                raise ScanConfigError(
                    f"--calibration {path}: watermark {wm.name!r} already has a calibration"
                )
            out[i] = dataclasses.replace(wm, calibration=cal)
            matched = True
        if not matched:
            raise ScanConfigError(
                f"--calibration {path}: matches no watermark of the config (its key fingerprint "
                "and scheme, context width and seeding must be those of a watermark)"
            )
    return out


def calibrated_detect(wm: Watermark):
    """The ``detect`` of ``wm``'s scheme with its calibration applied."""
    return functools.partial(wm.scheme.detect_calibrated, calibration=wm.calibration)
