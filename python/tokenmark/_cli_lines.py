"""The input lines of ``tokenmark detect``: each JSON or plain-text line parsed and checked, a bad
one reported as ``FILE:LINE: why`` and skipped."""

from __future__ import annotations

import json
import math
import sys
from collections.abc import Iterator

from ._tokenizers import not_unicode_field


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
    if _has_non_finite(doc_id):  # NaN, Infinity, 1e400: no strict JSON can echo them
        raise _BadLine("id: must be finite (NaN and infinities are not JSON numbers)")
    reason = not_unicode_field(((name, value), ("id", doc_id)))
    if reason:
        raise _BadLine(reason)
    if isinstance(value, str):
        return doc_id, value
    return doc_id, _token_list(value, name)


def _has_non_finite(value) -> bool:
    """Whether a parsed JSON value holds a NaN or infinite float anywhere (no recursion: the
    value may be nested as deep as the parser allows)."""
    stack = [value]
    while stack:
        x = stack.pop()
        if isinstance(x, float) and not math.isfinite(x):
            return True
        if isinstance(x, list):
            stack.extend(x)
        elif isinstance(x, dict):
            stack.extend(x.values())
    return False


def records(stream, source: str, field: str | None, errors: list[str]):
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


def chunks(it: Iterator, n: int) -> Iterator[list]:
    buf = []
    for x in it:
        buf.append(x)
        if len(buf) == n:
            yield buf
            buf = []
    if buf:
        yield buf
