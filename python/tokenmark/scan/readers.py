"""Input side of a scan: expand paths into shards (one per file) and read each shard in batches of
documents, counting every malformed row with its file and line / row number.

Formats: JSON lines (``.jsonl``, ``.ndjson``, ``.json``), Parquet (``.parquet``) and plain text
(anything else; one document per file, or per line with ``text_mode="line"``), each optionally
compressed (``.gz``, ``.zst``). Row numbers are 1-based line numbers for JSON lines and text
lines, 0-based row indices for Parquet (each format's usual convention), 1 for a whole text file.
"""

from __future__ import annotations

import glob
import gzip
import hashlib
import io
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .._inputs import Ragged
from .records import check_tokens, jsonl_record

FORMATS = ("jsonl", "parquet", "text")
_SUFFIX_FORMAT = {".jsonl": "jsonl", ".ndjson": "jsonl", ".json": "jsonl", ".parquet": "parquet"}
_TEXT_SUFFIXES = {".txt", ".text", ".md"}
_COMPRESSED = (".gz", ".zst")
_READ_CHUNK = 1 << 20


class ScanInputError(ValueError):
    """A usage error on the input side: no file matched, an unknown format."""


@dataclass(frozen=True)
class Shard:
    """One input file. ``shard_id`` names its outputs: stable across reruns for the same path."""

    path: Path
    format: str

    @property
    def source(self) -> str:
        return str(self.path)

    @property
    def shard_id(self) -> str:
        digest = hashlib.sha256(str(self.path.resolve()).encode()).hexdigest()[:10]
        stem = "".join(c if c.isalnum() or c in "-_." else "_" for c in self.path.name)
        return f"{stem[:80]}-{digest}"


@dataclass(frozen=True)
class Malformed:
    """A row that could not be scanned: where it is and why (never its content)."""

    source: str
    row: int
    reason: str

    def to_dict(self) -> dict:
        return {"source": self.source, "row": self.row, "reason": self.reason}


@dataclass
class Batch:
    """Documents of one shard: their row numbers, ids (or None) and either texts or tokens."""

    rows: list[int]
    ids: list[str | None]
    texts: list[str] | None = None
    tokens: Ragged | None = None

    def __len__(self) -> int:
        return len(self.rows)


@dataclass
class ReadOptions:
    """What to read: the text or token-id column (JSON lines and Parquet), the id column, the
    batch size, how plain text splits into documents, and the largest document accepted."""

    text_column: str | None = "text"
    tokens_column: str | None = None
    id_column: str | None = "id"
    batch_size: int = 4096
    text_mode: str = "doc"  # "doc": a text file is one document; "line": one per line
    max_doc_bytes: int = 8 << 20
    format: str | None = None  # force a format instead of guessing from the suffix
    malformed: list[Malformed] = field(default_factory=list)

    def __post_init__(self):
        if (self.text_column is None) == (self.tokens_column is None):
            raise ScanInputError("text_column, tokens_column: give exactly one")
        if self.text_mode not in ("doc", "line"):
            raise ScanInputError(f"text_mode: expected 'doc' or 'line', got {self.text_mode!r}")
        if self.format is not None and self.format not in FORMATS:
            raise ScanInputError(f"format: expected one of {FORMATS}, got {self.format!r}")
        for name, hi in (("batch_size", 1 << 24), ("max_doc_bytes", 1 << 40)):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, (int, np.integer)):
                raise ScanInputError(f"{name}: must be an int, got {type(v).__name__}")
            if not 1 <= v <= hi:
                raise ScanInputError(f"{name}: must be in [1, {hi}], got {v}")


def _format_of(path: Path) -> str:
    name = path.name.lower()
    for c in _COMPRESSED:
        if name.endswith(c):
            name = name[: -len(c)]
    return _SUFFIX_FORMAT.get(os.path.splitext(name)[1], "text")


def _known(path: Path) -> bool:
    name = path.name.lower()
    for c in _COMPRESSED:
        if name.endswith(c):
            name = name[: -len(c)]
    ext = os.path.splitext(name)[1]
    return ext in _SUFFIX_FORMAT or ext in _TEXT_SUFFIXES


