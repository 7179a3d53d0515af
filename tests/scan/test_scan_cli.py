"""End to end: a generated corpus with planted watermarked documents (four keys, three schemes,
some pasted into human text) over JSON lines (.gz, .zst), Parquet and text files is scanned
through the subcommand's ``add_parser`` / ``run`` (as ``tokenmark scan`` will call them) and
``python -m tokenmark.scan``; the hits are exactly the planted documents at the stated q."""

from __future__ import annotations

import argparse
import gzip
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import scan_corpus
import torch
from tokenmark import demo_model
from tokenmark._key import Key
from tokenmark.scan import (
    ReadOptions,
    cli,
    encode,
    engine,
    expand_inputs,
    load_tokenizer,
    load_watermarks,
    scan,
    score_batch,
)

_EXTRA = "the scan extra: pip install '.[scan]'"
pa = pytest.importorskip("pyarrow", reason=_EXTRA)
pq = pytest.importorskip("pyarrow.parquet", reason=_EXTRA)
zstandard = pytest.importorskip("zstandard", reason=_EXTRA)

Q = 1e-3
N_WATERMARKS = 5


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    """Files of the generated corpus, the expected hits {(source, row, watermark)} and the docs."""
    torch.set_num_threads(1)
    docs, planted = scan_corpus.build()
    root = tmp_path_factory.mktemp("corpus")
    (root / "sub").mkdir()
    # Two documents (one planted) go to plain-text files; the rest to three shards.
    text_ids = ["gumbel-gamma-1", next(i for i, _ in docs if i.startswith("human"))]
    rest = [(i, t) for i, t in docs if i not in text_ids]
    where: dict[str, tuple[str, int]] = {}
    a, b, c = rest[:25], rest[25:50], rest[50:]
    p0 = root / "part-0.jsonl.gz"
    p0.write_bytes(gzip.compress("".join(_line(i, t) for i, t in a).encode()))
    where.update({i: (str(p0), n + 1) for n, (i, _) in enumerate(a)})
    p1 = root / "part-1.parquet"
    pq.write_table(pa.table({"id": [i for i, _ in b], "text": [t for _, t in b]}), p1)
    where.update({i: (str(p1), n) for n, (i, _) in enumerate(b)})
    p2 = root / "sub" / "part-2.jsonl.zst"
    p2.write_bytes(zstandard.ZstdCompressor().compress("".join(_line(i, t) for i, t in c).encode()))
    where.update({i: (str(p2), n + 1) for n, (i, _) in enumerate(c)})
    for i in text_ids:
        p = root / "sub" / f"{i}.txt"
        p.write_text(dict(docs)[i])
        where[i] = (str(p), 1)
    expected = {(*where[i], wm) for i, wm in planted.items()}
    config = root / "watermarks.json"
    config.write_text(json.dumps(scan_corpus.watermark_config()))
    keys = root / "keys.json"  # two keys in the key file, the others in the environment
    keys.write_text(json.dumps({k: scan_corpus.KEYS[k] for k in ("alpha", "beta")}))
    return {
        "root": root,
        "inputs": [str(p0), str(p1), str(root / "sub")],
        "expected": expected,
        "docs": docs,
        "planted": planted,
        "config": config,
        "keys": keys,
        "n_docs": len(docs),
    }


def _line(doc_id, text):
    return json.dumps({"id": doc_id, "text": text}) + "\n"


@pytest.fixture
def env(monkeypatch):
    for k in ("gamma", "delta"):
        monkeypatch.setenv(f"TOKENMARK_KEY_{k.upper()}", scan_corpus.KEYS[k])
    monkeypatch.setenv("TOKENMARK_KEY_UNUSED", scan_corpus.UNUSED["unused"])


def _scan(corpus, out, *extra, inputs=None):
    parser = argparse.ArgumentParser(prog="tokenmark")
    cli.add_parser(parser.add_subparsers(dest="command"))
    argv = ["scan", *(inputs or corpus["inputs"]), "--config", str(corpus["config"])]
    argv += ["--key-file", str(corpus["keys"]), "--tokenizer", str(demo_model.PATH)]
    argv += ["--out", str(out), "--q", str(Q), "--no-progress", *extra]
    args = parser.parse_args(argv)
    return args.func(args)


def _hits(out):
    lines = (Path(out) / "hits.jsonl").read_text().splitlines()
    return [json.loads(x) for x in lines]


def _hit_set(out):
    return {(h["source"], h["row"], h["watermark"]) for h in _hits(out)}


