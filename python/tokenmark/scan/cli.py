"""``tokenmark scan``: the subcommand's parser and runner (wired into ``tokenmark.cli``)."""

from __future__ import annotations

import argparse
import functools
import sys

from .calibrated import attach_calibrations
from .engine import EXIT_USAGE, scan
from .output import OUTPUT_FORMATS
from .readers import FORMATS, ReadOptions, ScanInputError, expand_inputs
from .tokenizer import load_tokenizer
from .watermarks import ENV_PREFIX, ScanConfigError, load_watermarks

DESCRIPTION = """\
Score every document of JSON lines, Parquet or plain-text files (folders and globs too; .gz and
.zst read as they are) for every watermark of --config; write per-document, per-watermark scores
(log10 p-values) under --out, one file per input file; control the error rate over the whole scan
(documents x watermarks): Benjamini-Hochberg and Benjamini-Yekutieli at --q, and the Bonferroni
line. A rerun into the same --out skips the files already finished. Keys come from --key-file
(JSON {"<key_id>": "<key>"}) or the environment (TOKENMARK_KEY_<KEY_ID>), never from the command
line.

exit codes: 0 nothing found, no malformed row; 1 watermarks found (Benjamini-Hochberg
rejections); 2 usage or configuration error; 3 malformed rows (reported in OUT/malformed.jsonl),
nothing found; 4 malformed rows and watermarks found."""


def add_parser(subparsers) -> argparse.ArgumentParser:
    """Add the ``scan`` subcommand to an ``argparse`` subparsers object."""
    p = subparsers.add_parser(
        "scan",
        help="scan corpora for watermarks (many keys and schemes, corpus-level FDR)",
        description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("inputs", nargs="+", metavar="INPUT", help="files, folders or glob patterns")
    p.add_argument("--config", required=True, help="watermarks JSON (see tokenmark.scan docs)")
    p.add_argument("--out", required=True, help="output folder (created; reruns resume)")
    p.add_argument("--tokenizer", help="tokenizer.json or a folder holding one (text input)")
    col = p.add_mutually_exclusive_group()
    col.add_argument("--text-column", default=None, help="text field / column (default: text)")
    col.add_argument("--tokens-column", help="token-id list field / column (no tokenizer needed)")
    p.add_argument("--id-column", default="id", help="document id field / column (default: id)")
    p.add_argument("--format", choices=FORMATS, help="input format (default: from the suffix)")
    p.add_argument(
        "--text-mode",
        choices=["doc", "line"],
        default="doc",
        help="plain text: one document per file (doc) or per line (line)",
    )
    p.add_argument("--output-format", choices=OUTPUT_FORMATS, default="parquet")
    p.add_argument("--q", type=float, default=0.01, help="target FDR / FWER (default 0.01)")
    p.add_argument("--window", type=int, help="KGW: strongest window of this many tokens")
    p.add_argument("--batch-size", type=int, default=8192, help="documents per batch")
    p.add_argument(
        "--max-doc-bytes",
        type=int,
        default=8 << 20,
        help="larger documents are reported as malformed (default 8 MiB)",
    )
    p.add_argument(
        "--calibration",
        action="append",
        metavar="FILE",
        help="a per-key calibration (Calibration.save) for the watermarks of its key; repeatable",
    )
    p.add_argument("--key-file", help='JSON {"<key_id>": "<key>", ...}')
    p.add_argument("--key-env-prefix", default=ENV_PREFIX, help="default: TOKENMARK_KEY_")
    p.add_argument("--backend", default="auto", help="scoring backend (default auto)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument(
        "--engine",
        choices=["local", "ray"],
        default="local",
        help="local (default; threads on this machine) or ray (Ray Data: pip install "
        "'tokenmark[ray]'; connects to RAY_ADDRESS or starts a local cluster; Parquet output)",
    )
    p.add_argument(
        "--workers", type=int, help="--engine ray: scorer actors, 1 CPU each (default 1)"
    )
    p.add_argument(
        "--report",
        metavar="HTML",
        help="also write a self-contained HTML page: numbers, QQ plot, hits, top hits' tokens",
    )
    p.set_defaults(func=run)
    return p


def run(args: argparse.Namespace) -> int:
    """Run a parsed ``scan`` command; returns the exit code (never raises on usage errors)."""
    try:
        text_column = None if args.tokens_column else (args.text_column or "text")
        opt = ReadOptions(
            text_column=text_column,
            tokens_column=args.tokens_column,
            id_column=args.id_column or None,
            batch_size=args.batch_size,
            text_mode=args.text_mode,
            max_doc_bytes=args.max_doc_bytes,
            format=args.format,
        )
        shards = expand_inputs(args.inputs, args.format)
        watermarks = load_watermarks(
            args.config, args.key_file, args.key_env_prefix, default_window=args.window
        )
        if args.calibration:
            watermarks = attach_calibrations(watermarks, args.calibration)
        tokenizer = None
        if text_column is not None:
            if not args.tokenizer:
                raise ScanConfigError("--tokenizer: text input needs a tokenizer")
            tokenizer = load_tokenizer(args.tokenizer)
        run_scan = scan
        if args.engine == "ray":
            from .ray_engine import scan_ray

            workers = 1 if args.workers is None else args.workers
            run_scan = functools.partial(scan_ray, workers=workers)
        elif args.workers is not None:
            raise ScanConfigError(
                "--workers: only with --engine ray (the local engine uses threads)"
            )
        report = run_scan(
            shards,
            watermarks,
            args.out,
            read_options=opt,
            tokenizer=tokenizer,
            tokenizer_path=args.tokenizer if tokenizer is not None else None,
            q=args.q,
            out_format=args.output_format,
            backend=args.backend,
            progress=False if args.no_progress else None,
        )
        if args.report:
            from .report import write_report

            write_report(args.out, args.report, watermarks, tokenizer=tokenizer)
    except (ScanConfigError, ScanInputError) as e:
        print(f"tokenmark scan: {e}", file=sys.stderr)
        return EXIT_USAGE
    except ValueError as e:  # e.g. q out of range
        print(f"tokenmark scan: {e}", file=sys.stderr)
        return EXIT_USAGE
    return report.exit_code


def main(argv: list[str] | None = None) -> int:
    """``python -m tokenmark.scan ...``."""
    parser = argparse.ArgumentParser(prog="tokenmark")
    sub = parser.add_subparsers(dest="command", required=True)
    add_parser(sub)
    args = parser.parse_args(["scan", *(sys.argv[1:] if argv is None else argv)])
    return args.func(args)
