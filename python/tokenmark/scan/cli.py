"""``tokenmark scan``: the subcommand's parser and runner (wired into ``tokenmark.cli``)."""

from __future__ import annotations

import argparse
import functools
import importlib.util
import os
import sys
import traceback
from pathlib import Path

from .calibrated import attach_calibrations
from .engine import EXIT_REPORT_FAILED, EXIT_USAGE, scan
from .inputs import FORMATS, ScanInputError, expand_inputs
from .output import OUTPUT_FORMATS
from .readers import ReadOptions
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
rejections); 2 usage or configuration error (nothing scanned; an unwritable --report folder is
one); 3 malformed rows (reported in OUT/malformed.jsonl), nothing found; 4 malformed rows and
watermarks found. 2 is also the code of a scan stopped by an unexpected error (the reason on
stderr; the files finished before it are kept under --out, and a rerun resumes after them). When
the scan finished but its --report page could not be written, 8 is added to the scan's code (8,
9, 11, 12; the reason on stderr): code & 7 is the scan's answer, and its scores, hits and summary
under --out are complete."""


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
    p.add_argument(
        "--out", required=True, help="output folder (created; reruns resume; never read as input)"
    )
    p.add_argument("--tokenizer", help="tokenizer.json, or a folder: encodes as AutoTokenizer")
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
    p.add_argument(
        "--window", type=int, help="strongest window of this many counted tokens (our schemes)"
    )
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
    _add_engine_arguments(p)
    p.add_argument(
        "--report",
        metavar="HTML",
        help="also write a self-contained HTML page: numbers, QQ plot, hits, top hits' tokens",
    )
    p.set_defaults(func=run)
    return p


def _add_engine_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--engine",
        choices=["local", "ray"],
        default="local",
        help="local (default; threads on this machine) or ray (Ray Data: pip install "
        "'tokenmark[ray]'; connects to RAY_ADDRESS or starts a local cluster; Parquet output)",
    )
    p.add_argument("--workers", type=int, help="--engine ray: scorer actors (default 1)")
    p.add_argument(
        "--worker-threads",
        type=int,
        help="--engine ray: CPUs each scorer actor reserves and its tokenizer uses (default 1)",
    )


def _engine(args: argparse.Namespace):
    """The scan function of ``--engine`` (the Ray engine with its pool's size)."""
    if args.engine == "ray":
        from .ray_engine import scan_ray

        workers = 1 if args.workers is None else args.workers
        threads = 1 if args.worker_threads is None else args.worker_threads
        return functools.partial(scan_ray, workers=workers, worker_threads=threads)
    for flag, value in (("--workers", args.workers), ("--worker-threads", args.worker_threads)):
        if value is not None:
            raise ScanConfigError(f"{flag}: only with --engine ray (the local engine uses threads)")
    return scan


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
        shards = expand_inputs(args.inputs, args.format, exclude=[args.out])
        watermarks = load_watermarks(
            args.config, args.key_file, args.key_env_prefix, default_window=args.window
        )
        if args.calibration:
            watermarks = attach_calibrations(watermarks, args.calibration)
        if args.report:
            _check_report_path(args.report, args.out)
        tokenizer = None
        if text_column is not None:
            if not args.tokenizer:
                raise ScanConfigError("--tokenizer: text input needs a tokenizer")
            tokenizer = load_tokenizer(args.tokenizer)
        run_scan = _engine(args)
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
    except (ScanConfigError, ScanInputError, ValueError) as e:  # ValueError: e.g. q out of range
        print(f"tokenmark scan: {_cause(e)}", file=sys.stderr)
        return EXIT_USAGE
    except Exception as e:  # noqa: BLE001 - never Python's 1, which says "watermarks found"
        traceback.print_exc()
        print(
            f"tokenmark scan: stopped by an unexpected {type(_cause(e)).__name__}", file=sys.stderr
        )
        return EXIT_USAGE
    if args.report and not _write_report(args, watermarks, tokenizer):
        return report.exit_code + EXIT_REPORT_FAILED
    return report.exit_code


def _cause(e: BaseException) -> BaseException:
    """The error itself or, for the error of a Ray task (a RayTaskError, which Ray also makes an
    instance of its cause's class, with the task's whole traceback as its message), the error
    the task raised."""
    for _ in range(8):
        cause = getattr(e, "cause", None)
        if not isinstance(cause, BaseException) or cause is e:
            break
        e = cause
    return e


def _check_report_path(path: str, out: str) -> None:
    """What can be known before the scan is a usage error here, not one after hours: the page's
    folder exists, the page is not a folder, the temporary file the page is written through can
    be created there (permissions, a read-only or full disk, a name too long), and matplotlib,
    which draws the figures, is installed. A page inside the --out folder a first run will make
    is checked for the folder's name only."""
    p = Path(path)
    if os.path.isdir(p):
        raise ScanConfigError(f"--report: {path!r} is a folder; name the HTML file to write")
    if importlib.util.find_spec("matplotlib") is None:
        raise ScanConfigError("--report: needs matplotlib (pip install 'tokenmark[scan]')")
    if not os.path.exists(out) and p.parent.resolve() == Path(out).resolve():
        return
    if not os.path.isdir(p.parent):
        raise ScanConfigError(f"--report: no folder {str(p.parent)!r} to write {p.name!r} in")
    tmp = p.with_name(f".{p.name}.tmp")  # the name report._write_atomic writes through
    try:
        tmp.write_bytes(b"")
        tmp.unlink()
    except OSError as e:
        raise ScanConfigError(f"--report: cannot write {path!r} ({e.strerror or e})") from None


def _write_report(args: argparse.Namespace, watermarks, tokenizer) -> bool:
    """Write the --report page of the finished scan; on any failure say why on stderr and answer
    False (the scan's results stand: its code is kept, plus EXIT_REPORT_FAILED)."""
    from .report import write_report

    try:
        write_report(args.out, args.report, watermarks, tokenizer=tokenizer)
    except Exception as e:  # noqa: BLE001 - any failure of the page leaves the scan's answer
        reason = f"{type(e).__name__}: {e}" if str(e) else type(e).__name__
        print(
            f"tokenmark scan: --report: the page {args.report!r} was not written ({reason}); "
            f"the scan itself finished: its results are in {args.out!r}",
            file=sys.stderr,
        )
        return False
    return True


def main(argv: list[str] | None = None) -> int:
    """``python -m tokenmark.scan ...``."""
    parser = argparse.ArgumentParser(prog="tokenmark")
    sub = parser.add_subparsers(dest="command", required=True)
    add_parser(sub)
    args = parser.parse_args(["scan", *(sys.argv[1:] if argv is None else argv)])
    return args.func(args)
