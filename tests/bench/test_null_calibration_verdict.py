"""bench/null_calibration.py states the verdict its numbers support (it used to write "Every rate
is within two standard errors of alpha or below it" whatever the rates were)."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parents[2] / "bench"))

import null_calibration as nc  # noqa: E402  (bench/: an import error fails, never skips)


def test_rates_within_two_standard_errors_pass():
    cells = [("A", 0.05, 0.049, 0.001), ("A", 0.001, 0.00105, 0.00014), ("B", 0.01, 0.0, 0.0)]
    assert nc.verdict(cells) == "Every rate is within two standard errors of alpha or below it."


def test_a_rate_above_alpha_by_more_than_two_standard_errors_is_named():
    cells = [("A", 0.05, 0.049, 0.001), ("SynthID", 0.001, 0.0015, 0.0001)]
    v = nc.verdict(cells)
    assert "Every rate" not in v
    assert "SynthID at alpha 0.001 (0.00150 +- 0.00010)" in v
    assert "A at" not in v
