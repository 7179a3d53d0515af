"""Dialect watermarks (another implementation's scheme) in a scan with the options made for our
own schemes: ``--calibration`` (a file applies to the matching KGW / Gumbel / SynthID watermark,
dialect watermarks are scored uncalibrated; before, a raw TypeError and exit 1, "watermarks
found") and ``--report`` (a dialect hit is shown without the per-token view; before, the page
failed). An unexpected error in ``tokenmark scan`` never exits 1."""

from __future__ import annotations

import json

import numpy as np
import pytest
import tokenmark as tm
from scan_cli_run import run_scan_cli
from tokenmark.scan import cli as scan_cli
from tokenmark.scan import load_watermarks
from tokenmark.scan.calibrated import attach_calibrations

pytest.importorskip("pyarrow", reason="the scan extra: pip install '.[scan]'")

VLLM = {"key_id": "v", "dialect": "vllm", "config": {"algorithm": "gumbel", "context_width": 4}}
KGW = {"key_id": "a", "scheme": "kgw", "context_width": 1}
KEYS = {"v": "1234", "a": "alpha-secret-KEY"}


def _run(tmp_path, config, *extra, keys=KEYS) -> int:
    inp = tmp_path / "in.jsonl"
    if not inp.exists():
        inp.write_text(json.dumps({"tokens": [1, 2, 3, 4, 5, 6, 7, 8]}) + "\n")
    return run_scan_cli(tmp_path, [inp], "--tokens-column", "tokens", *extra, watermarks=config,
                        keys=keys)  # fmt: skip


def _calibration(tmp_path):
    path = tmp_path / "a.cal.json"
    kgw = tm.KGW(key=KEYS["a"], context_width=1)
    kgw.calibrate([[1, 2, 3, 4, 5]] * 3, min_docs=2).save(path)
    return path


def test_a_calibration_applies_to_its_watermark_beside_a_dialect(tmp_path, capsys):
    path = _calibration(tmp_path)
    (tmp_path / "keys.json").write_text(json.dumps(KEYS))
    wms = load_watermarks({"watermarks": [VLLM, KGW]}, str(tmp_path / "keys.json"))
    got = attach_calibrations(wms, [path])
    assert got[0].calibration is None and got[1].calibration is not None
    assert (
        got[1].calibration.n_pairs
        == wms[1].scheme.calibrate([[1, 2, 3, 4, 5]] * 3, min_docs=2).n_pairs
    )
    assert _run(tmp_path, [VLLM, KGW], "--calibration", str(path)) == 0
    assert "Traceback" not in capsys.readouterr().err


def test_a_calibration_that_matches_only_a_dialect_key_is_a_usage_error(tmp_path, capsys):
    path = _calibration(tmp_path)
    assert _run(tmp_path, [VLLM], "--calibration", str(path)) == 2
    err = capsys.readouterr().err
    assert "matches no watermark" in err and "Traceback" not in err


def test_an_unexpected_error_does_not_exit_with_the_found_code(tmp_path, monkeypatch, capsys):
    def broken(*args, **kwargs):
        raise RuntimeError("a bug")

    monkeypatch.setattr(scan_cli, "_engine", lambda args: broken)
    assert _run(tmp_path, [KGW]) == 2
    assert "stopped by an unexpected RuntimeError" in capsys.readouterr().err


DIALECTS = {
    "vllm": ({"dialect": "vllm", "config": {"algorithm": "gumbel", "context_width": 2}}, "1234"),
    "transformers_kgw": (
        {"dialect": "transformers_kgw", "options": {"vocab_size": 500},
         "config": {"context_width": 1, "greenlist_ratio": 0.25, "bias": 8.0}},
        "15485863",
    ),
    "sglang": ({"dialect": "sglang", "config": {"context_window": 2}}, "0123abcd"),
}  # fmt: skip


@pytest.mark.parametrize("name", sorted(DIALECTS))
def test_a_dialect_hit_is_shown_without_per_token_colours(name, monkeypatch):
    from tokenmark._inputs import Ragged
    from tokenmark.scan.report.page import hit_panel
    from tokenmark.scan.report.top_hits import token_view
    from tokenmark.scan.scoring import score_batch

    cfg, key = DIALECTS[name]
    monkeypatch.setenv("TOKENMARK_KEY_V", key)
    (wm,) = load_watermarks([{**cfg, "key_id": "v"}])
    ids = np.random.default_rng(1).integers(0, 500, 40)
    view = token_view(wm, ids, None, None)
    rag = Ragged(ids.astype(np.int32), np.array([0, 40], dtype=np.int64))
    assert view.log10_p == float(score_batch(wm, rag)["log10_p"][0])
    assert view.pieces == [f"[{t}]" for t in ids] and np.isnan(view.level).all()
    assert view.window is None
    hit = {"watermark": wm.name, "source": "in.jsonl", "row": 1, "log10_p": view.log10_p}
    panel = hit_panel(hit, wm, (None, ids), None)
    assert "no per-token colours" in panel and "warn" not in panel


def test_a_scan_report_with_dialect_hits_is_written(tmp_path):
    torch = pytest.importorskip("torch")
    pytest.importorskip("matplotlib")
    cfg, key = DIALECTS["vllm"]
    (tmp_path / "keys.json").write_text(json.dumps({"v": key}))
    (wm,) = load_watermarks([{**cfg, "key_id": "v"}], str(tmp_path / "keys.json"))
    proc = wm.scheme.logits_processor()
    rng = np.random.default_rng(0)
    torch.manual_seed(0)
    with open(tmp_path / "in.jsonl", "w") as f:
        for d in range(6):
            ids = torch.tensor([[int(x) for x in rng.integers(0, 500, 3)]])
            for _ in range(60):
                out = proc(ids, torch.tensor(rng.normal(size=(1, 500)), dtype=torch.float32))
                ids = torch.cat([ids, torch.multinomial(torch.softmax(out, -1), 1)], 1)
            f.write(json.dumps({"id": d, "tokens": ids[0].tolist()}) + "\n")
    report = str(tmp_path / "r.html")
    rc = _run(tmp_path, [{**cfg, "key_id": "v"}], "--report", report, keys={"v": key})
    assert rc == 1  # watermarks found, and the page written (no 8 added)
    page = (tmp_path / "r.html").read_text()
    assert page.count("no per-token colours") == 6