def test_finds_exactly_the_planted_documents(corpus, env, tmp_path, capsys):
    out = tmp_path / "out"
    assert _scan(corpus, out) == engine.EXIT_HITS
    assert _hit_set(out) == corpus["expected"]
    summary = json.loads((out / "summary.json").read_text())
    assert summary["m"] == corpus["n_docs"] * N_WATERMARKS
    assert summary["n_docs"] == corpus["n_docs"] and summary["malformed_rows"] == 0
    assert summary["bh"]["rejections"] == len(corpus["expected"])
    assert summary["n_shards"] == 5 and summary["skipped_shards"] == 0
    err = capsys.readouterr().err
    assert f"m = {summary['m']} tests" in err and "Benjamini-Hochberg (FDR): 12 rejections" in err
    # BH / BY control the FDR, not the count of false discoveries (q x R is no bound on it);
    # Bonferroni's expected false discoveries are at most q.
    (bh,) = [line for line in err.splitlines() if "Benjamini-Hochberg (FDR)" in line]
    assert bh.endswith(f"FDR <= {Q:.3g} (the expected fraction of the rejections that are false, "
                       "not a count)")  # fmt: skip
    assert "expected false discoveries <=" not in bh
    (bonf,) = [line for line in err.splitlines() if "Bonferroni line" in line]
    assert bonf.endswith(f"P(any false) <= {Q:.3g}, expected false discoveries <= {Q:.3g}")
    assert "expected_false_discoveries" not in summary["bh"]
    assert summary["bh"]["controls"] == "FDR" and summary["bonferroni"]["controls"] == "FWER"
    assert summary["bonferroni"]["expected_false_discoveries_at_most"] == Q
    # Every (document, watermark) has a row; planted documents are far past the line.
    tables = [pq.read_table(p) for p in sorted(out.glob("scores-*.parquet"))]
    rows = pa.concat_tables(tables).to_pylist()
    assert len(rows) == corpus["n_docs"] * N_WATERMARKS
    assert {r["watermark"] for r in rows} == {w["name"] for w in _config(corpus)}
    hits = _hits(out)
    assert all(h["log10_p"] < -10 and h["log10_q_bh"] <= np.log10(Q) for h in hits)
    assert all(h["by"] for h in hits)  # strong enough for the dependence-proof procedure too
    # The watermarks with a window find the span pasted into the middle of human text.
    for name in ("kgw-alpha", "gumbel-gamma", "synthid-delta"):
        (r,) = [r for r in rows if r["id"] == f"{name}-0-pasted" and r["watermark"] == name]
        assert r["window_log10_p"] < -5 and 0 < r["window_start"] < r["n_tokens"] - 60, r
        assert r["window_score"] is not None
        assert (r["window_n_green"] is None) == (name != "kgw-alpha")
    windowed = ("kgw-alpha", "gumbel-gamma", "synthid-delta")
    assert all(r["window_start"] is None for r in rows if r["watermark"] not in windowed)


def _config(corpus):
    return json.loads(corpus["config"].read_text())["watermarks"]


def test_keys_never_in_output(corpus, env, tmp_path, capsys):
    out = tmp_path / "out"
    assert _scan(corpus, out) == engine.EXIT_HITS
    captured = capsys.readouterr()
    blobs = [captured.out.encode(), captured.err.encode()]
    blobs += [p.read_bytes() for p in out.rglob("*") if p.is_file()]
    secrets = [*scan_corpus.KEYS.values(), *scan_corpus.UNUSED.values()]
    secrets += [Key(s).to_hex() for s in secrets]
    for blob in blobs:
        for s in secrets:
            assert s.encode() not in blob
    wms = load_watermarks(corpus["config"], corpus["keys"])
    assert not any(s in repr(wms) for s in secrets)
    # The fingerprints (public) are recorded, so a rerun with other keys is refused.
    assert Key(scan_corpus.KEYS["alpha"]).fingerprint in (out / "scan.json").read_text()


