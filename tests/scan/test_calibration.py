"""Per-key calibration (tokenmark.calibration): the filtered scores against a brute-force
re-statement, the keyed filter, save/load, refusals, and the scan's --calibration."""

from __future__ import annotations

import argparse
import json

import numpy as np
import pyarrow.parquet as pq
import pytest
import tokenmark as tm
from tokenmark import demo_model
from tokenmark.reference.gumbel import score_term
from tokenmark.reference.prf import (
    DOMAIN_GUMBEL,
    DOMAIN_KGW_GREEN,
    DOMAIN_SYNTHID_G,
    context_hash,
    prf_word,
)
from tokenmark.scan import cli as scan_cli

KEY = b"calibration test key"
SCHEMES = {
    "kgw-prev": lambda k: tm.KGW(key=k, gamma=0.25, context_width=2),
    "kgw-unigram": lambda k: tm.KGW(key=k, gamma=0.5, context_width=0),
    "kgw-minhash": lambda k: tm.KGW(key=k, gamma=0.25, context_width=3, seeding="minhash"),
    "gumbel": lambda k: tm.Gumbel(key=k, context_width=2),
    "synthid": lambda k: tm.SynthID(key=k, layers=7, context_width=2),
}


def corpus(rng, n_docs: int, length: int, vocab: int = 60) -> list[np.ndarray]:
    """Repetitive token text: Zipf-distributed tokens and a shared boilerplate line."""
    boiler = np.array([3, 1, 4, 1, 5, 9, 2, 6], dtype=np.int64)
    docs = []
    for _ in range(n_docs):
        body = np.minimum(rng.zipf(1.4, size=length), vocab - 1)
        docs.append(np.concatenate([boiler, body]) if rng.random() < 0.5 else body)
    return docs


def brute_force(wm, ref, docs, min_docs, prefix=0, salt=0):
    """The calibrated counts, re-stated with Python sets and the numpy reference PRF."""
    h, seeding = wm.context_width, wm.seeding_code

    def pairs(doc, start):
        for i in range(max(h, start), len(doc)):
            yield i, int(context_hash(np.asarray(doc[i - h : i]), seeding)), int(doc[i])

    df: dict = {}
    for doc in ref:
        for p in {(c, t) for _, c, t in pairs(doc, 0)}:
            df[p] = df.get(p, 0) + 1
    frequent = {p for p, n in df.items() if n >= min_docs}
    out = []
    for doc in docs:
        seen, n, stat = set(), 0, 0.0
        ones = np.zeros(getattr(wm, "layers", 1), dtype=np.int64)
        for _, c, t in pairs(doc, prefix):
            ctx = c ^ salt
            if (ctx, t) in seen:
                continue
            seen.add((ctx, t))
            if (c, t) in frequent:
                continue
            n += 1
            if wm.scheme_name == "kgw":
                stat += int(prf_word(wm.key.words, c, t, DOMAIN_KGW_GREEN)) < wm.threshold
            elif wm.scheme_name == "gumbel":
                stat += float(score_term(prf_word(wm.key.words, ctx, t, DOMAIN_GUMBEL)))
            else:
                w = int(prf_word(wm.key.words, c, t, DOMAIN_SYNTHID_G))
                ones += [(w >> b) & 1 for b in range(wm.layers)]
        out.append((n, stat, ones))
    return out


@pytest.mark.parametrize("name", SCHEMES)
def test_calibrated_scores_match_a_brute_force_restatement(name):
    rng = np.random.default_rng(1)
    wm = SCHEMES[name](KEY)
    ref, docs = corpus(rng, 30, 40), corpus(rng, 12, 40) + [np.array([], dtype=np.int64)]
    cal = wm.calibrate(ref, min_docs=3)
    kw = {"salt": 77} if name == "gumbel" else {}
    res = wm.detect_calibrated(docs, calibration=cal, prefix_lengths=5, **kw)
    plain = wm.detect(docs, prefix_lengths=5, **kw)
    want = brute_force(wm, ref, docs, 3, prefix=5, salt=kw.get("salt", 0))
    assert res.n_scored.tolist() == [w[0] for w in want]
    assert (res.n_scored < plain.n_scored).any()  # the filter did drop tokens
    if name.startswith("kgw"):
        assert res.n_green.tolist() == [int(w[1]) for w in want]
        want_p = tm.stats.binomial_pvalue(res.n_green, res.n_scored, wm.gamma_effective)
    elif name == "gumbel":
        np.testing.assert_allclose(res.score, [w[1] for w in want], rtol=1e-9, atol=1e-9)
        want_p = tm.stats.gamma_pvalue(np.array([w[1] for w in want]), res.n_scored)
    else:
        np.testing.assert_array_equal(res.ones, np.stack([w[2] for w in want]))
        want_p = tm.stats.binomial_pvalue(res.ones.sum(1), res.n_scored * wm.layers, 0.5)
    np.testing.assert_allclose(res.p_value, want_p, rtol=1e-9)
    assert res.n_scored[-1] == 0 and res.p_value[-1] == 1.0


