"""One input record's checks, shared by the readers (scan/readers.py): a JSONL line parsed into
its document (text or token ids) and id, or the reason it is malformed (never its content)."""

from __future__ import annotations

import json

import numpy as np

from .._tokenizers import not_unicode_field
from .._validate import ids_in_range


def check_tokens(value, where: str) -> tuple[np.ndarray | None, str]:
    """A JSON token list as int32, or (None, reason)."""
    if not isinstance(value, list):
        return None, f"{where}: expected a list of token ids, got {type(value).__name__}"
    if not all(type(t) is int for t in value):
        return None, f"{where}: token ids must be integers"
    try:
        arr = np.asarray(value, dtype=np.int64) if value else np.zeros(0, dtype=np.int64)
    except OverflowError:  # an id past int64
        arr = None
    if arr is None or (arr.size and not ids_in_range(arr)):
        return None, f"{where}: token ids must be in [0, 2^31)"
    return arr.astype(np.int32), ""


def jsonl_record(line: bytes, column: str, id_column: str | None, want_tokens: bool):
    """``(document, id, "")`` of a non-blank JSONL line, or ``(None, None, reason)``: its
    ``column`` (int32 token ids when ``want_tokens``, else a str) and ``id_column``'s value."""
    try:
        obj = json.loads(line.decode("utf-8"))  # strict: no encoded surrogates either
    except UnicodeDecodeError:
        return None, None, "invalid UTF-8"
    except ValueError as e:
        return None, None, f"invalid JSON: {getattr(e, 'msg', 'invalid JSON')}"
    except RecursionError:
        return None, None, "invalid JSON: nested too deeply"
    if not isinstance(obj, dict):
        return None, None, "not a JSON object"
    if column not in obj:
        return None, None, f"no field {column!r}"
    value, doc_id = obj[column], obj.get(id_column) if id_column else None
    # a JSON "\ud800", which tokenizers and Arrow refuse with errors that name no field
    reason = not_unicode_field(((column, value), (id_column, doc_id)))
    if reason:
        return None, None, reason
    if want_tokens:
        value, reason = check_tokens(value, f"field {column!r}")
        return (None, None, reason) if value is None else (value, doc_id, "")
    if not isinstance(value, str):
        return None, None, f"field {column!r}: expected a string, got {type(value).__name__}"
    return value, doc_id, ""