def test_resume_skips_finished_shards(corpus, env, tmp_path, monkeypatch):
    out = tmp_path / "out"
    calls = []
    real = engine.score_batches

    def interrupted(wms, rag, backend="auto"):
        calls.append(1)
        if len(calls) > 1:  # the second batch: after the first shard is complete
            raise KeyboardInterrupt
        return real(wms, rag, backend)

    monkeypatch.setattr(engine, "score_batches", interrupted)
    with pytest.raises(KeyboardInterrupt):
        _scan(corpus, out)
    assert len(list(out.glob("scores-*.done.json"))) == 1
    assert not list(out.glob(".*.tmp"))  # the interrupted shard's partial file is gone
    monkeypatch.setattr(engine, "score_batches", real)
    assert _scan(corpus, out) == engine.EXIT_HITS
    assert json.loads((out / "summary.json").read_text())["skipped_shards"] == 1
    assert _hit_set(out) == corpus["expected"]

    stamps = {p.name: p.stat().st_mtime_ns for p in out.glob("scores-*.parquet")}
    assert _scan(corpus, out) == engine.EXIT_HITS
    assert json.loads((out / "summary.json").read_text())["skipped_shards"] == 5
    assert {p.name: p.stat().st_mtime_ns for p in out.glob("scores-*.parquet")} == stamps
    assert _hit_set(out) == corpus["expected"]

    victim = sorted(out.glob("scores-*.done.json"))[0]
    victim.unlink()
    assert _scan(corpus, out) == engine.EXIT_HITS
    assert json.loads((out / "summary.json").read_text())["skipped_shards"] == 4
    changed = {
        p.name for p in out.glob("scores-*.parquet") if p.stat().st_mtime_ns != stamps[p.name]
    }
    assert changed == {victim.name.replace(".done.json", ".parquet")}
    assert _hit_set(out) == corpus["expected"]


def test_rerun_at_a_larger_q_is_exact(corpus, env, tmp_path):
    """Finished shards kept only p <= 1e-3; at q = 0.2 their outputs are read again, and the
    result is that of a fresh scan at 0.2."""
    out = tmp_path / "out"
    _scan(corpus, out)
    fresh = tmp_path / "fresh"
    _scan(corpus, fresh, "--q", "0.2")
    _scan(corpus, out, "--q", "0.2")
    a = json.loads((out / "summary.json").read_text())
    b = json.loads((fresh / "summary.json").read_text())
    for k in ("m", "kept", "bh", "by", "bonferroni"):
        assert a[k] == b[k], k
    assert a["kept"] > len(corpus["expected"])  # null p-values below 0.2 are kept too
    assert _hits(out) == _hits(fresh)


def test_jsonl_output_and_token_ids_input_give_the_same_scores(corpus, env, tmp_path):
    out_pq, out_js, out_ids = tmp_path / "pq", tmp_path / "js", tmp_path / "ids"
    _scan(corpus, out_pq)
    _scan(corpus, out_js, "--output-format", "jsonl")
    # The same documents, tokenized beforehand, through a token-id column.
    tok = load_tokenizer(demo_model.PATH)
    ids_file = tmp_path / "ids.jsonl"
    with open(ids_file, "w") as f:
        for doc_id, text in corpus["docs"]:
            ids = tok.encode(text, add_special_tokens=False).ids
            f.write(json.dumps({"id": doc_id, "tokens": ids}) + "\n")
    rc = _scan(corpus, out_ids, "--tokens-column", "tokens", inputs=[str(ids_file)])
    assert rc == engine.EXIT_HITS
    pq_rows = pa.concat_tables(
        [pq.read_table(p) for p in out_pq.glob("scores-*.parquet")]
    ).to_pylist()
    js_rows = [
        json.loads(x) for p in out_js.glob("scores-*.jsonl") for x in p.read_text().splitlines()
    ]
    key = lambda r: (r["source"], r["row"], r["watermark"])  # noqa: E731
    assert sorted(pq_rows, key=key) == sorted(js_rows, key=key)
    by_id = {(r["id"], r["watermark"]): r["log10_p"] for r in pq_rows if r["id"]}
    id_rows = pq.read_table(next(out_ids.glob("*.parquet"))).to_pylist()
    for r in id_rows:
        if (r["id"], r["watermark"]) in by_id:
            assert r["log10_p"] == by_id[(r["id"], r["watermark"])]
    planted = {(i, wm) for i, wm in corpus["planted"].items()}
    assert {(h["id"], h["watermark"]) for h in _hits(out_ids)} == planted


def test_python_dash_m(corpus, env, tmp_path):
    out = tmp_path / "out"
    cmd = [sys.executable, "-m", "tokenmark.scan", *corpus["inputs"], "--config"]
    cmd += [str(corpus["config"]), "--key-file", str(corpus["keys"]), "--tokenizer"]
    cmd += [str(demo_model.PATH), "--out", str(out), "--q", str(Q)]
    res = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ}, timeout=300)
    assert res.returncode == engine.EXIT_HITS, res.stderr
    assert _hit_set(out) == corpus["expected"]
    assert "rejections" in res.stderr