def test_flags_and_window_follow_the_filter():
    rng = np.random.default_rng(2)
    wm = SCHEMES["kgw-prev"](KEY)
    ref, docs = corpus(rng, 30, 60), corpus(rng, 5, 200)
    cal = wm.calibrate(ref, min_docs=2)
    res = wm.detect_calibrated(docs, calibration=cal, return_flags=True, window=20)
    plain = wm.detect(docs, return_flags=True)
    for d in range(len(docs)):
        counted, green = res.counted[d].astype(bool), res.green[d]
        assert counted.sum() == res.n_scored[d] and (green[counted] == 1).sum() == res.n_green[d]
        dropped = plain.counted[d].astype(bool) & ~counted
        assert dropped.any() and (green[dropped] == -1).all()  # filtered: not scored
        assert not (counted & ~plain.counted[d].astype(bool)).any()
        # The best window: the most green among the windows of 20 kept tokens.
        g = (green[counted] == 1).astype(int)
        best = max(g[i : i + 20].sum() for i in range(max(len(g) - 19, 1)))
        assert res.window_green[d] == best


@pytest.mark.parametrize("name", ["gumbel", "synthid"])
def test_distortion_free_windows_follow_the_filter(name):
    """Gumbel's and SynthID's windows over the kept tokens: the best window of 20 kept tokens,
    its terms re-stated from the reference PRF, and detect()'s own window when nothing is
    dropped."""
    rng = np.random.default_rng(12)
    wm = SCHEMES[name](KEY)
    ref, docs = corpus(rng, 30, 60), corpus(rng, 5, 200)
    cal = wm.calibrate(ref, min_docs=2)
    kw = {"salt": 3} if name == "gumbel" else {}
    res = wm.detect_calibrated(docs, calibration=cal, return_flags=True, window=20, **kw)
    plain = wm.detect(docs, return_flags=True, **kw)
    domain = DOMAIN_GUMBEL if name == "gumbel" else DOMAIN_SYNTHID_G
    for d, doc in enumerate(docs):
        kept = np.flatnonzero(res.counted[d])
        assert len(kept) < plain.n_scored[d]  # the filter dropped some
        ctx = np.array([context_hash(doc[i - 2 : i].astype(np.uint32), 0) for i in kept])
        salt = np.uint32(3) if name == "gumbel" else np.uint32(0)
        words = prf_word(wm.key.words, ctx.astype(np.uint32) ^ salt, doc[kept], domain)
        if name == "gumbel":
            terms = score_term(words)
        else:
            terms = np.array([bin(int(x) & (2**7 - 1)).count("1") for x in words])
        sums = [terms[i : i + 20].sum() for i in range(max(len(terms) - 19, 1))]
        i = int(np.argmax(sums))
        stat = res.window_score[d] if name == "gumbel" else res.window_ones[d]
        assert stat == pytest.approx(sums[i], rel=1e-12)
        assert res.window_start[d] == kept[i]
    loose = wm.calibrate(ref, max_shift=1e6)
    same = wm.detect_calibrated(docs, calibration=loose, window=20, **kw)
    want = wm.detect(docs, window=20, **kw)
    np.testing.assert_allclose(same.window_p_value, want.window_p_value, rtol=1e-12)
    np.testing.assert_array_equal(same.window_start, want.window_start)