def expand_inputs(inputs: list[str], format: str | None = None) -> list[Shard]:
    """Files as given, folders (recursively: files with a known suffix, hidden ones skipped) and
    glob patterns, in sorted order without duplicates.

    >>> expand_inputs(["no/such/file.jsonl"])
    Traceback (most recent call last):
    ...
    tokenmark.scan.readers.ScanInputError: inputs: 'no/such/file.jsonl' matches no file
    """
    if not inputs:
        raise ScanInputError("inputs: no input given")
    paths: list[Path] = []
    for spec in inputs:
        p = Path(spec)
        if p.is_dir():
            found = sorted(
                f
                for f in p.rglob("*")
                if f.is_file()
                and _known(f)
                and not any(part.startswith(".") for part in f.relative_to(p).parts)
            )
        elif p.is_file():
            found = [p]
        else:
            found = sorted(Path(f) for f in glob.glob(spec, recursive=True) if Path(f).is_file())
        if not found:
            raise ScanInputError(f"inputs: {spec!r} matches no file")
        paths += found
    seen: set[Path] = set()
    shards = []
    for p in paths:
        key = p.resolve()
        if key not in seen:
            seen.add(key)
            shards.append(Shard(p, format or _format_of(p)))
    return shards


def open_binary(path: Path) -> io.BufferedIOBase:
    """The file's bytes, decompressed by suffix (``.gz``, ``.zst``)."""
    name = path.name.lower()
    if name.endswith(".gz"):
        return gzip.open(path, "rb")
    if name.endswith(".zst"):
        import zstandard

        raw = open(path, "rb")  # noqa: SIM115 -- closed with the reader (closefd)
        return io.BufferedReader(zstandard.ZstdDecompressor().stream_reader(raw, closefd=True))
    return open(path, "rb")  # noqa: SIM115 -- the caller closes it


def _lines(f, limit: int) -> Iterator[tuple[int, bytes | None]]:
    """(line number, line without its newline), or None for a line longer than ``limit`` bytes,
    which is skipped in chunks without being held in memory."""
    lineno = 0
    while True:
        line = f.readline(limit + 1)
        if not line:
            return
        lineno += 1
        if len(line) > limit and not (len(line) == limit + 1 and line.endswith(b"\n")):
            while line and not line.endswith(b"\n"):
                line = f.readline(_READ_CHUNK)
            yield lineno, None
            continue
        yield lineno, line.rstrip(b"\r\n")


class _Builder:
    """Collects the documents of one batch."""

    def __init__(self, tokens: bool):
        self.tokens = tokens
        self.rows: list[int] = []
        self.ids: list[str | None] = []
        self.items: list = []

    def add(self, row: int, doc_id, item) -> None:
        self.rows.append(row)
        self.ids.append(None if doc_id is None else str(doc_id))
        self.items.append(item)

    def __len__(self) -> int:
        return len(self.rows)

    def take(self) -> Batch:
        if self.tokens:
            lengths = np.fromiter((len(a) for a in self.items), np.int64, len(self.items))
            offsets = np.zeros(len(self.items) + 1, dtype=np.int64)
            np.cumsum(lengths, out=offsets[1:])
            flat = np.concatenate(self.items) if self.items else np.zeros(0, np.int32)
            b = Batch(
                self.rows, self.ids, tokens=Ragged(flat.astype(np.int32, copy=False), offsets)
            )
        else:
            b = Batch(self.rows, self.ids, texts=self.items)
        self.rows, self.ids, self.items = [], [], []
        return b


def _read_jsonl(shard: Shard, opt: ReadOptions) -> Iterator[Batch]:
    column = opt.tokens_column or opt.text_column
    want_tokens = opt.tokens_column is not None
    bad = opt.malformed
    b = _Builder(want_tokens)
    with open_binary(shard.path) as f:
        for lineno, line in _lines(f, opt.max_doc_bytes):
            if line is None:
                bad.append(Malformed(shard.source, lineno, f"line over {opt.max_doc_bytes} bytes"))
                continue
            if not line.strip():
                continue  # a blank line holds no document
            value, doc_id, reason = jsonl_record(line, column, opt.id_column, want_tokens)
            if reason:
                bad.append(Malformed(shard.source, lineno, reason))
                continue
            b.add(lineno, doc_id, value)
            if len(b) >= opt.batch_size:
                yield b.take()
    if len(b):
        yield b.take()