def test_exit_codes(corpus, env, tmp_path, capsys):
    human = tmp_path / "human.jsonl"
    human.write_text("".join(_line(i, t) for i, t in corpus["docs"] if i.startswith("human")))
    assert _scan(corpus, tmp_path / "o0", inputs=[str(human)]) == engine.EXIT_CLEAN
    broken = tmp_path / "broken.jsonl"
    broken.write_text('{"text": "fine"}\n{nope\n{"text": 3}\n')
    rc = _scan(corpus, tmp_path / "o3", inputs=[str(human), str(broken)])
    assert rc == engine.EXIT_MALFORMED
    err = capsys.readouterr().err
    assert f"{broken}:2: invalid JSON" in err and f"{broken}:3: field 'text'" in err
    bad = [json.loads(x) for x in (tmp_path / "o3" / "malformed.jsonl").read_text().splitlines()]
    assert [(b["source"], b["row"]) for b in bad] == [(str(broken), 2), (str(broken), 3)]
    rc = _scan(corpus, tmp_path / "o4", inputs=[*corpus["inputs"], str(broken)])
    assert rc == engine.EXIT_HITS_AND_MALFORMED


def test_usage_errors_exit_2_and_name_the_problem(corpus, env, tmp_path, monkeypatch, capsys):
    assert _scan(corpus, tmp_path / "a", inputs=[str(tmp_path / "none.jsonl")]) == 2
    assert "matches no file" in capsys.readouterr().err
    monkeypatch.delenv("TOKENMARK_KEY_GAMMA")
    assert _scan(corpus, tmp_path / "b") == 2
    assert "TOKENMARK_KEY_GAMMA is not set" in capsys.readouterr().err
    monkeypatch.setenv("TOKENMARK_KEY_GAMMA", "a different key")
    assert _scan(corpus, tmp_path / "c") == 2  # the config's key_fingerprint does not match
    err = capsys.readouterr().err
    assert "key_fingerprint" in err and "a different key" not in err
    monkeypatch.setenv("TOKENMARK_KEY_GAMMA", scan_corpus.KEYS["gamma"])
    assert _scan(corpus, tmp_path / "w", "--workers", "2") == 2  # not silently ignored
    assert "--workers: only with --engine ray" in capsys.readouterr().err
    assert not (tmp_path / "w").exists()
    assert _scan(corpus, tmp_path / "w", "--worker-threads", "2") == 2
    assert "--worker-threads: only with --engine ray" in capsys.readouterr().err
    monkeypatch.setenv("TOKENMARK_KEY_GAMMA", scan_corpus.KEYS["gamma"])
    bad_cfg = tmp_path / "bad.json"
    for content, msg in [
        ("{not json", "not valid JSON"),
        (json.dumps({"watermarks": []}), "at least one entry"),
        (json.dumps([{"key_id": "gamma", "scheme": "rot13"}]), "unknown scheme"),
        (json.dumps([{"key_id": "gamma", "key_hex": "00" * 16}]), "holds key_hex"),
        (json.dumps([{"key_id": "gamma"}, {"key_id": "gamma"}]), "unique"),
        (json.dumps([{"key_id": "gamma", "gamma": 2.0}]), "gamma"),
        (json.dumps([{"key_id": "gamma", "window": 0}]), "window"),
    ]:
        bad_cfg.write_text(content)
        parser = argparse.ArgumentParser()
        cli.add_parser(parser.add_subparsers())
        args = parser.parse_args(["scan", corpus["inputs"][0], "--config", str(bad_cfg),
                                  "--tokenizer", str(demo_model.PATH), "--out",
                                  str(tmp_path / "d")])  # fmt: skip
        assert cli.run(args) == 2, content
        assert msg in capsys.readouterr().err, content
    keyfile = tmp_path / "k.json"
    keyfile.write_text('{"alpha": "top secret material", oops}')
    args = parser.parse_args(["scan", corpus["inputs"][0], "--config", str(corpus["config"]),
                              "--key-file", str(keyfile), "--out", str(tmp_path / "e"),
                              "--tokenizer", str(demo_model.PATH)])  # fmt: skip
    assert cli.run(args) == 2
    err = capsys.readouterr().err
    assert "key_file: not valid JSON" in err and "top secret" not in err
    # Text input without a tokenizer; a tokenizer path that holds none.
    args = parser.parse_args(["scan", corpus["inputs"][0], "--config", str(corpus["config"]),
                              "--key-file", str(corpus["keys"]),
                              "--out", str(tmp_path / "f")])  # fmt: skip
    assert cli.run(args) == 2 and "--tokenizer" in capsys.readouterr().err
    args.tokenizer = str(tmp_path)
    assert cli.run(args) == 2 and "no tokenizer.json" in capsys.readouterr().err
    # Other settings into a finished scan's folder are refused.
    out = tmp_path / "g"
    assert _scan(corpus, out) == engine.EXIT_HITS
    assert _scan(corpus, out, "--window", "10") == 2
    assert "other settings" in capsys.readouterr().err
    assert _scan(corpus, tmp_path / "h", "--q", "1.5") == 2


