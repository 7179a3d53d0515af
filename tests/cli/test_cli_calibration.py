"""``tokenmark detect --calibration FILE``: the file's pairs are left out of the score; a file
made for another key or config, or no calibration file at all, is a usage error (exit 2,
nothing written)."""

import json

import pytest
import tokenmark as tm
from tokenmark.cli import main

BOILER = [5, 6, 7, 8, 9, 10]
KEY = "cli calibration key"


def _files(tmp_path, wm, docs):
    """Key file, scheme config, a calibration learnt from 20 documents that share BOILER, and
    the input JSONL of ``docs``."""
    (tmp_path / "key").write_text(KEY + "\n")
    (tmp_path / "cfg.json").write_text(wm.to_json())
    cal = wm.calibrate([BOILER + [i, i + 1] for i in range(20, 40)], min_docs=2)
    cal.save(tmp_path / "cal.json")
    (tmp_path / "in.jsonl").write_text("".join(json.dumps({"tokens": d}) + "\n" for d in docs))
    return cal


def _run(tmp_path, *extra):
    return main(
        [
            "detect",
            str(tmp_path / "in.jsonl"),
            "--key-file",
            str(tmp_path / "key"),
            "--config",
            str(tmp_path / "cfg.json"),
            *extra,
        ]
    )


@pytest.mark.parametrize(
    "wm",
    [
        tm.KGW(key=KEY.encode(), gamma=0.25, context_width=1),
        tm.Gumbel(key=KEY.encode(), context_width=1),
    ],
    ids=["kgw", "gumbel"],
)
def test_detect_with_calibration_leaves_the_reference_pairs_out(tmp_path, capsys, wm):
    docs = [BOILER + [100, 101, 102], [200, 201, 202, 203]]
    _files(tmp_path, wm, docs)
    assert _run(tmp_path, "--calibration", str(tmp_path / "cal.json")) == 0
    got = [json.loads(x) for x in capsys.readouterr().out.splitlines()]
    # Counted by hand: with context width 1 the boilerplate's 5 pairs (5, 6) ... (9, 10) are the
    # ones in 2+ reference documents; left: (10, 100), (100, 101), (101, 102); the second
    # document shares none (3 pairs).
    assert [r["n_scored"] for r in got] == [3, 3]
    assert [r["line"] for r in got] == [1, 2]
    assert _run(tmp_path) == 0  # without the file: every pair counts
    plain = [json.loads(x) for x in capsys.readouterr().out.splitlines()]
    assert [r["n_scored"] for r in plain] == [8, 3]
    assert got[1]["p_value"] == plain[1]["p_value"]  # nothing dropped: the same test


def test_calibration_for_another_key_or_config_is_a_usage_error(tmp_path, capsys):
    wm = tm.KGW(key=KEY.encode(), gamma=0.25, context_width=1)
    _files(tmp_path, wm, [[1, 2, 3]])
    other = tm.KGW(key=b"another key", gamma=0.25, context_width=1)
    other.calibrate([BOILER, BOILER], min_docs=2).save(tmp_path / "other.json")
    wider = tm.KGW(key=KEY.encode(), gamma=0.25, context_width=2)
    wider.calibrate([BOILER, BOILER], min_docs=2).save(tmp_path / "wider.json")
    (tmp_path / "broken.json").write_text("{not json")
    for name, why in [
        ("other.json", "not the key this calibration was made for"),
        ("wider.json", "context_width=1, but the calibration was made with context_width=2"),
        ("broken.json", "not valid JSON"),
        ("missing.json", "cannot read calibration file"),
    ]:
        with pytest.raises(SystemExit) as e:
            _run(tmp_path, "--calibration", str(tmp_path / name))
        assert e.value.code == 2
        out, err = capsys.readouterr()
        assert out == ""
        assert f"--calibration {tmp_path / name}" in err and why in err, err
        assert KEY not in err and "another key" not in err