def test_large_max_shift_drops_nothing_and_tiny_drops_everything():
    rng = np.random.default_rng(3)
    wm = SCHEMES["kgw-prev"](KEY)
    ref = corpus(rng, 40, 50)
    loose, tight = wm.calibrate(ref, max_shift=1e6), wm.calibrate(ref, max_shift=1e-9)
    assert loose.n_pairs == 0 and tight.stats["shift_after"] == 0.0
    plain = wm.detect(ref)
    np.testing.assert_array_equal(
        wm.detect_calibrated(ref, calibration=loose).n_green, plain.n_green
    )
    assert wm.detect_calibrated(ref, calibration=tight).n_scored.sum() == 0


def test_max_shift_drops_the_fewest_most_frequent_pairs():
    """An independent re-statement of the rule: drop the k most frequent pairs, k the least with
    sum(q^2 over the rest) / mean distinct pairs per document <= max_shift^2."""
    rng = np.random.default_rng(4)
    wm = SCHEMES["kgw-unigram"](KEY)
    ref = corpus(rng, 50, 30)
    df: dict = {}
    for doc in ref:
        for t in set(doc.tolist()):
            df[t] = df.get(t, 0) + 1
    mean_n = sum(df.values()) / len(ref)
    q = sorted((n / len(ref) for n in df.values()), reverse=True)
    for shift in (0.3, 0.1, 0.03):
        k = next(k for k in range(len(q) + 1) if sum(x * x for x in q[k:]) / mean_n <= shift**2)
        cal = wm.calibrate(ref, max_shift=shift)
        assert cal.n_pairs == k
        assert cal.stats["shift_after"] <= shift + 1e-6


def test_filter_is_keyed():
    rng = np.random.default_rng(5)
    ref, docs = corpus(rng, 30, 40), corpus(rng, 10, 40)
    a, b = SCHEMES["gumbel"](b"key a"), SCHEMES["gumbel"](b"key b")
    ca, cb = a.calibrate(ref, min_docs=2), b.calibrate(ref, min_docs=2)
    assert ca.n_pairs == cb.n_pairs > 0
    assert not np.intersect1d(ca.pairs, cb.pairs).size  # other fingerprints, same pairs
    # ... and they drop the same tokens: which pairs go depends on the text, not the key.
    na = a.detect_calibrated(docs, calibration=ca).n_scored
    assert na.tolist() == b.detect_calibrated(docs, calibration=cb).n_scored.tolist()
    with pytest.raises(ValueError, match="calibration: made for the key with fingerprint"):
        a.detect_calibrated(docs, calibration=cb)


def test_save_load_round_trip_without_the_key(tmp_path):
    rng = np.random.default_rng(6)
    ref, docs = corpus(rng, 30, 40), corpus(rng, 10, 40)
    for name, make in SCHEMES.items():
        wm = make("my secret material")
        cal = wm.calibrate(ref)
        path = tmp_path / f"{name}.json"
        cal.save(path)
        text = path.read_text()
        assert "my secret material" not in text and wm.key.to_hex() not in text
        assert wm.key.fingerprint in text
        back = tm.Calibration.load(path, make("my secret material"))
        np.testing.assert_array_equal(back.pairs, cal.pairs)
        assert back.stats == cal.stats and back.digest == cal.digest
        r0 = wm.detect_calibrated(docs, calibration=cal)
        r1 = wm.detect_calibrated(docs, calibration=back)
        np.testing.assert_array_equal(r0.p_value, r1.p_value)
        assert "my secret" not in repr(back) and wm.key.to_hex() not in repr(back)


def test_load_refuses_another_key_or_config(tmp_path):
    rng = np.random.default_rng(7)
    wm = tm.KGW(key=KEY, context_width=2)
    path = tmp_path / "cal.json"
    wm.calibrate(corpus(rng, 20, 30)).save(path)
    with pytest.raises(ValueError, match=r"scheme: its key \(fingerprint"):
        tm.Calibration.load(path, tm.KGW(key=b"other key", context_width=2))
    with pytest.raises(ValueError, match="scheme: context_width=3, but the calibration"):
        tm.Calibration.load(path, tm.KGW(key=KEY, context_width=3))
    with pytest.raises(ValueError, match="scheme: seeding='minhash'"):
        tm.Calibration.load(path, tm.KGW(key=KEY, context_width=2, seeding="minhash"))
    with pytest.raises(ValueError, match="scheme: a gumbel config, but the calibration is for"):
        tm.Calibration.load(path, tm.Gumbel(key=KEY, context_width=2))
    # gamma does not change which pairs are frequent: the filter serves any gamma.
    assert tm.Calibration.load(path, tm.KGW(key=KEY, gamma=0.5, context_width=2)).n_pairs >= 0


