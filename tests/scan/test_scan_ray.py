"""``--engine ray`` on a local Ray cluster (two CPUs, one scorer actor of one CPU: a pool that
holds every CPU starves Ray's read and write tasks): the same rows, scores, hits, summary and
malformed rows as the local engine on a corpus with planted watermarked documents."""

from __future__ import annotations

import json

import numpy as np
import pytest
import scanio_corpus
from tokenmark import demo_model
from tokenmark.scan import (
    ReadOptions,
    ScanConfigError,
    expand_inputs,
    load_tokenizer,
    load_watermarks,
    scan,
    write_report,
)
from tokenmark.scan.report import null_histogram

pytestmark = pytest.mark.ray
ray = pytest.importorskip("ray", reason="Ray is not installed (pip install 'tokenmark[ray]')")
pytest.importorskip("ray.data", reason="Ray Data is not installed (pip install 'ray[data]')")
pq = pytest.importorskip("pyarrow.parquet", reason="the scan extra: pip install '.[scan]'")

FIELDS = ["source", "row", "id", "watermark", "n_tokens", "n_scored", "score", "log10_p"]
FIELDS += ["window_start", "window_n_green", "window_log10_p", "window_score"]


@pytest.fixture(scope="module")
def cluster():
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    ray.data.DataContext.get_current().enable_progress_bars = False
    yield
    ray.shutdown()


@pytest.fixture(scope="module")
def both(cluster, tmp_path_factory):
    root = tmp_path_factory.mktemp("ray")
    c = scanio_corpus.write(root)
    keys = json.loads(open(c["keys"]).read())
    wms = load_watermarks(c["config"], key_file=c["keys"])
    assert len(keys) == len(wms) == 5
    tok = load_tokenizer(demo_model.PATH)
    opt = ReadOptions(batch_size=7)  # several batches per shard
    shards = expand_inputs(c["inputs"])
    kw = dict(read_options=opt, tokenizer=tok, q=scanio_corpus.Q, log=lambda s: None)
    local = scan(shards, wms, root / "local", progress=False, **kw)
    from tokenmark.scan.ray_engine import scan_ray

    dist = scan_ray(shards, wms, root / "ray", workers=1, progress=False, **kw)
    return {**c, "root": root, "local": local, "ray": dist, "wms": wms, "tok": tok, "kw": kw}


def _rows(files):
    t = pq.read_table(files, columns=FIELDS) if files else None
    rows = t.to_pylist()
    return sorted(rows, key=lambda r: (r["source"], r["row"], r["watermark"]))


def test_same_rows_and_scores(both):
    root = both["root"]
    local = _rows(sorted((root / "local").glob("scores-*.parquet")))
    dist = _rows(sorted((root / "ray" / "ray").glob("*.parquet")))
    assert len(local) == both["n_docs"] * 5
    assert local == dist  # every column, floats bit for bit


def test_same_hits_summary_and_malformed(both):
    local, dist = both["local"], both["ray"]
    assert {(h["source"], h["row"], h["watermark"]) for h in dist.hits} == both["expected"]
    key = lambda h: (h["log10_p"], h["source"], h["row"], h["watermark"])  # noqa: E731
    assert sorted(local.hits, key=key) == sorted(dist.hits, key=key)
    drop = {"seconds"}
    assert {k: v for k, v in local.summary.items() if k not in drop} == {
        k: v for k, v in dist.summary.items() if k not in drop
    }
    assert dist.exit_code == local.exit_code == 4  # hits and one malformed row
    assert [(m.source, m.row) for m in dist.malformed_examples] == [both["malformed"]]
    assert (both["root"] / "ray" / "malformed.jsonl").read_text() == (
        both["root"] / "local" / "malformed.jsonl"
    ).read_text()


def test_report_over_the_ray_output(both):
    root = both["root"]
    hits = both["ray"].hits
    a, b = null_histogram(root / "local", hits), null_histogram(root / "ray", hits)
    assert a.counts.keys() == b.counts.keys()
    for k in a.counts:
        np.testing.assert_array_equal(a.counts[k], b.counts[k])
    page = write_report(root / "ray", root / "ray.html", both["wms"], tokenizer=both["tok"])
    assert f">{len(hits)}</b><span>Benjamini-Hochberg" in page.read_text()


def test_ray_refuses_a_used_folder(both):
    from tokenmark.scan.ray_engine import scan_ray

    shards = expand_inputs(both["inputs"])
    with pytest.raises(ScanConfigError, match="does not resume"):
        scan_ray(shards, both["wms"], both["root"] / "ray", **both["kw"])
    with pytest.raises(ScanConfigError, match="workers"):
        scan_ray(shards, both["wms"], both["root"] / "new", workers=0, **both["kw"])
    for bad in (0, 1.5, True):
        with pytest.raises(ScanConfigError, match="worker_threads: must be a positive integer"):
            scan_ray(shards, both["wms"], both["root"] / "new", worker_threads=bad, **both["kw"])
    assert not (both["root"] / "new").exists()


def test_command_line_engine_ray_with_report(both, tmp_path):
    import argparse

    from tokenmark.scan import cli

    parser = argparse.ArgumentParser(prog="tokenmark")
    cli.add_parser(parser.add_subparsers(dest="command"))
    out, page = tmp_path / "out", tmp_path / "scan.html"
    argv = ["scan", both["inputs"][1], "--config", both["config"], "--key-file", both["keys"]]
    argv += ["--tokenizer", str(demo_model.PATH), "--out", str(out), "--q", str(scanio_corpus.Q)]
    argv += ["--no-progress", "--engine", "ray", "--workers", "1", "--report", str(page)]
    args = parser.parse_args(argv)
    assert args.func(args) == 1  # the Parquet shard holds planted documents, no malformed row
    hits = {(h["source"], h["row"], h["watermark"]) for h in _hits(out)}
    assert hits == {e for e in both["expected"] if e[0] == both["inputs"][1]} != set()
    assert "<svg" in page.read_text()
    args = parser.parse_args([*argv, "--output-format", "jsonl"])
    assert args.func(args) == 2  # usage: the Ray engine writes Parquet only


def _hits(out):
    return [json.loads(x) for x in (out / "hits.jsonl").read_text().splitlines()]
