"""``tokenmark scan`` run in the test's process from files it writes: the shared shape of the
scan's command-line tests."""

from __future__ import annotations

import argparse
import json

from tokenmark.scan import cli as scan_cli

KGW = [{"key_id": "k", "scheme": "kgw", "context_width": 1}]


def run_scan_cli(tmp_path, inputs, *extra, watermarks=KGW, keys=None, out="out") -> int:
    """Writes ``tmp_path/wm.json`` (``watermarks``) and ``tmp_path/keys.json`` (``keys``, default
    ``{"k": "scan key"}``), then runs ``tokenmark scan INPUTS --config ... --key-file ... --out
    tmp_path/OUT --no-progress EXTRA``; returns its exit code."""
    cfg, key_file = tmp_path / "wm.json", tmp_path / "keys.json"
    cfg.write_text(json.dumps({"watermarks": watermarks}))
    key_file.write_text(json.dumps({"k": "scan key"} if keys is None else keys))
    parser = argparse.ArgumentParser(prog="tokenmark")
    scan_cli.add_parser(parser.add_subparsers(dest="command"))
    argv = ["scan", *map(str, inputs), "--config", str(cfg), "--key-file", str(key_file),
            "--out", str(tmp_path / out), "--no-progress", *extra]  # fmt: skip
    args = parser.parse_args(argv)
    return args.func(args)
