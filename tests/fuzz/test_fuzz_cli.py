"""``tokenmark detect`` on generated malformed files and bad flags, in child processes (see
``fuzz_cli.py`` for the contract checked), plus one run through the real entry point."""

import json
import os
import subprocess
import sys

import fuzz_cli as C
import fuzz_harness as F
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

KINDS = sorted(C.LINE_KINDS)


def check(results, label):
    print(f"{label}: {dict(F.tally(results))}")
    bad = F.failures(results)
    assert not bad, "\n".join(f"{r['o']}: {r['spec']}: {r.get('why', '')}" for r in bad[:20])


def test_every_line_kind_and_every_bad_flag():
    text = ("text_json", "plain_text")
    specs = [{"t": "cli", "lines": [k], "s": 0, "env": "utf8", "tok": k in text} for k in KINDS]
    specs += [
        {"t": "cli", "lines": [k, "tokens"], "s": 1, "env": "latin1", "bom": True} for k in KINDS
    ]  # noqa: E501
    specs += [{"t": "cli", "flags": f, "s": 0, "env": "utf8"} for f in C.FLAG_CASES]
    results = F.run_cases(specs)
    assert F.tally(results)["tried"] == len(specs)
    check(results, "cli grid")


file_spec = st.builds(
    lambda lines, s, env, bom, tok: {
        "t": "cli",
        "lines": lines,
        "s": s,
        "env": env,
        "bom": bom,
        "tok": tok,
    },
    st.lists(st.sampled_from(KINDS), min_size=0, max_size=12),
    st.integers(0, 2**32 - 1),
    st.sampled_from(["utf8", "latin1"]),
    st.booleans(),
    st.booleans(),
)


@settings(
    max_examples=1,
    deadline=None,
    derandomize=True,
    database=None,
    phases=[Phase.generate],
    suppress_health_check=list(HealthCheck),
)
@given(st.lists(file_spec, min_size=20, max_size=20))
def test_random_files(specs):
    check(F.run_cases(specs), "cli random")


def test_entry_point_reports_file_and_line_and_scores_the_rest(tmp_path):
    """Through ``python -m tokenmark``: a bad line in the middle of a batch larger than the
    CLI's internal batch (4096 lines) is reported as FILE:LINE, every good line is scored, and
    the exit status is 1."""
    n = 4200
    lines = [json.dumps({"id": i, "tokens": [i % 50, 7, 9, 11, 13, 2]}) for i in range(n)]
    lines[4096] = '{"tokens": [1, true]}'  # line 4097
    path = tmp_path / "big.jsonl"
    path.write_text("\n".join(lines) + "\n")
    env = {**os.environ, "TOKENMARK_KEY": F.CANARY, "OMP_NUM_THREADS": "1"}
    proc = subprocess.run(
        [sys.executable, "-m", "tokenmark", "detect", str(path)],
        capture_output=True, text=True, env=env, timeout=300,
    )  # fmt: skip
    assert proc.returncode == 1, proc.stderr
    assert f"{path}:4097: tokens[1]: token ids must be integers, got a boolean" in proc.stderr
    out = [json.loads(x) for x in proc.stdout.splitlines()]
    assert [r["line"] for r in out] == [i + 1 for i in range(n) if i != 4096]
    assert [r["id"] for r in out] == [i for i in range(n) if i != 4096]
    for needle in F.canary_strings():
        assert needle not in proc.stdout + proc.stderr
