"""A scan resumed at a larger ``--q`` reads the finished shards' score files back; one that is not
what the scan wrote (cut mid-line, cut at a line boundary, edited) is a usage error that names
it and says what to do. Before, a damaged JSON lines file gave json's message alone, and one cut
at a line boundary was read back short without an error (its candidates lost)."""

from __future__ import annotations

import json

import pytest
from test_scan_bad_input import KGW, run_scan

pytest.importorskip("pyarrow", reason="the scan extra: pip install '.[scan]'")

LINES = [json.dumps({"id": i, "ids": [1, 2, 3, 4 + i, 9, 7, 5]}).encode() for i in range(40)]


def _damaged(tmp_path, fmt, damage):
    extra = ["--output-format", fmt]
    assert run_scan(tmp_path, LINES, KGW, extra=[*extra, "--q", "0.01"]) == 0
    (scores,) = (tmp_path / "out").glob(f"scores-*.{fmt}")
    damage(scores)
    return scores, run_scan(tmp_path, LINES, KGW, extra=[*extra, "--q", "0.05"])


@pytest.mark.parametrize(
    "damage",
    [
        lambda p: p.write_bytes(p.read_bytes()[:500]),  # mid-line
        lambda p: p.write_bytes(b"".join(p.read_bytes().splitlines(True)[:-3])),  # whole lines
        lambda p: p.write_text(p.read_text().replace('"log10_p"', '"p"', 1)),  # a field renamed
    ],
    ids=["mid-line", "line-boundary", "edited"],
)
def test_a_damaged_jsonl_score_file_is_named(tmp_path, capsys, damage):
    scores, rc = _damaged(tmp_path, "jsonl", damage)
    err = capsys.readouterr().err
    assert rc == 2 and f"{scores}: not the scores this scan wrote" in err
    assert "delete it" in err and "Traceback" not in err


def test_a_cut_parquet_score_file_is_named(tmp_path, capsys):
    scores, rc = _damaged(tmp_path, "parquet", lambda p: p.write_bytes(p.read_bytes()[:-100]))
    err = capsys.readouterr().err
    assert rc == 2 and f"{scores}: not the scores this scan wrote" in err


def test_an_intact_score_file_resumes(tmp_path):
    scores, rc = _damaged(tmp_path, "jsonl", lambda p: None)
    assert rc == 0
