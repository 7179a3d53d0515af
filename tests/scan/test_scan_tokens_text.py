"""A plain-text input with ``--tokens-column`` (text holds no token ids) is a usage error before
the scan starts, for both engines: before, the local engine scanned and finished the files before
it and then stopped (exit 2, "nothing scanned", with a half-written folder), and the Ray engine
printed Ray's whole task traceback. A usage error raised in a Ray task is printed as its own
one-line message."""

from __future__ import annotations

import json

import pytest
from scan_cli_run import run_scan_cli
from tokenmark.scan import ScanInputError
from tokenmark.scan import cli as scan_cli

pytest.importorskip("pyarrow", reason="the scan extra: pip install '.[scan]'")


def _run(tmp_path, *extra, text=True) -> int:
    mix = tmp_path / "mix"
    mix.mkdir(exist_ok=True)
    (mix / "a.jsonl").write_text(json.dumps({"tokens": [1, 2, 3, 4, 5]}) + "\n")
    if text:
        (mix / "z.txt").write_text("a text file\n")
    return run_scan_cli(tmp_path, [mix], "--tokens-column", "tokens", *extra)


def test_a_text_input_with_a_tokens_column_is_refused_before_the_scan(tmp_path, capsys):
    assert _run(tmp_path) == 2
    err = capsys.readouterr().err
    assert err == f"tokenmark scan: {tmp_path / 'mix' / 'z.txt'}: plain text holds no token ids " \
                  "(tokens_column)\n"  # fmt: skip
    assert not (tmp_path / "out").exists()  # nothing scanned, nothing written


@pytest.mark.ray
def test_the_ray_engine_refuses_it_before_starting(tmp_path, capsys):
    pytest.importorskip("ray", reason="Ray is not installed (pip install 'tokenmark[ray]')")
    pytest.importorskip("ray.data", reason="Ray Data is not installed (pip install 'ray[data]')")
    assert _run(tmp_path, "--engine", "ray") == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "plain text holds no token ids" in err
    assert not (tmp_path / "out").exists()


@pytest.mark.ray
def test_a_usage_error_in_a_ray_task_is_printed_as_itself(tmp_path, monkeypatch, capsys):
    exceptions = pytest.importorskip("ray.exceptions", reason="Ray is not installed")
    cause = ScanInputError("f.txt: plain text holds no token ids (tokens_column)")
    wrapped = exceptions.RayTaskError(
        "MapBatches(_read_shards)", "Traceback (most recent call last):\n  ...\n", cause
    ).as_instanceof_cause()
    assert isinstance(wrapped, ScanInputError) and str(wrapped) != str(cause)

    def engine(*args, **kwargs):
        raise wrapped

    monkeypatch.setattr(scan_cli, "_engine", lambda args: engine)
    assert _run(tmp_path, text=False) == 2  # a.jsonl only: the pre-check passes, the "task" fails
    assert capsys.readouterr().err == f"tokenmark scan: {cause}\n"