def _read_text(shard: Shard, opt: ReadOptions) -> Iterator[Batch]:
    if opt.tokens_column is not None:
        raise ScanInputError(f"{shard.source}: plain text holds no token ids (tokens_column)")
    bad = opt.malformed
    b = _Builder(False)
    with open_binary(shard.path) as f:
        if opt.text_mode == "doc":
            data = f.read(opt.max_doc_bytes + 1)
            if len(data) > opt.max_doc_bytes:
                bad.append(Malformed(shard.source, 1, f"file over {opt.max_doc_bytes} bytes"))
                return
            try:
                text = data.decode("utf-8")
            except UnicodeDecodeError:
                bad.append(Malformed(shard.source, 1, "invalid UTF-8"))
                return
            if text.strip():
                b.add(1, None, text)
        else:
            for lineno, line in _lines(f, opt.max_doc_bytes):
                if line is None:
                    reason = f"line over {opt.max_doc_bytes} bytes"
                    bad.append(Malformed(shard.source, lineno, reason))
                    continue
                try:
                    text = line.decode("utf-8")
                except UnicodeDecodeError:
                    bad.append(Malformed(shard.source, lineno, "invalid UTF-8"))
                    continue
                if not text.strip():
                    continue
                b.add(lineno, None, text)
                if len(b) >= opt.batch_size:
                    yield b.take()
    if len(b):
        yield b.take()


def _read_parquet(shard: Shard, opt: ReadOptions) -> Iterator[Batch]:
    import pyarrow as pa
    import pyarrow.parquet as pq

    column = opt.tokens_column or opt.text_column
    want_tokens = opt.tokens_column is not None
    bad = opt.malformed
    pf = pq.ParquetFile(shard.path)
    schema = pf.schema_arrow
    n_rows = pf.metadata.num_rows
    if column not in schema.names:
        if n_rows:
            reason = f"no column {column!r} (all {n_rows} rows of the file)"
            bad.append(Malformed(shard.source, 0, reason))
        return
    kind = schema.field(column).type
    if want_tokens:
        ok = (pa.types.is_list(kind) or pa.types.is_large_list(kind)) and pa.types.is_integer(
            kind.value_type
        )
    else:
        ok = pa.types.is_string(kind) or pa.types.is_large_string(kind)
    if not ok:
        if n_rows:
            want = "a list of integers" if want_tokens else "a string"
            reason = f"column {column!r} is {kind}, expected {want} (all {n_rows} rows)"
            bad.append(Malformed(shard.source, 0, reason))
        return
    columns = [column]
    id_col = opt.id_column if opt.id_column in schema.names else None
    if id_col and id_col != column:
        columns.append(id_col)
    row0 = 0
    b = _Builder(want_tokens)
    for rb in pf.iter_batches(batch_size=opt.batch_size, columns=columns):
        values = rb.column(column).to_pylist()
        ids = rb.column(id_col).to_pylist() if id_col else [None] * rb.num_rows
        for i, (v, doc_id) in enumerate(zip(values, ids)):
            row = row0 + i
            if v is None:
                bad.append(Malformed(shard.source, row, f"column {column!r} is null"))
                continue
            if want_tokens:
                if any(t is None for t in v):
                    bad.append(Malformed(shard.source, row, "null token id"))
                    continue
                arr, reason = check_tokens(v, f"column {column!r}")
                if arr is None:
                    bad.append(Malformed(shard.source, row, reason))
                    continue
                v = arr
            elif 4 * len(v) > opt.max_doc_bytes and len(v.encode()) > opt.max_doc_bytes:
                bad.append(Malformed(shard.source, row, f"text over {opt.max_doc_bytes} bytes"))
                continue
            b.add(row, doc_id, v)
        row0 += rb.num_rows
        if len(b) >= opt.batch_size:
            yield b.take()
    if len(b):
        yield b.take()


def _read_errors() -> tuple[type[BaseException], ...]:
    errors: tuple[type[BaseException], ...] = (OSError, EOFError, ValueError)
    try:
        import zstandard

        errors += (zstandard.ZstdError,)
    except ImportError:
        pass
    return errors


def read_shard(shard: Shard, opt: ReadOptions) -> Iterator[Batch]:
    """Batches of the shard's documents; malformed rows go to ``opt.malformed``. A file that
    cannot be read to its end (truncated archive, corrupt Parquet) adds one malformed entry at
    the row where reading stopped, after the batches read before it."""
    reader = {"jsonl": _read_jsonl, "parquet": _read_parquet, "text": _read_text}[shard.format]
    last_row = 0
    try:
        for batch in reader(shard, opt):
            last_row = batch.rows[-1]
            yield batch
    except ScanInputError:
        raise
    except _read_errors() as e:
        reason = f"unreadable after row {last_row}: {type(e).__name__}: {str(e)[:200]}"
        opt.malformed.append(Malformed(shard.source, last_row, reason))
