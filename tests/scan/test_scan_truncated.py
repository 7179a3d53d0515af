"""A truncated ``.gz`` / ``.zst`` file: every row that decompresses is scored, the malformed entry
names the row where reading stopped, and the shard is not recorded as finished, so a rerun with
the repaired file reads it again (before: the unfinished batch was dropped, the entry named the
last row of the last batch handed on, and the shard got its done record)."""

from __future__ import annotations

import gzip
import json
import zlib

import pytest
from scan_cli_run import run_scan_cli
from tokenmark.scan import ReadOptions, expand_inputs, read_shard

zstandard = pytest.importorskip("zstandard", reason="the scan extra: pip install '.[scan]'")
pytest.importorskip("pyarrow", reason="the scan extra: pip install '.[scan]'")


def _scan(tmp_path, inputs) -> int:
    return run_scan_cli(tmp_path, inputs, "--tokens-column", "ids")


def _compress(data: bytes, suffix: str) -> bytes:
    return gzip.compress(data) if suffix == ".gz" else zstandard.ZstdCompressor().compress(data)


def _readable(cut: bytes, suffix: str) -> bytes:
    """What the cut archive decompresses to, found without the scan's readers."""
    if suffix == ".gz":
        return zlib.decompressobj(wbits=31).decompress(cut)
    return zstandard.ZstdDecompressor().decompressobj().decompress(cut)


@pytest.mark.parametrize("suffix", [".gz", ".zst"])
@pytest.mark.parametrize("batch_size", [100, 8192])
def test_every_row_read_before_the_cut_is_kept(tmp_path, suffix, batch_size):
    data = "".join(json.dumps({"text": f"doc {i}"}) + "\n" for i in range(20000)).encode()
    full = _compress(data, suffix)
    cut = full[: len(full) // 2]
    p = tmp_path / f"t.jsonl{suffix}"
    p.write_bytes(cut)
    n = _readable(cut, suffix).count(b"\n")  # complete lines before the cut
    assert 0 < n < 20000
    opt = ReadOptions(batch_size=batch_size)
    batches = list(read_shard(expand_inputs([str(p)])[0], opt))
    assert [t for b in batches for t in b.texts] == [f"doc {i}" for i in range(n)]
    assert [r for b in batches for r in b.rows] == list(range(1, n + 1))
    (bad,) = opt.malformed
    assert bad.row == n + 1 and bad.reason.startswith("unreadable from this row on")


def test_truncated_shard_is_scored_not_marked_done_and_rescanned(tmp_path):
    lines = [json.dumps({"id": i, "ids": [1, 2, 3, 4 + i % 50]}).encode() for i in range(3000)]
    data = b"".join(x + b"\n" for x in lines)
    full = gzip.compress(data)
    cut = full[: len(full) // 2]
    n = zlib.decompressobj(wbits=31).decompress(cut).count(b"\n")
    assert 0 < n < 3000
    a = tmp_path / "a.jsonl"
    a.write_bytes(b"".join(x + b"\n" for x in lines[:2]))
    gz = tmp_path / "b.jsonl.gz"
    gz.write_bytes(cut)
    assert _scan(tmp_path, [a, gz]) == 3  # malformed, no hits
    out = tmp_path / "out"
    summary = json.loads((out / "summary.json").read_text())
    assert summary["n_docs"] == 2 + n and summary["m"] == 2 + n
    (entry,) = [json.loads(x) for x in (out / "malformed.jsonl").read_text().splitlines()]
    assert entry["source"] == str(gz) and entry["row"] == n + 1
    assert len(list(out.glob("*.done.json"))) == 1  # a.jsonl only
    gz.write_bytes(full)  # repaired: the rerun reads it again, and only it
    assert _scan(tmp_path, [a, gz]) == 0
    summary = json.loads((out / "summary.json").read_text())
    assert summary["n_docs"] == 3002 and summary["skipped_shards"] == 1
    assert len(list(out.glob("*.done.json"))) == 2
    assert (out / "malformed.jsonl").read_text() == ""


def test_zst_of_several_frames_is_read_to_its_end(tmp_path):
    parts = ["".join(json.dumps({"text": f"{j} {i}"}) + "\n" for i in range(300)) for j in range(3)]
    c = zstandard.ZstdCompressor()
    p = tmp_path / "f.jsonl.zst"
    p.write_bytes(b"".join(c.compress(x.encode()) for x in parts))
    opt = ReadOptions(batch_size=256)
    batches = list(read_shard(expand_inputs([str(p)])[0], opt))
    assert opt.malformed == [] and len([t for b in batches for t in b.texts]) == 900
