"""Input side of a scan: read each shard (one per file, :mod:`.inputs`) in batches of documents,
counting every malformed row with its file and line / row number.

Formats: JSON lines (``.jsonl``, ``.ndjson``, ``.json``), Parquet (``.parquet``) and plain text
(anything else; one document per file, or per line with ``text_mode="line"``), each optionally
compressed (``.gz``, ``.zst``). Row numbers are 1-based line numbers for JSON lines and text
lines, 0-based row indices for Parquet (each format's usual convention), 1 for a whole text file.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

import numpy as np

from .._inputs import Ragged
from .files import lines, open_binary, read_errors
from .inputs import (  # noqa: F401 -- expand_inputs and check_shards: re-exported
    FORMATS,
    ScanInputError,
    Shard,
    check_shards,
    expand_inputs,
)
from .records import check_tokens, jsonl_record


@dataclass(frozen=True)
class Malformed:
    """A row that could not be scanned: where it is and why (never its content)."""

    source: str
    row: int
    reason: str

    def to_dict(self) -> dict:
        return {"source": self.source, "row": self.row, "reason": self.reason}


@dataclass(frozen=True)
class Unreadable(Malformed):
    """The entry of a file that could not be read to its end (a truncated archive, a corrupt
    Parquet file): ``row`` is where reading stopped, the first row not read. The rows before it
    were read; the shard is not finished (a rerun reads it again)."""


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
    lineno = 0
    try:
        with open_binary(shard.path) as f:
            for lineno, line in lines(f, opt.max_doc_bytes):
                if line is None:
                    reason = f"line over {opt.max_doc_bytes} bytes"
                    bad.append(Malformed(shard.source, lineno, reason))
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
    except read_errors() as e:
        yield from _stop(shard, opt, b, lineno + 1, e)
        return
    if len(b):
        yield b.take()


def _read_text(shard: Shard, opt: ReadOptions) -> Iterator[Batch]:
    if opt.tokens_column is not None:
        raise ScanInputError(f"{shard.source}: plain text holds no token ids (tokens_column)")
    b = _Builder(False)
    lineno = 0
    try:
        with open_binary(shard.path) as f:
            if opt.text_mode == "doc":
                _text_doc(shard, opt, f, b)
            else:
                for lineno, line in lines(f, opt.max_doc_bytes):
                    reason = None
                    if line is None:
                        reason = f"line over {opt.max_doc_bytes} bytes"
                    else:
                        try:
                            text = line.decode("utf-8")
                        except UnicodeDecodeError:
                            reason = "invalid UTF-8"
                    if reason:
                        opt.malformed.append(Malformed(shard.source, lineno, reason))
                    elif text.strip():
                        b.add(lineno, None, text)
                        if len(b) >= opt.batch_size:
                            yield b.take()
    except read_errors() as e:
        yield from _stop(shard, opt, b, lineno + 1, e)
        return
    if len(b):
        yield b.take()


def _text_doc(shard: Shard, opt: ReadOptions, f, b: _Builder) -> None:
    """A whole text file as one document into ``b`` (or its malformed entry)."""
    data = f.read(opt.max_doc_bytes + 1)
    if len(data) > opt.max_doc_bytes:
        opt.malformed.append(Malformed(shard.source, 1, f"file over {opt.max_doc_bytes} bytes"))
        return
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        opt.malformed.append(Malformed(shard.source, 1, "invalid UTF-8"))
        return
    if text.strip():
        b.add(1, None, text)


def _read_parquet(shard: Shard, opt: ReadOptions) -> Iterator[Batch]:
    import pyarrow.parquet as pq

    b = _Builder(opt.tokens_column is not None)
    row0 = 0  # the first row not read yet
    try:
        pf = pq.ParquetFile(shard.path)
        columns, id_col = _parquet_columns(shard, opt, pf)
        if columns is None:
            return
        for rb in pf.iter_batches(batch_size=opt.batch_size, columns=columns):
            _parquet_rows(shard, opt, rb, id_col, row0, b)
            row0 += rb.num_rows
            if len(b) >= opt.batch_size:
                yield b.take()
    except read_errors() as e:
        yield from _stop(shard, opt, b, row0, e)
        return
    if len(b):
        yield b.take()


def _parquet_columns(shard: Shard, opt: ReadOptions, pf):
    """The columns to read and the id column (or None); ``(None, None)`` (and one malformed entry
    for all its rows) when the file lacks the text or tokens column or holds another type."""
    import pyarrow as pa

    column = opt.tokens_column or opt.text_column
    want_tokens = opt.tokens_column is not None
    schema = pf.schema_arrow
    n_rows = pf.metadata.num_rows
    if column not in schema.names:
        if n_rows:
            reason = f"no column {column!r} (all {n_rows} rows of the file)"
            opt.malformed.append(Malformed(shard.source, 0, reason))
        return None, None
    kind = schema.field(column).type
    if want_tokens:
        ok = (pa.types.is_list(kind) or pa.types.is_large_list(kind)) and pa.types.is_integer(
            kind.value_type
        )
    else:
        # A dictionary-encoded column (a pandas categorical) reads as its strings.
        text = kind.value_type if pa.types.is_dictionary(kind) else kind
        ok = pa.types.is_string(text) or pa.types.is_large_string(text)
    if not ok:
        if n_rows:
            want = "a list of integers" if want_tokens else "a string"
            reason = f"column {column!r} is {kind}, expected {want} (all {n_rows} rows)"
            opt.malformed.append(Malformed(shard.source, 0, reason))
        return None, None
    columns = [column]
    id_col = opt.id_column if opt.id_column in schema.names else None
    if id_col and id_col != column:
        columns.append(id_col)
    return columns, id_col


def _parquet_rows(shard: Shard, opt: ReadOptions, rb, id_col, row0: int, b: _Builder) -> None:
    """The documents of one record batch (rows ``row0`` on) into ``b``; malformed rows counted."""
    column = opt.tokens_column or opt.text_column
    want_tokens = opt.tokens_column is not None
    bad = opt.malformed
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


def _stop(shard: Shard, opt: ReadOptions, b: _Builder, row: int, e: BaseException):
    """After a read error: the documents read before it, then one :class:`Unreadable` entry at
    ``row``, where reading stopped."""
    if len(b):
        yield b.take()
    reason = (
        f"unreadable from this row on ({type(e).__name__}: {str(e)[:200]}); the rows before it "
        "were scanned, and the file is not recorded as finished (a rerun reads it again)"
    )
    opt.malformed.append(Unreadable(shard.source, row, reason))


def read_shard(shard: Shard, opt: ReadOptions) -> Iterator[Batch]:
    """Batches of the shard's documents; malformed rows go to ``opt.malformed``. A file that
    cannot be read to its end (truncated archive, corrupt Parquet) gives every document read
    before the failure, then one :class:`Unreadable` entry at the row where reading stopped (the
    first row not read: a line number, or a Parquet row index)."""
    reader = {"jsonl": _read_jsonl, "parquet": _read_parquet, "text": _read_text}[shard.format]
    return reader(shard, opt)


def is_unread(malformed: list[Malformed]) -> bool:
    """Whether a shard's malformed entries say that it was not read to its end."""
    return any(isinstance(m, Unreadable) for m in malformed)
