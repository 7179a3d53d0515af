"""Scan inputs: formats, compression, folders and globs; every malformed row is counted with its
file and line / row number, and none stops the scan."""

from __future__ import annotations

import gzip
import json
import zlib

import numpy as np
import pytest
from tokenmark.scan import Malformed, ReadOptions, ScanInputError, expand_inputs, read_shard

_EXTRA = "the scan extra: pip install '.[scan]'"
pa = pytest.importorskip("pyarrow", reason=_EXTRA)
pq = pytest.importorskip("pyarrow.parquet", reason=_EXTRA)
zstandard = pytest.importorskip("zstandard", reason=_EXTRA)


def _read(path, **kw):
    opt = ReadOptions(**kw)
    (shard,) = expand_inputs([str(path)])
    batches = list(read_shard(shard, opt))
    return batches, opt.malformed


def _texts(batches):
    return [t for b in batches for t in b.texts]


def _rows(batches):
    return [r for b in batches for r in b.rows]


def test_jsonl_malformed_rows_are_counted_with_line_numbers(tmp_path):
    big = "x" * (10 << 20)  # a 10 MB document
    lines = [
        json.dumps({"id": 1, "text": "first"}),
        "{broken json",
        "",  # blank: no document, not malformed
        json.dumps({"id": 2, "body": "no text field"}),
        json.dumps({"id": 3, "text": 42}),
        json.dumps(["not", "an", "object"]),
        json.dumps({"id": 4, "text": big}),
        json.dumps({"id": 5, "text": "last"}),
    ]
    p = tmp_path / "a.jsonl"
    p.write_bytes(("\n".join(lines) + "\n").encode() + b'{"text": "\xff\xfe"}\n')
    batches, bad = _read(p, max_doc_bytes=8 << 20, batch_size=1)
    assert _texts(batches) == ["first", "last"]
    assert _rows(batches) == [1, 8]
    assert [b.ids for b in batches] == [["1"], ["5"]]
    got = {(m.row, m.reason.split(":")[0]) for m in bad}
    assert got == {
        (2, "invalid JSON"),
        (4, "no field 'text'"),
        (5, "field 'text'"),
        (6, "not a JSON object"),
        (7, f"line over {8 << 20} bytes"),
        (9, "invalid UTF-8"),
    }
    assert all(m.source == str(p) and "x" * 100 not in m.reason for m in bad)


def test_jsonl_10mb_line_within_the_limit_is_a_document(tmp_path):
    p = tmp_path / "big.jsonl"
    p.write_text(json.dumps({"text": "ab " * (3_500_000)}) + "\n")
    batches, bad = _read(p, max_doc_bytes=16 << 20)
    assert bad == [] and len(_texts(batches)[0]) == 10_500_000


def test_tokens_column(tmp_path):
    lines = [
        {"tokens": [1, 2, 3]},
        {"tokens": []},
        {"tokens": [1, -2]},
        {"tokens": [1, 2**31]},
        {"tokens": [1.5]},
        {"tokens": "1 2 3"},
        {"tokens": [True]},
        {"tokens": [7, 8]},
    ]
    p = tmp_path / "ids.jsonl"
    p.write_text("".join(json.dumps(x) + "\n" for x in lines))
    batches, bad = _read(p, text_column=None, tokens_column="tokens")
    (b,) = batches
    assert b.rows == [1, 2, 8]
    assert b.tokens.offsets.tolist() == [0, 3, 3, 5]
    assert b.tokens.tokens.tolist() == [1, 2, 3, 7, 8] and b.tokens.tokens.dtype == np.int32
    assert [m.row for m in bad] == [3, 4, 5, 6, 7]


@pytest.mark.parametrize("suffix", ["", ".gz", ".zst"])
def test_compressed_jsonl(tmp_path, suffix):
    data = "".join(json.dumps({"text": f"doc {i}"}) + "\n" for i in range(1000)).encode()
    p = tmp_path / f"c.jsonl{suffix}"
    if suffix == ".gz":
        p.write_bytes(gzip.compress(data))
    elif suffix == ".zst":
        p.write_bytes(zstandard.ZstdCompressor().compress(data))
    else:
        p.write_bytes(data)
    batches, bad = _read(p, batch_size=300)
    assert bad == [] and [len(b) for b in batches] == [300, 300, 300, 100]
    assert _texts(batches) == [f"doc {i}" for i in range(1000)]


def test_truncated_gzip_is_reported_after_the_rows_read(tmp_path):
    data = "".join(json.dumps({"text": f"doc {i}"}) + "\n" for i in range(5000)).encode()
    p = tmp_path / "t.jsonl.gz"
    cut = gzip.compress(data)[:-2000]
    p.write_bytes(cut)
    n = zlib.decompressobj(wbits=31).decompress(cut).count(b"\n")  # lines that decompress
    batches, bad = _read(p, batch_size=100)
    assert _rows(batches) == list(range(1, n + 1))  # every one, the unfinished batch's too
    assert len(bad) == 1 and bad[0].reason.startswith("unreadable from this row on")
    assert bad[0].row == n + 1  # where reading stopped


