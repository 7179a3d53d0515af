"""The bytes of a scan's input files: decompressed by suffix, read line by line without holding an
over-long line, and the errors that mean a file cannot be read to its end."""

from __future__ import annotations

import gzip
import io
from collections.abc import Iterator
from pathlib import Path

_READ_CHUNK = 1 << 20


def open_binary(path: Path) -> io.BufferedIOBase:
    """The file's bytes, decompressed by suffix (``.gz``, ``.zst``)."""
    name = path.name.lower()
    if name.endswith(".gz"):
        return gzip.open(path, "rb")
    if name.endswith(".zst"):
        return io.BufferedReader(_ZstdStream(open(path, "rb")))  # noqa: SIM115 -- closed with it
    return open(path, "rb")  # noqa: SIM115 -- the caller closes it


class _ZstdStream(io.RawIOBase):
    """A ``.zst`` file's decompressed bytes, frame after frame; EOFError when the file ends inside
    a frame (zstandard's ``stream_reader`` ends there without an error, so a truncated file would
    read as a shorter one). The input goes in small pieces: what one piece decompresses to is in
    memory at once."""

    _PIECE = 1 << 12

    def __init__(self, raw):
        import zstandard

        self._raw = raw
        self._dctx = zstandard.ZstdDecompressor()
        self._frame = None  # the decompressor of the frame being read
        self._out = memoryview(b"")

    def readable(self) -> bool:
        return True

    def readinto(self, b) -> int:
        while not self._out:
            data = self._raw.read(self._PIECE)
            if not data:
                if self._frame is not None and not self._frame.eof:
                    raise EOFError("the compressed file ended before the end of its last frame")
                return 0
            out = []
            while data:
                if self._frame is None or self._frame.eof:
                    self._frame = self._dctx.decompressobj()
                out.append(self._frame.decompress(data))
                data = self._frame.unused_data if self._frame.eof else b""
            self._out = memoryview(b"".join(out))
        n = min(len(b), len(self._out))
        b[:n] = self._out[:n]
        self._out = self._out[n:]
        return n

    def close(self) -> None:
        if not self.closed:
            self._raw.close()
        super().close()


def lines(f, limit: int) -> Iterator[tuple[int, bytes | None]]:
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


def read_errors() -> tuple[type[BaseException], ...]:
    """What reading a file raises when it cannot be read to its end (a truncated or corrupt
    archive, a corrupt Parquet file, an I/O error)."""
    errors: tuple[type[BaseException], ...] = (OSError, EOFError, ValueError)
    try:
        import zstandard

        errors += (zstandard.ZstdError,)
    except ImportError:
        pass
    return errors
