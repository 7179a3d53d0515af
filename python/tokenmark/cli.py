"""Command line: ``tokenmark detect``, ``scan``, ``info`` and ``demo``."""

from __future__ import annotations

import argparse
import inspect
import json
import os
import sys
import traceback
from pathlib import Path

import numpy as np

from ._cli_lines import chunks, records
from ._inputs import encode_texts
from ._key import Key
from ._tokenizers import load_tokenizer
from .backends import BACKENDS, GPU_BACKENDS
from .dialects._keyless import dialect_of, from_keyless_config
from .gumbel import Gumbel
from .kgw import KGW
from .scan.cli import add_parser as add_scan_parser
from .synthid import SynthID

_BATCH = 4096
EXIT_UNEXPECTED = 2  # as ``tokenmark scan``: never 1, which says "some lines were skipped"
EXIT_BROKEN_PIPE = 141  # 128 + SIGPIPE, what a shell reports for a Unix tool whose reader left


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


def _int_in(lo: int, hi: int, shown: str):
    """An argparse type: an integer in ``[lo, hi]`` (``shown``: that range as the error says)."""

    def parse(value: str) -> int:
        try:
            n = int(value)
        except ValueError:
            n = lo - 1
        if not lo <= n <= hi:
            raise argparse.ArgumentTypeError(f"must be an integer in {shown}, got {value!r}")
        return n

    return parse


def _check_window(args, wm) -> None:
    """``--window`` needs a scheme whose ``detect`` reports windows (not the peers' dialects)."""
    if args.window is not None and "window" not in inspect.signature(wm.detect).parameters:
        raise UsageError(
            f"--window: only with a KGW, Gumbel or SynthID config; {type(wm).__name__} "
            "(a peer's config) reports no windows"
        )


def _check_backend_env() -> None:
    """``TOKENMARK_BACKEND`` (empty: unset) must name a backend; the command line scores token
    ids in host memory, so not a GPU one (a dialect's scorer falls back to ``cpu`` there, but
    KGW, Gumbel and SynthID would refuse every batch)."""
    value = os.environ.get("TOKENMARK_BACKEND")
    if not value:
        return
    if value not in BACKENDS:
        raise UsageError(f"TOKENMARK_BACKEND: expected one of {BACKENDS} or unset, got {value!r}")
    if value in GPU_BACKENDS:
        raise UsageError(
            f"TOKENMARK_BACKEND={value}: tokenmark detect scores token ids in host memory; "
            "set it to cpu, reference or auto, or unset it"
        )


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
    key, config or input file), in which case nothing is written (:func:`main` adds 2 for an
    unexpected error and 141 for a closed stdout)."""
    _check_backend_env()
    wm = _scheme(args)
    _check_window(args, wm)
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
        for batch in chunks(records(stream, source, args.field, errors), _BATCH):
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

    try:
        return run_demo(n=args.n, new_tokens=args.new_tokens, seed=args.seed)
    except ValueError as e:  # e.g. more prompts than the held-out text holds (before any output)
        raise UsageError(f"demo: {e}") from None


def _add_demo_parser(sub) -> None:
    m = sub.add_parser(
        "demo", help="the bundled Shakespeare model writes with and without the watermark"
    )
    m.add_argument(
        "--n",
        type=_int_in(1, 1000, "[1, 1000]"),
        default=3,
        help="held-out prompts (one pair of texts each)",
    )
    m.add_argument(
        "--new-tokens",
        type=_int_in(1, 224, "[1, 224]"),
        default=80,
        help="tokens generated per text (the model's context is 256 tokens, 32 of them prompt)",
    )
    m.add_argument("--seed", type=_int_in(0, 2**63 - 1, "[0, 2^63)"), default=0)
    m.set_defaults(func=cmd_demo)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="tokenmark",
        description=__doc__,
        epilog="Every subcommand exits 2 for a usage error, and 2 for an unexpected error (its "
        "traceback on stderr); 141 when the reader of its output left (as for SIGPIPE). See each "
        "subcommand's --help for its other codes.",
    )
    sub = p.add_subparsers(dest="command", required=True)

    d = sub.add_parser(
        "detect",
        help="score documents (JSONL or plain text lines) and print one JSON line each",
        description="Reads JSON lines with a 'text' or 'tokens' field (and an optional 'id'), or "
        "plain text lines, from FILE or stdin; prints one JSON line of scores per document, with "
        "its input 'line' number. A bad line is reported on stderr as FILE:LINE and skipped; every "
        "good line is scored. Exit status: 0 every line scored; 1 some lines skipped; 2 a usage "
        "error (nothing written) or an unexpected error (its traceback on stderr; the lines "
        "before it are written); 141 the reader of stdout left (as for SIGPIPE).",
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

    _add_demo_parser(sub)
    add_scan_parser(sub)
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        code = args.func(args)
        sys.stdout.flush()  # a closed pipe shows here, inside the try, not at interpreter exit
        return code
    except UsageError as e:
        print(e.message, file=sys.stderr)
        raise
    except BrokenPipeError:
        # The reader left (``| head``): stop quietly, as a Unix tool killed by SIGPIPE does. The
        # recipe of Python's signal docs: stdout to devnull, so the flush at exit cannot fail.
        try:
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        except (OSError, ValueError):  # stdout is not a file (an in-process caller's buffer)
            pass
        return EXIT_BROKEN_PIPE
    except Exception as e:  # noqa: BLE001 - never Python's 1, which says "some lines skipped"
        traceback.print_exc()
        print(f"tokenmark: stopped by an unexpected {type(e).__name__}", file=sys.stderr)
        return EXIT_UNEXPECTED


if __name__ == "__main__":
    sys.exit(main())