def test_parquet(tmp_path):
    t = pa.table(
        {
            "id": ["a", "b", "c", "d"],
            "text": ["one", None, "three", "four"],
            "tokens": [[1, 2], [3], None, [4, -5]],
        }
    )
    p = tmp_path / "x.parquet"
    pq.write_table(t, p, row_group_size=2)
    batches, bad = _read(p, batch_size=3)
    assert _texts(batches) == ["one", "three", "four"]
    assert _rows(batches) == [0, 2, 3] and [i for b in batches for i in b.ids] == ["a", "c", "d"]
    assert [(m.row, m.reason) for m in bad] == [(1, "column 'text' is null")]
    batches, bad = _read(p, text_column=None, tokens_column="tokens")
    assert _rows(batches) == [0, 1]
    assert [m.row for m in bad] == [2, 3]


def test_parquet_dictionary_encoded_text(tmp_path):
    """A dictionary-encoded string column (what pandas writes for a categorical) is text."""
    text = pa.array(["one", "two", None, "one"]).dictionary_encode()
    p = tmp_path / "cat.parquet"
    pq.write_table(pa.table({"text": text}), p)
    assert pa.types.is_dictionary(pq.read_schema(p).field("text").type)
    batches, bad = _read(p)
    assert _texts(batches) == ["one", "two", "one"] and _rows(batches) == [0, 1, 3]
    assert [(m.row, m.reason) for m in bad] == [(2, "column 'text' is null")]
    pq.write_table(pa.table({"text": pa.array([1, 2]).dictionary_encode()}), p)
    batches, bad = _read(p)
    assert batches == [] and "expected a string" in bad[0].reason


def test_parquet_missing_or_wrong_column_counts_every_row(tmp_path):
    p = tmp_path / "y.parquet"
    pq.write_table(pa.table({"body": ["a", "b", "c"], "n": [1, 2, 3]}), p)
    batches, bad = _read(p)
    assert batches == [] and len(bad) == 1 and "no column 'text'" in bad[0].reason
    assert "all 3 rows" in bad[0].reason
    batches, bad = _read(p, text_column="n")
    assert batches == [] and "expected a string" in bad[0].reason


def test_plain_text_doc_and_line_modes(tmp_path):
    p = tmp_path / "play.txt"
    p.write_text("To be,\n\nor not to be.\n")
    batches, bad = _read(p)
    assert _texts(batches) == ["To be,\n\nor not to be.\n"] and _rows(batches) == [1]
    batches, bad = _read(p, text_mode="line")
    assert _texts(batches) == ["To be,", "or not to be."] and _rows(batches) == [1, 3]
    big = tmp_path / "big.txt"
    big.write_bytes(b"y" * 2000)
    batches, bad = _read(big, max_doc_bytes=1000)
    assert batches == [] and bad == [Malformed(str(big), 1, "file over 1000 bytes")]


def test_empty_files(tmp_path):
    for name in ("e.jsonl", "e.txt"):
        (tmp_path / name).write_bytes(b"")
        batches, bad = _read(tmp_path / name)
        assert batches == [] and bad == []
    pq.write_table(pa.table({"text": pa.array([], pa.string())}), tmp_path / "e.parquet")
    assert _read(tmp_path / "e.parquet") == ([], [])


def test_expand_folders_and_globs(tmp_path):
    (tmp_path / "d" / "sub").mkdir(parents=True)
    (tmp_path / "d" / ".hidden").mkdir()
    for name in ("d/a.jsonl", "d/sub/b.jsonl.gz", "d/sub/c.parquet", "d/z.txt", "d/skip.bin",
                 "d/.hidden/h.jsonl", "e.jsonl"):  # fmt: skip
        (tmp_path / name).write_bytes(b"")
    shards = expand_inputs([str(tmp_path / "d"), str(tmp_path / "*.jsonl")])
    names = [s.path.relative_to(tmp_path).as_posix() for s in shards]
    assert names == ["d/a.jsonl", "d/sub/b.jsonl.gz", "d/sub/c.parquet", "d/z.txt", "e.jsonl"]
    assert [s.format for s in shards] == ["jsonl", "jsonl", "parquet", "text", "jsonl"]
    # Duplicates collapse; shard ids are stable and distinct.
    again = expand_inputs([str(tmp_path / "d" / "a.jsonl"), str(tmp_path / "d")])
    assert [s.shard_id for s in again] == [s.shard_id for s in shards[:4]]
    assert len({s.shard_id for s in shards}) == len(shards)
    with pytest.raises(ScanInputError, match="matches no file"):
        expand_inputs([str(tmp_path / "nothing*.jsonl")])
    with pytest.raises(ScanInputError, match="no input"):
        expand_inputs([])


def test_read_options_checked():
    with pytest.raises(ScanInputError, match="exactly one"):
        ReadOptions(text_column="text", tokens_column="tokens")
    with pytest.raises(ScanInputError, match="text_mode"):
        ReadOptions(text_mode="para")
    with pytest.raises(ScanInputError, match="batch_size"):
        ReadOptions(batch_size=0)
    with pytest.raises(ScanInputError, match="format"):
        ReadOptions(format="csv")


def test_parquet_oversized_text_counts_bytes_not_characters(tmp_path):
    p = tmp_path / "big.parquet"
    pq.write_table(pa.table({"text": ["é" * 600, "e" * 600]}), p)  # 1200 and 600 bytes
    batches, bad = _read(p, max_doc_bytes=1000)
    assert _rows(batches) == [1] and bad == [Malformed(str(p), 0, "text over 1000 bytes")]
