"""Command line: ``tokenmark detect``, ``scan``, ``info`` and ``demo``."""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from ._inputs import encode_texts
from ._key import Key
from ._tokenizers import load_tokenizer, not_unicode_field
from .dialects._keyless import dialect_of, from_keyless_config
from .gumbel import Gumbel
from .kgw import KGW
from .scan.cli import add_parser as add_scan_parser
from .synthid import SynthID

_BATCH = 4096


class UsageError(SystemExit):
    """A bad flag, key, config or input file: :func:`main` prints the message; exit status 2;
    nothing is written. ``str()`` of it is the message."""

    def __init__(self, message: str):
        super().__init__(f"tokenmark: {message}")
        self.message = f"tokenmark: {message}"
        self.code = 2


def _load_key(args) -> Key:
    return Key(_load_key_material(args))


def _load_key_material(args) -> bytes:
    if args.key_file:
        try:
            data = Path(args.key_file).read_bytes().rstrip(b"\r\n")
        except OSError as e:
            raise UsageError(f"--key-file {args.key_file}: {e.strerror}") from None
        if not data:
            raise UsageError("--key-file is empty")
        return data
    value = os.environ.get(args.key_env)
    if not value:
        raise UsageError(
            f"no key: set the environment variable {args.key_env} or pass --key-file "
            "(keys are never taken on the command line, where other users can read them)"
        )
    # The variable's raw bytes (UTF-8 text or not): "k" here and b"k" in Python are one key, and
    # a non-UTF-8 key is used as it is instead of failing with an error that quotes it.
    return os.fsencode(value)


_SCHEMES = {"kgw": KGW, "gumbel": Gumbel, "synthid": SynthID}


def _scheme(args):
    material = _load_key_material(args)
    key = Key(material)
    try:
        if args.config:
            try:
                text = Path(args.config).read_text(encoding="utf-8")
            except (OSError, UnicodeDecodeError) as e:
                why = e.strerror if isinstance(e, OSError) else "not UTF-8 text"
                raise UsageError(f"--config {args.config}: {why}") from None
            try:
                cfg = json.loads(text)
            except (ValueError, RecursionError) as e:
                where = f"line {e.lineno} column {e.colno}: {e.msg}" if hasattr(e, "msg") else ""
                raise UsageError(f"--config {args.config}: invalid JSON {where}") from None
            if not isinstance(cfg, dict):
                raise UsageError(f"--config {args.config}: expected a JSON object")
            if dialect_of(cfg) is not None:  # a peer's config (vLLM, SGLang, transformers)
                return from_keyless_config(cfg, material)
            # The key comes from --key-file / the environment only; a key_hex in the config
            # must then be the same key (checked by from_dict), never silently replaced.
            name = cfg.get("scheme", "kgw")
            cls = _SCHEMES.get(name) if isinstance(name, str) else None
            if cls is None:
                raise UsageError(f"--config {args.config}: unknown scheme {name!r}")
            return cls.from_dict(cfg, key=key)
        return KGW(
            key=key,
            gamma=args.gamma,
            delta=2.0,
            context_width=args.context_width,
            seeding=args.seeding,
            dedup=not args.no_dedup,
        )
    except (ValueError, TypeError) as e:
        where = f"--config {args.config}: " if args.config else ""
        raise UsageError(f"{where}{e}") from None


class _BadLine(Exception):
    pass


def _token_list(value, field: str) -> list[int]:
    """A JSON list of token ids: ints (not booleans, not floats) in [0, 2^31)."""
    if not isinstance(value, list):
        raise _BadLine(f"{field}: expected a list of token ids, got {type(value).__name__}")
    for i, t in enumerate(value):
        if type(t) is not int:
            kind = "a boolean" if isinstance(t, bool) else type(t).__name__
            raise _BadLine(f"{field}[{i}]: token ids must be integers, got {kind}")
        if not 0 <= t < 2**31:
            raise _BadLine(f"{field}[{i}]: token ids must be in [0, 2^31), got {t}")
    return value


