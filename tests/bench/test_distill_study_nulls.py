"""bench/distill_study.py's fresh-key null: every null model gets keys of its own (the recorded
run built them from the seed alone, so the five models trained from scratch shared them), and the
report says so for a run recorded without per-model keys."""

from __future__ import annotations

import json
import sys
import types
from pathlib import Path

import numpy as np
import pytest
from scipy import stats

BENCH = Path(__file__).parents[2] / "bench"
sys.path.insert(0, str(BENCH))

import _distill_report as report  # noqa: E402  (bench/: an import error fails, never skips)
import distill_study as ds  # noqa: E402


class _Recorder:
    """Stands in for a scheme class: records the key, detects nothing."""

    keys: list[bytes] = []
    scheme_name = "stub"

    def __init__(self, key, **_):
        _Recorder.keys.append(key)

    def detect_model(self, *a, **k):
        return types.SimpleNamespace(p_value=0.5)

    def detect(self, *a, **k):
        return types.SimpleNamespace(p_value=0.5)


@pytest.fixture
def stub_schemes(monkeypatch):
    _Recorder.keys = []
    fake_tm = types.SimpleNamespace(
        GINSEW=_Recorder, KGW=_Recorder, Gumbel=_Recorder, SynthID=_Recorder
    )
    monkeypatch.setattr(ds, "tm", fake_tm)
    monkeypatch.setattr(ds.D, "pooled", lambda *a: (0.0, 0.5, 1))
    monkeypatch.setattr(
        ds.radioactivity, "test_closed", lambda *a, **k: types.SimpleNamespace(p_value=0.5)
    )
    ev = object.__new__(ds.Evaluator)
    ev.probes = None
    return ev


def _keys_for(ev, tag, seed=0, n=3):
    _Recorder.keys = []
    ev._null_keys(None, np.zeros((2, 12), dtype=np.int64), n, seed, tag)
    return set(_Recorder.keys)


def test_null_models_of_one_seed_get_disjoint_keys(stub_schemes):
    a = _keys_for(stub_schemes, "T2")
    b = _keys_for(stub_schemes, "T3")
    assert len(a) == 3 and len(b) == 3
    assert not a & b


def test_fresh_keys_need_the_null_models_name():
    ev = object.__new__(ds.Evaluator)
    with pytest.raises(ValueError, match="tag"):
        ev.run(None, 0, extra_keys=2)


def _render(tmp_path, monkeypatch, per_model: bool) -> str:
    res = json.loads((BENCH / "distill_results.json").read_text())
    meta = dict(res["meta"])
    meta.pop("null_keys_per_model", None)  # the recorded run has no such field
    if per_model:
        meta["null_keys_per_model"] = True
    monkeypatch.setattr(report, "_plots", lambda *a, **k: None)
    report.write(tmp_path, meta, res["quality"], res["rows"], res["nulls"])
    return (tmp_path / "DISTILL.md").read_text()


def test_recorded_run_is_not_called_a_calibration_with_independent_keys(tmp_path, monkeypatch):
    md = _render(tmp_path, monkeypatch, per_model=False)
    assert "(b), with independent keys, is the calibration" not in md
    assert "correlated by key" in md
    res = json.loads((BENCH / "distill_results.json").read_text())
    m = len(res["nulls"])  # 21 in the recorded run
    students = sum(r["kind"] != "trained from scratch" for r in res["nulls"])
    keys = res["meta"]["scale_params"]["null_keys"]
    assert f"| KGW direct | fresh, students | {students * keys} |" in md  # their own keys only
    assert f"| GINSEW probe | owner | {m} |" in md  # one shared key per model: not 3 m
    assert f"| KGW closed | owner | {m} |" in md and f"| KGW open | owner | {2 * m} |" in md


def test_run_with_per_model_keys_has_no_caveat(tmp_path, monkeypatch):
    md = _render(tmp_path, monkeypatch, per_model=True)
    assert "(b), with independent keys, is the calibration" in md
    assert "correlated by key" not in md
    assert "fresh, students" not in md


def test_owner_null_counts_each_shared_key_once():
    """GINSEW eps 0.05/0.1/0.2 share key and frequency, KGW delta 1/2 key and gamma: their
    key-only detectors give one p-value per null model; KGW open (own owner texts) gives two."""
    res = json.loads((BENCH / "distill_results.json").read_text())
    nulls = res["nulls"]
    sch = [s for s in ds.schemes(0) if s != "none"]
    owner = report._owner_null(nulls, sch)
    m = len(nulls)
    for label in ("GINSEW probe", "GINSEW text", "KGW direct", "KGW closed", "Gumbel open"):
        assert len(owner[label]) == m, label
    assert len(owner["KGW open"]) == 2 * m
    expected = [r["GINSEW eps=0.05"]["probe"]["p"] for r in nulls]
    assert owner["GINSEW probe"] == expected


def test_literature_section_gives_no_verdict_on_unlike_settings(tmp_path, monkeypatch):
    md = _render(tmp_path, monkeypatch, per_model=False)
    lit = md.split("## The literature beside the measurements", 1)[1].split("\n## ", 1)[0]
    assert "Agrees" not in lit
    assert "WASH" in lit and "Not comparable" in lit
    assert "GINSEW report 100% mAP" not in lit and "DRW" in lit and "NER" in lit
    assert "1/k" not in lit  # the study's own derivation, in its own section
    own = md.split("## The study's own predictions", 1)[1].split("\n## ", 1)[0]
    assert "GINSEW amplitude ~ 1/k" in own and "own derivation" in own


def test_p_column_and_its_description_name_the_same_k(tmp_path, monkeypatch):
    md = _render(tmp_path, monkeypatch, per_model=False)
    assert "at the largest k" not in md
    assert "`p at k=1` = median p-value over seeds at k = 1" in md
    assert "| p at k=1 |" in md


def test_extrapolation_needs_z_above_the_clean_students_and_two():
    assert report._needed([1.1, 1.2], [1000, 1000], [-1.0, 0.5]).startswith("not extrapolated")
    assert report._needed([3.0], [100], [1.0, 3.5]).startswith("not extrapolated")  # null max 3.5
    expected = 100 * (stats.norm.isf(1e-6) / 5.0) ** 2  # 90.4
    assert report._needed([5.0], [100], [1.0, 3.5]) == f"{expected:,.0f}"


def test_direct_rows_are_marked_uncalibrated(tmp_path, monkeypatch):
    md = _render(tmp_path, monkeypatch, per_model=False)
    assert "| KGW delta=2 | kl | direct (uncalibrated) |" in md
    assert "| KGW delta=2 | kl | direct |" not in md
    # recorded run: KGW delta 2, kl, direct, k = 2, z 1.1 [0.1, 2.1] was extrapolated to 23,167
    assert "23,167" not in md