def test_load_refuses_bad_files(tmp_path):
    wm = tm.KGW(key=KEY, context_width=1)
    good = wm.calibrate([[1, 2, 3], [1, 2, 4]], min_docs=2).to_dict()
    cases = {
        "not json {": "path: calibration file is not valid JSON",
        json.dumps({"format": "other"}): "calibration: not a tokenmark-calibration file",
        json.dumps({**good, "version": 99}): "calibration: version 99",
        json.dumps({**good, "pairs": "!!"}): "calibration: malformed file",
        json.dumps({**good, "pairs": "AAAA"}): "calibration: malformed pairs",
    }
    for i, (text, msg) in enumerate(cases.items()):
        p = tmp_path / f"bad{i}.json"
        p.write_text(text)
        with pytest.raises(ValueError, match=msg):
            tm.Calibration.load(p, wm)
    with pytest.raises(ValueError, match="path: cannot read calibration file"):
        tm.Calibration.load(tmp_path / "missing.json", wm)
    with pytest.raises(TypeError, match="path: expected a str or path"):
        tm.Calibration.load(3, wm)
    with pytest.raises(TypeError, match="scheme: expected a tokenmark KGW, Gumbel or SynthID"):
        tm.Calibration.load(tmp_path / "bad0.json", object())


def test_bad_arguments_are_refused_naming_them():
    wm = tm.KGW(key=KEY, context_width=2)
    ref = [[1, 2, 3, 4], [1, 2, 3, 5]]
    for bad, err, msg in [
        ({"max_shift": 0.0}, ValueError, r"max_shift: must be in \(0, 1e6\]"),
        ({"max_shift": -1.0}, ValueError, r"max_shift: must be in \(0, 1e6\]"),
        ({"max_shift": float("nan")}, ValueError, "max_shift"),
        ({"max_shift": "big"}, TypeError, "max_shift"),
        ({"min_docs": 0}, ValueError, "min_docs"),
        ({"min_docs": 1.5}, TypeError, "min_docs"),
    ]:
        with pytest.raises(err, match=msg):
            wm.calibrate(ref, **bad)
    with pytest.raises(ValueError, match="reference_docs: no documents"):
        wm.calibrate([])
    with pytest.raises(ValueError, match="reference_docs: no document is longer than"):
        wm.calibrate([[1, 2], [3]])
    with pytest.raises((TypeError, ValueError), match="reference_docs"):
        wm.calibrate([[1, 2, -5]])
    cal = wm.calibrate(ref, min_docs=2)
    with pytest.raises(TypeError, match="calibration: expected a tokenmark Calibration"):
        wm.detect_calibrated(ref, calibration="cal.json")
    with pytest.raises(ValueError, match="calibration: made for another scheme config"):
        tm.KGW(key=KEY, context_width=3).detect_calibrated(ref, calibration=cal)
    g = tm.Gumbel(key=KEY, context_width=2)
    with pytest.raises(ValueError, match="window"):
        g.detect_calibrated(ref, calibration=g.calibrate(ref), window=-5)
    with pytest.raises(ValueError, match="window"):
        wm.detect_calibrated(ref, calibration=cal, window=0)


# -- the scan ---------------------------------------------------------------------------------
def _scan(tmp_path, docs, config, *extra):
    inp = tmp_path / "in.jsonl"
    inp.write_text("".join(json.dumps({"id": i, "tokens": d.tolist()}) + "\n" for i, d in docs))
    cfg = tmp_path / "wm.json"
    cfg.write_text(json.dumps({"watermarks": config}))
    keys = tmp_path / "keys.json"
    keys.write_text(json.dumps({"k": "scan key"}))
    out = tmp_path / f"out{len(list(tmp_path.iterdir()))}"
    parser = argparse.ArgumentParser(prog="tokenmark")
    scan_cli.add_parser(parser.add_subparsers(dest="command"))
    argv = ["scan", str(inp), "--config", str(cfg), "--key-file", str(keys), "--out", str(out)]
    args = parser.parse_args([*argv, "--tokens-column", "tokens", "--no-progress", *extra])
    return args.func(args), out


