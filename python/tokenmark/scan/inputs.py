"""The inputs of a scan: paths, folders and glob patterns expanded into shards (one per file), and
what can be checked of them before the scan starts."""

from __future__ import annotations

import glob
import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

FORMATS = ("jsonl", "parquet", "text")
_SUFFIX_FORMAT = {".jsonl": "jsonl", ".ndjson": "jsonl", ".json": "jsonl", ".parquet": "parquet"}
_TEXT_SUFFIXES = {".txt", ".text", ".md"}
_COMPRESSED = (".gz", ".zst")


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


def expand_inputs(
    inputs: list[str], format: str | None = None, exclude: list[str | os.PathLike] = ()
) -> list[Shard]:
    """Files as given, folders (recursively: files with a known suffix, hidden ones skipped) and
    glob patterns, in sorted order without duplicates. Folders and patterns leave out what lies
    under the folders of ``exclude`` (the scan's own output folder, when it is inside an input
    folder: its files are no input).

    >>> expand_inputs(["no/such/file.jsonl"])
    Traceback (most recent call last):
    ...
    tokenmark.scan.inputs.ScanInputError: inputs: 'no/such/file.jsonl' matches no file
    """
    if not inputs:
        raise ScanInputError("inputs: no input given")
    skip = [Path(x).resolve() for x in exclude]

    def kept(f: Path) -> bool:
        r = f.resolve()
        return not any(r == d or d in r.parents for d in skip)

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
                and kept(f)
            )
        elif p.is_file():
            found = [p]
        else:
            found = sorted(
                Path(f)
                for f in glob.glob(spec, recursive=True)
                if Path(f).is_file() and kept(Path(f))
            )
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


def check_shards(shards: list[Shard], tokens_column: str | None) -> None:
    """What is known of the shards before the scan starts: plain text holds no token ids, so a
    text shard with a tokens column is a usage error now, not when that file is reached."""
    if tokens_column is not None:
        for shard in shards:
            if shard.format == "text":
                raise ScanInputError(
                    f"{shard.source}: plain text holds no token ids (tokens_column)"
                )
