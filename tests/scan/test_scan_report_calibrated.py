"""The report's token view of a calibrated watermark counts the tokens its calibrated detection
counts: the tokens of the calibration's pairs are shown as not counted (before, the view used
the plain ``detect`` flags and coloured them as if they were scored)."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from tokenmark.scan import load_watermarks
from tokenmark.scan.report.top_hits import token_view

BOILER = [5, 6, 7, 8, 9, 10]
CONFIGS = {
    "kgw": {"scheme": "kgw", "context_width": 1, "window": 5},
    "gumbel": {"scheme": "gumbel", "context_width": 1, "salt": 3},
    "synthid": {"scheme": "synthid", "context_width": 1, "eos_token_id": 2},
}


@pytest.mark.parametrize("name", sorted(CONFIGS))
def test_the_view_counts_what_the_calibrated_detection_counts(name, monkeypatch):
    monkeypatch.setenv("TOKENMARK_KEY_K", "view key")
    (wm,) = load_watermarks([{"key_id": "k", **CONFIGS[name]}])
    cal = wm.scheme.calibrate([BOILER + [i, i + 1] for i in range(20, 40)], min_docs=2)
    doc = np.array(BOILER + [100, 101, 102, 103, 104, 105, 106])
    kw = {k: v for k, v in dict(wm.options).items() if k in ("salt", "eos_token_id")}
    want = wm.scheme.detect_calibrated([doc], calibration=cal, return_flags=True, **kw)
    want = want.counted[0].astype(bool)
    assert not want[1:6].any() and want[6:].all()  # the boilerplate pairs are dropped
    view = token_view(dataclasses.replace(wm, calibration=cal), doc, None, None)
    assert (~np.isnan(view.level)).tolist() == want.tolist()
    plain = token_view(wm, doc, None, None)  # uncalibrated: the boilerplate is counted
    assert (~np.isnan(plain.level))[1:6].all()
