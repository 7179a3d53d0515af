"""The command line's exit codes on hostile input, run as a user runs it (``python -m tokenmark``
in a subprocess, so an exception is printed, not raised into the test): 0 every line scored, 1
some lines skipped, 2 a usage error or an unexpected one, 141 a reader that left; never a bare
traceback for bad input."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest
import tokenmark as tm
from tokenmark.cli import main

GOOD = b'{"tokens": [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11]}\n'


def run_cli(args, stdin=b"", env=None, key="cli key"):
    full_env = {k: v for k, v in os.environ.items() if k != "TOKENMARK_BACKEND"}
    full_env.update({"TOKENMARK_KEY": key, "OMP_NUM_THREADS": "1", **(env or {})})
    out = subprocess.run(
        [sys.executable, "-m", "tokenmark", *args],
        input=stdin,
        capture_output=True,
        env=full_env,
        timeout=300,
    )
    return out.returncode, out.stdout.decode(), out.stderr.decode()


@pytest.mark.parametrize("bad_id", [b"NaN", b"-Infinity", b"1e400", b'[1, {"a": NaN}]'])
def test_a_non_finite_id_is_a_bad_line(tmp_path, bad_id):
    path = tmp_path / "in.jsonl"
    path.write_bytes(GOOD + b'{"id": ' + bad_id + b', "tokens": [1, 2, 3]}\n' + GOOD)
    code, out, err = run_cli(["detect", str(path)])
    assert code == 1 and "Traceback" not in err
    assert [json.loads(x)["line"] for x in out.splitlines()] == [1, 3]
    assert f"{path}:2: id: must be finite" in err


def test_window_with_a_peer_config_is_a_usage_error(tmp_path):
    (tmp_path / "vllm.json").write_text('{"algorithm": "gumbel", "context_width": 2}')
    args = ["detect", "--config", str(tmp_path / "vllm.json"), "--window", "2"]
    code, out, err = run_cli(args, stdin=GOOD, key="123")
    assert code == 2 and out == "" and "Traceback" not in err
    assert "--window" in err and "KGW, Gumbel or SynthID" in err
    code, out, _ = run_cli(args[:3], stdin=GOOD, key="123")  # without --window it scores
    assert code == 0 and json.loads(out)["n_scored"] > 0


@pytest.mark.parametrize("value", ["bogus", "cuda", "triton"])
def test_a_bad_tokenmark_backend_is_a_usage_error(value):
    code, out, err = run_cli(["detect"], stdin=GOOD, env={"TOKENMARK_BACKEND": value})
    assert code == 2 and out == "" and "Traceback" not in err
    assert "TOKENMARK_BACKEND" in err


@pytest.mark.parametrize("value", ["", "cpu", "reference"])
def test_an_empty_tokenmark_backend_is_unset(value):
    code, out, err = run_cli(["detect"], stdin=GOOD, env={"TOKENMARK_BACKEND": value})
    want = tm.KGW(key=b"cli key").detect([json.loads(GOOD)["tokens"]]).to_records()[0]
    assert code == 0 and err == ""
    assert json.loads(out)["p_value"] == want["p_value"]


def test_a_closed_stdout_ends_quietly(tmp_path):
    """``tokenmark detect big.jsonl | head -1``: the reader leaves; no traceback, status 141
    (what a shell reports for a tool ended by SIGPIPE), never 1 ("some lines skipped")."""
    path = tmp_path / "big.jsonl"
    path.write_text("".join(json.dumps({"id": i, "tokens": [i % 50, 7, 8]}) + "\n"
                            for i in range(20000)))  # fmt: skip
    env = {k: v for k, v in os.environ.items() if k != "TOKENMARK_BACKEND"}
    env.update(TOKENMARK_KEY="k", OMP_NUM_THREADS="1")
    proc = subprocess.Popen(
        [sys.executable, "-m", "tokenmark", "detect", str(path)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
    )
    assert json.loads(proc.stdout.readline())["id"] == 0
    proc.stdout.close()
    err = proc.stderr.read().decode()
    assert proc.wait(timeout=300) == 141
    assert "Traceback" not in err and "BrokenPipe" not in err


@pytest.mark.parametrize(
    "flags,match",
    [
        (["--n", "0"], "--n"),
        (["--n", "-1"], "--n"),
        (["--n", "100000"], "--n"),
        (["--new-tokens", "0"], "--new-tokens"),
        (["--new-tokens", "-5"], "--new-tokens"),
        (["--new-tokens", "100000"], "--new-tokens"),
        (["--seed", "99999999999999999999999"], "--seed"),
        (["--seed", "-1"], "--seed"),
    ],
)
def test_demo_arguments_are_checked_before_it_runs(capsys, flags, match):
    with pytest.raises(SystemExit) as e:
        main(["demo", *flags])
    assert e.value.code == 2
    assert match in capsys.readouterr().err


def test_demo_too_many_prompts_is_a_usage_error():
    code, out, err = run_cli(["demo", "--n", "1000", "--new-tokens", "1"])
    assert code == 2 and out == "" and "Traceback" not in err
    assert "prompts" in err


def test_an_unexpected_error_prints_its_traceback_and_exits_2(monkeypatch, capsys):
    import tokenmark.cli as cli

    def broken(args):
        raise RuntimeError("a bug")

    monkeypatch.setattr(cli, "cmd_info", broken)
    assert main(["info"]) == 2
    err = capsys.readouterr().err
    assert "Traceback" in err and "RuntimeError: a bug" in err
    assert "unexpected RuntimeError" in err


def test_help_documents_the_exit_codes(capsys):
    with pytest.raises(SystemExit):
        main(["detect", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "1 some lines skipped" in text and "unexpected error" in text and "141" in text


def kgw_generated(wm, n: int, seed: int, vocab: int = 1000) -> list[int]:
    """``n`` tokens sampled from uniform logits with the KGW bias (a maximum-entropy model)."""
    rng = np.random.default_rng(seed)
    ids = [1, 2, 3, 4]
    for _ in range(n):
        logits = wm.apply_(np.zeros((1, vocab), np.float32), np.array([ids]))
        p = np.exp(logits[0] - logits[0].max())
        ids.append(int(rng.choice(vocab, p=p / p.sum())))
    return ids[4:]


def test_alpha_sets_the_watermarked_flag(tmp_path, capsys, monkeypatch):
    wm = tm.KGW(key=b"alpha key", delta=4.0)
    doc = kgw_generated(wm, 60, seed=5)
    plain = np.random.default_rng(6).integers(0, 1000, 60).tolist()
    p = float(wm.detect([doc]).p_value[0])
    assert p < 1e-6  # the watermark is there
    path = tmp_path / "in.jsonl"
    path.write_text(json.dumps({"tokens": doc}) + "\n" + json.dumps({"tokens": plain}) + "\n")
    monkeypatch.setenv("TOKENMARK_KEY", "alpha key")
    monkeypatch.delenv("TOKENMARK_BACKEND", raising=False)

    def flags(*extra):
        assert main(["detect", str(path), "--gamma", "0.25", *extra]) == 0
        recs = [json.loads(x) for x in capsys.readouterr().out.splitlines()]
        assert recs[0]["p_value"] == p
        return [r["watermarked"] for r in recs]

    assert flags() == [True, False]  # default alpha 1e-3
    assert flags("--alpha", repr(p)) == [True, False]  # p <= alpha
    assert flags("--alpha", repr(p / 2)) == [False, False]
    assert flags("--alpha", "1") == [True, True]
