"""Command line: ``tokenmark detect``, ``scan``, ``info`` and ``demo``."""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Iterable, Iterator
from pathlib import Path

import numpy as np

from ._inputs import encode_texts
from ._key import Key
from .gumbel import Gumbel
from .kgw import KGW
from .scan.cli import add_parser as add_scan_parser
from .synthid import SynthID

_BATCH = 4096


def _load_key(args) -> Key:
    if args.key_file:
        data = Path(args.key_file).read_bytes().rstrip(b"\r\n")
        if not data:
            raise SystemExit("tokenmark: --key-file is empty")
        return Key(data)
    value = os.environ.get(args.key_env)
    if not value:
        raise SystemExit(
            f"tokenmark: no key: set the environment variable {args.key_env} or pass --key-file "
            "(keys are never taken on the command line, where other users can read them)"
        )
    return Key(value.encode("utf-8"))


_SCHEMES = {"kgw": KGW, "gumbel": Gumbel, "synthid": SynthID}


def _scheme(args) -> KGW | Gumbel | SynthID:
    key = _load_key(args)
    if args.config:
        cfg = json.loads(Path(args.config).read_text())
        cfg.pop("key_hex", None)  # the key comes from --key-file / the environment only
        cls = _SCHEMES.get(cfg.get("scheme", "kgw"))
        if cls is None:
            raise SystemExit(f"tokenmark: unknown scheme {cfg.get('scheme')!r} in --config")
        return cls.from_dict(cfg, key=key)
    return KGW(
        key=key,
        gamma=args.gamma,
        delta=2.0,
        context_width=args.context_width,
        seeding=args.seeding,
        dedup=not args.no_dedup,
    )


def _records(stream: Iterable[str], field: str | None) -> Iterator[tuple[str | None, object]]:
    """Yield (id, text or token list) per input line: JSON objects, or plain text lines."""
    for lineno, line in enumerate(stream, 1):
        line = line.rstrip("\n")
        if not line.strip():
            continue
        if line.lstrip().startswith("{"):
            obj = json.loads(line)
            name = field or ("tokens" if "tokens" in obj else "text")
            if name not in obj:
                raise SystemExit(f"tokenmark: line {lineno}: no field {name!r}")
            yield obj.get("id"), obj[name]
        else:
            yield None, line


def _chunks(it: Iterator, n: int) -> Iterator[list]:
    buf = []
    for x in it:
        buf.append(x)
        if len(buf) == n:
            yield buf
            buf = []
    if buf:
        yield buf


def cmd_detect(args) -> int:
    wm = _scheme(args)
    if args.window is not None and not isinstance(wm, KGW):
        raise SystemExit("tokenmark: --window is available for KGW configs only")
    kwargs = {"window": args.window} if isinstance(wm, KGW) else {}
    tokenizer = None
    if args.tokenizer:
        from transformers import AutoTokenizer

        tokenizer = AutoTokenizer.from_pretrained(args.tokenizer, local_files_only=True)
    stream = sys.stdin if args.input in (None, "-") else open(args.input, encoding="utf-8")
    out = sys.stdout
    with stream:
        for batch in _chunks(_records(stream, args.field), _BATCH):
            ids, items = zip(*batch)
            if all(isinstance(x, str) for x in items):
                if tokenizer is None:
                    raise SystemExit("tokenmark: text input needs --tokenizer PATH")
                seqs = encode_texts(items, tokenizer)
            elif any(isinstance(x, str) for x in items):
                raise SystemExit("tokenmark: mixed text and token inputs in one file")
            else:
                seqs = [np.asarray(x, dtype=np.int64) for x in items]
            res = wm.detect(seqs, **kwargs)
            for name, rec in zip(ids, res.to_records()):
                if name is not None:
                    rec = {"id": name, **rec}
                rec["watermarked"] = rec["p_value"] <= args.alpha
                out.write(json.dumps(rec) + "\n")
    return 0


def cmd_info(args) -> int:
    from . import info

    print(json.dumps(info(), indent=2))
    return 0


def cmd_demo(args) -> int:
    from .demo import run_demo

    return run_demo(n=args.n, new_tokens=args.new_tokens, seed=args.seed)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="tokenmark", description=__doc__)
    sub = p.add_subparsers(dest="command", required=True)

    d = sub.add_parser(
        "detect",
        help="score documents (JSONL or plain text lines) and print one JSON line each",
        description="Reads JSON lines with a 'text' or 'tokens' field (and an optional 'id'), or "
        "plain text lines, from FILE or stdin; prints one JSON line of scores per document.",
    )
    d.add_argument("input", nargs="?", help="input file (default: stdin)")
    d.add_argument("--key-env", default="TOKENMARK_KEY", help="environment variable with the key")
    d.add_argument("--key-file", help="file holding the key (trailing newline ignored)")
    d.add_argument(
        "--config", help="scheme JSON from KGW/Gumbel/SynthID.to_json() (overrides the flags below)"
    )
    d.add_argument("--gamma", type=float, default=0.25)
    d.add_argument("--context-width", type=int, default=4)
    d.add_argument("--seeding", choices=["prev", "minhash"], default="prev")
    d.add_argument("--no-dedup", action="store_true", help="count repeated (context, token) pairs")
    d.add_argument("--tokenizer", help="local tokenizer path (for text input)")
    d.add_argument("--field", help="JSON field to read (default: tokens, else text)")
    d.add_argument("--window", type=int, help="also report the most-green window of this size")
    d.add_argument("--alpha", type=float, default=1e-3, help="p-value threshold for 'watermarked'")
    d.set_defaults(func=cmd_detect)

    i = sub.add_parser("info", help="what was compiled: backends, CUDA archs, versions")
    i.set_defaults(func=cmd_info)

    m = sub.add_parser(
        "demo", help="the bundled Shakespeare model writes with and without the watermark"
    )
    m.add_argument("--n", type=int, default=3, help="held-out prompts (one pair of texts each)")
    m.add_argument("--new-tokens", type=int, default=80)
    m.add_argument("--seed", type=int, default=0)
    m.set_defaults(func=cmd_demo)
    add_scan_parser(sub)
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