def test_scan_takes_a_calibration_file(tmp_path, capsys):
    rng = np.random.default_rng(8)
    ref, docs = corpus(rng, 40, 50), corpus(rng, 20, 50)
    kgw = tm.KGW(key="scan key", gamma=0.25, context_width=2)
    gum = tm.Gumbel(key="scan key", context_width=1)
    config = [
        {"name": "k", "key_id": "k", "window": 10, **kgw.to_dict()},
        {"name": "g", "key_id": "k", **gum.to_dict()},
    ]
    cal = kgw.calibrate(ref)
    path = tmp_path / "kgw.cal.json"
    cal.save(path)
    rc, out = _scan(tmp_path, list(enumerate(docs)), config, "--calibration", str(path))
    assert rc in (0, 1)
    rows = pq.read_table(next(out.glob("scores-*.parquet"))).to_pylist()
    want = kgw.detect_calibrated(docs, calibration=cal, window=10)
    k_rows = sorted((r for r in rows if r["watermark"] == "k"), key=lambda r: r["row"])
    assert [r["n_scored"] for r in k_rows] == want.n_scored.tolist()
    np.testing.assert_allclose(
        [r["log10_p"] for r in k_rows], np.log10(want.p_value), rtol=1e-9, atol=1e-12
    )
    assert [r["window_n_green"] for r in k_rows] == want.window_green.tolist()
    g_rows = sorted((r for r in rows if r["watermark"] == "g"), key=lambda r: r["row"])
    assert [r["n_scored"] for r in g_rows] == gum.detect(docs).n_scored.tolist()  # no calibration
    settings = (out / "scan.json").read_text()  # a rerun with another calibration is refused
    assert cal.digest in settings and cal.key_fingerprint in settings
    # A calibration for another key matches no watermark: a usage error that says so.
    other = tmp_path / "other.cal.json"
    tm.KGW(key="another", context_width=2).calibrate(ref).save(other)
    rc, _ = _scan(tmp_path, list(enumerate(docs)), config, "--calibration", str(other))
    assert rc == 2 and "matches no watermark" in capsys.readouterr().err
    # A calibrated Gumbel watermark with a window: its window over the kept tokens.
    g_path = tmp_path / "gum.cal.json"
    g_cal = gum.calibrate(ref)
    g_cal.save(g_path)
    config[1]["window"] = 10
    rc, out = _scan(tmp_path, list(enumerate(docs)), config, "--calibration", str(g_path))
    assert rc in (0, 1)
    rows = pq.read_table(next(out.glob("scores-*.parquet"))).to_pylist()
    g_rows = sorted((r for r in rows if r["watermark"] == "g"), key=lambda r: r["row"])
    want = gum.detect_calibrated(docs, calibration=g_cal, window=10)
    assert [r["window_start"] for r in g_rows] == want.window_start.tolist()
    np.testing.assert_allclose([r["window_score"] for r in g_rows], want.window_score)


def test_demo_tokenizer_text_round_trip():
    """A calibration learnt on text tokenized as a scan tokenizes it (the demo tokenizer)."""
    from tokenizers import Tokenizer

    tok = Tokenizer.from_file(str(demo_model.PATH / "tokenizer.json"))
    lines = demo_model.heldout_text().split("\n\n")
    docs = [e.ids for e in tok.encode_batch_fast(lines, add_special_tokens=False) if len(e.ids) > 8]
    wm = tm.KGW(key=KEY, gamma=0.25, context_width=1)
    cal = wm.calibrate(docs[::2])
    res = wm.detect_calibrated(docs[1::2], calibration=cal)
    plain = wm.detect(docs[1::2])
    # Speaker names and function words recur across the play: the filter drops some of them.
    assert 0 < res.n_scored.sum() < plain.n_scored.sum()
    assert cal.stats["shift_after"] <= 0.05 < cal.stats["shift_before"]