def _parse_line(raw: bytes, lineno: int, field: str | None):
    """One input line as None (blank), or (id, text or token list); :class:`_BadLine` if bad."""
    try:
        line = raw.decode("utf-8-sig" if lineno == 1 else "utf-8")
    except UnicodeDecodeError as e:
        raise _BadLine(f"not UTF-8 text (byte {e.start + 1} of the line)") from None
    line = line.rstrip("\r\n")
    if not line.strip():
        return None
    if not line.lstrip().startswith("{"):
        return None, line
    try:
        obj = json.loads(line)
    except json.JSONDecodeError as e:
        raise _BadLine(f"invalid JSON at column {e.colno}: {e.msg}") from None
    except (ValueError, RecursionError):
        raise _BadLine("invalid JSON (nested too deeply or a number too long)") from None
    if not isinstance(obj, dict):
        raise _BadLine("expected a JSON object")
    name = field or ("tokens" if "tokens" in obj else "text")
    if name not in obj:
        raise _BadLine(f"no field {name!r}")
    value, doc_id = obj[name], obj.get("id")
    reason = not_unicode_field(((name, value), ("id", doc_id)))
    if reason:
        raise _BadLine(reason)
    if isinstance(value, str):
        return doc_id, value
    return doc_id, _token_list(value, name)


def _records(stream, source: str, field: str | None, errors: list[str]):
    """Yield (line number, id, text or token list) per good line; each bad line is reported on
    stderr as ``FILE:LINE: why`` and appended to ``errors``."""
    for lineno, raw in enumerate(stream, 1):
        try:
            rec = _parse_line(raw, lineno, field)
        except _BadLine as e:
            msg = f"tokenmark: {source}:{lineno}: {e}"
            errors.append(msg)
            print(msg, file=sys.stderr)
            continue
        if rec is not None:
            yield lineno, *rec


def _chunks(it: Iterator, n: int) -> Iterator[list]:
    buf = []
    for x in it:
        buf.append(x)
        if len(buf) == n:
            yield buf
            buf = []
    if buf:
        yield buf


def _check_alpha(value: str) -> float:
    try:
        alpha = float(value)
    except ValueError:
        alpha = float("nan")
    if not 0.0 <= alpha <= 1.0:  # NaN fails too
        raise argparse.ArgumentTypeError(f"must be a number in [0, 1], got {value!r}")
    return alpha


def _positive_int(value: str) -> int:
    try:
        n = int(value)
    except ValueError:
        n = 0
    if not 1 <= n <= 2**62:
        raise argparse.ArgumentTypeError(f"must be an integer in [1, 2^62], got {value!r}")
    return n


def _calibrated(args, wm):
    """``wm.detect``, or with ``--calibration FILE`` its ``detect_calibrated`` with that file."""
    if not args.calibration:
        return wm.detect
    from .calibration import Calibration

    try:
        cal = Calibration.load(args.calibration, wm)
    except (ValueError, TypeError) as e:
        raise UsageError(f"--calibration {args.calibration}: {e}") from None
    return lambda docs, **kw: wm.detect_calibrated(docs, calibration=cal, **kw)


