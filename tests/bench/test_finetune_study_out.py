"""bench/finetune_study.py writes its plots next to ``--out`` (they went to bench/ whatever
``--out`` said, overwriting the committed plots on a re-render elsewhere)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).parents[2] / "bench"
sys.path.insert(0, str(BENCH))

pytest.importorskip("matplotlib")
import finetune_study as ft  # noqa: E402  (bench/: an import error fails, never skips)


def test_plots_go_next_to_out(tmp_path, monkeypatch):
    here = tmp_path / "script_dir"  # stands in for bench/: nothing may land there
    here.mkdir()
    monkeypatch.setattr(ft, "HERE", here)
    out = tmp_path / "sub" / "FT.md"
    out.parent.mkdir()
    monkeypatch.setattr(
        sys,
        "argv",
        [
            "finetune_study.py",
            "--from-json",
            str(BENCH / "finetune_results.json"),
            "--out",
            str(out),
        ],
    )
    assert ft.main() == 0
    assert out.exists()
    names = {"finetune_steps.png", "finetune_derivatives.png", "finetune_null.png"}
    assert {p.name for p in out.parent.glob("*.png")} == names
    assert list(here.iterdir()) == []