def test_log10_p_agrees_with_detect(corpus, env):
    """The scan's log10 p-values are the log of the schemes' own p-values wherever those are
    normal doubles (and finite where those underflow)."""
    wms = load_watermarks(corpus["config"], corpus["keys"])
    tok = load_tokenizer(demo_model.PATH)
    rag = encode(tok, [t for _, t in corpus["docs"]])
    for wm in wms:
        s = score_batch(wm, rag)
        opts = dict(wm.options)
        res = wm.scheme.detect(rag, **opts)
        p = np.asarray(res.p_value)
        ok = p > 1e-290
        np.testing.assert_allclose(s["log10_p"][ok], np.log10(p[ok]), rtol=1e-9, atol=1e-12)
        assert np.all(np.isfinite(s["log10_p"]))
        if "window" in opts:
            wp = np.asarray(res.window_p_value)
            ok = wp > 1e-290
            np.testing.assert_allclose(
                s["window_log10_p"][ok], np.log10(wp[ok]), rtol=1e-9, atol=1e-12
            )


def test_progress_bar_shows_documents_and_tokens_per_second(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("TOKENMARK_KEY_K", "progress key")
    ids = tmp_path / "ids.jsonl"
    ids.write_text(
        "".join(json.dumps({"tokens": list(range(i, i + 50))}) + "\n" for i in range(300))
    )
    wms = load_watermarks([{"key_id": "k", "scheme": "kgw"}])
    opt = ReadOptions(text_column=None, tokens_column="tokens", batch_size=100)
    rep = scan(expand_inputs([str(ids)]), wms, tmp_path / "o", read_options=opt, progress=True)
    err = capsys.readouterr().err
    assert rep.exit_code == engine.EXIT_CLEAN and rep.summary["n_docs"] == 300
    assert "300 docs" in err and "M tokens/s" in err and "docs/s" in err
    assert not (tmp_path / "q").exists()
    with pytest.raises(ValueError, match="q"):
        scan(expand_inputs([str(ids)]), wms, tmp_path / "q", read_options=opt, q=0.0)
    assert not (tmp_path / "q").exists()  # nothing written before the arguments are checked


@pytest.mark.parametrize("fmt", ["parquet", "jsonl"])
def test_rerun_at_a_larger_q_token_ids(tmp_path, monkeypatch, fmt):
    """The same on random token ids (many p-values between the two q's), for both outputs."""
    monkeypatch.setenv("TOKENMARK_KEY_K", "rerun key")
    rng = np.random.default_rng(3)
    inputs = []
    for s in range(3):
        p = tmp_path / f"ids-{s}.jsonl"
        docs = (rng.integers(0, 5000, int(rng.integers(5, 80))).tolist() for _ in range(400))
        p.write_text(
            "".join(json.dumps({"id": f"{s}-{i}", "tokens": d}) + "\n" for i, d in enumerate(docs))
        )
        inputs.append(str(p))
    wms = load_watermarks([{"key_id": "k", "scheme": "kgw", "context_width": 1},
                           {"key_id": "k", "scheme": "gumbel", "context_width": 1}])  # fmt: skip
    opt = ReadOptions(text_column=None, tokens_column="tokens", batch_size=128)

    def run(out, q):
        return scan(expand_inputs(inputs), wms, out, read_options=opt, q=q, out_format=fmt,
                    log=lambda s: None)  # fmt: skip

    run(tmp_path / "out", 1e-3)
    again = run(tmp_path / "out", 0.3)
    fresh = run(tmp_path / "fresh", 0.3)
    assert again.summary["skipped_shards"] == 3
    for k in ("m", "kept", "bh", "by", "bonferroni"):
        assert again.summary[k] == fresh.summary[k], k
    assert again.summary["kept"] > 100 and again.hits == fresh.hits