def cmd_detect(args) -> int:
    """Score every good line; report each bad line on stderr (``FILE:LINE: why``) and skip it.
    Exit status: 0 if every line was good, 1 if some were skipped, 2 on a usage error (bad flag,
    key, config or input file), in which case nothing is written."""
    wm = _scheme(args)
    kwargs = {"window": args.window} if args.window is not None else {}
    detect = _calibrated(args, wm)
    tokenizer = None
    if args.tokenizer:
        try:
            tokenizer = load_tokenizer(args.tokenizer)
        except ValueError as e:
            raise UsageError(f"--tokenizer: {e}") from None
    if args.input in (None, "-"):
        source, stream = "<stdin>", sys.stdin.buffer
    else:
        source = args.input
        try:
            stream = open(args.input, "rb")
        except OSError as e:
            raise UsageError(f"{args.input}: {e.strerror}") from None
    errors: list[str] = []
    out = sys.stdout
    with stream:
        for batch in _chunks(_records(stream, source, args.field, errors), _BATCH):
            texts = [r for r in batch if isinstance(r[2], str)]
            if texts and tokenizer is None:
                for lineno, _, _ in texts:
                    msg = f"tokenmark: {source}:{lineno}: text input needs --tokenizer PATH"
                    errors.append(msg)
                    print(msg, file=sys.stderr)
                texts = []
            results = {}
            tokens = [r for r in batch if not isinstance(r[2], str)]
            if tokens:
                res = detect([np.asarray(r[2], dtype=np.int64) for r in tokens], **kwargs)
                results.update(zip((r[0] for r in tokens), res.to_records()))
            if texts:
                res = detect(encode_texts([r[2] for r in texts], tokenizer), **kwargs)
                results.update(zip((r[0] for r in texts), res.to_records()))
            for lineno, name, _ in batch:
                rec = results.get(lineno)
                if rec is None:
                    continue
                head = {"line": lineno} if name is None else {"id": name, "line": lineno}
                rec = {**head, **rec, "watermarked": rec["p_value"] <= args.alpha}
                # strict JSON: the records hold None, never NaN or infinities (a bug if so)
                out.write(json.dumps(rec, allow_nan=False) + "\n")
    if errors:
        print(f"tokenmark: {len(errors)} line(s) of {source} skipped", file=sys.stderr)
        return 1
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
        "plain text lines, from FILE or stdin; prints one JSON line of scores per document, with "
        "its input 'line' number. A bad line is reported on stderr as FILE:LINE and skipped; every "
        "good line is scored (exit status 1 if any line was skipped, 2 for a usage error, where "
        "nothing is written).",
    )
    d.add_argument("input", nargs="?", help="input file (default: stdin)")
    d.add_argument("--key-env", default="TOKENMARK_KEY", help="environment variable with the key")
    d.add_argument("--key-file", help="file holding the key (trailing newline ignored)")
    d.add_argument(
        "--config",
        help="scheme JSON from KGW/Gumbel/SynthID.to_json(), or a peer's watermark config with "
        "its keys removed (vLLM/SGLang --watermark-config, transformers' WatermarkingConfig / "
        "SynthIDTextWatermarkingConfig dict; the keys then come from the key file or variable, "
        "see tokenmark.dialects._keyless) (overrides the flags below)",
    )
    d.add_argument("--gamma", type=float, default=0.25)
    d.add_argument("--context-width", type=int, default=4)
    d.add_argument("--seeding", choices=["prev", "minhash"], default="prev")
    d.add_argument("--no-dedup", action="store_true", help="count repeated (context, token) pairs")
    d.add_argument("--tokenizer", help="local tokenizer path (for text input)")
    d.add_argument("--field", help="JSON field to read (default: tokens, else text)")
    d.add_argument(
        "--window",
        type=_positive_int,
        help="also report the strongest window of this many counted tokens (KGW: most green, "
        "Gumbel: largest score, SynthID: most g-values of 1)",
    )
    d.add_argument(
        "--alpha", type=_check_alpha, default=1e-3, help="p-value threshold for 'watermarked'"
    )
    d.add_argument(
        "--calibration",
        metavar="FILE",
        help="a per-key calibration made for this key and config (tokenmark.Calibration.save): "
        "the (context, token) pairs frequent in its reference human text are left out of the "
        "score (see docs/calibration.md)",
    )
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
    try:
        return args.func(args)
    except UsageError as e:
        print(e.message, file=sys.stderr)
        raise


if __name__ == "__main__":
    sys.exit(main())
