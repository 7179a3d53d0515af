"""The engine-independent core of the vLLM / SGLang processors (no engine needed): each opted-in
row gets exactly what our transformers processor gives that request alone (same logits, same
whole history), other rows are untouched, masked tokens stay masked, and what it generates is
detected with the scheme's detect()."""

from __future__ import annotations

import numpy as np
import pytest
import tokenmark as tm
import torch
from keyring_helpers import write_keyring
from tokenmark.integrations import _engine_rows as er
from tokenmark.integrations import transformers as tm_hf
from tokenmark.integrations._engine_rows import apply_watermarks_, history_length
from tokenmark.integrations.keyring import KeyRing

VOCAB = 1019
CONFIG = [
    {"name": "kgw4", "key_id": "a", "scheme": "kgw", "context_width": 4, "delta": 3.0},
    {"name": "kgw1", "key_id": "b", "scheme": "kgw", "context_width": 1, "seeding": "minhash"},
    {"name": "gum", "key_id": "a", "scheme": "gumbel", "context_width": 2, "salt": 7},
    {"name": "gum-all", "key_id": "b", "scheme": "gumbel", "context_width": 1,
     "skip_repeated": False},
    {"name": "sid", "key_id": "a", "scheme": "synthid", "context_width": 3, "context_history": 6},
    {"name": "sid-full", "key_id": "b", "scheme": "synthid", "context_width": 2, "layers": 5},
]  # fmt: skip


@pytest.fixture(scope="module")
def ring(tmp_path_factory):
    keys = tmp_path_factory.mktemp("ring") / "keys.json"
    keys.write_text('{"a": "secret a", "b": "secret b"}')
    return KeyRing.from_config(CONFIG, keys)


def _histories(rng, n):
    """Ragged histories, five kinds: shorter than most widths, random, a context repeated
    recently, a context repeated only far back (beyond SynthID's context_history here), long."""
    out = []
    for i in range(n):
        kind = (i // 6) % 5  # with the 6 watermarks, every (watermark, kind) pair once
        if kind == 0:
            out.append(rng.integers(0, VOCAB, 1 + i % 2))
        elif kind == 1:
            out.append(rng.integers(0, VOCAB, 9))
        elif kind == 2:
            out.append(np.array([5, 6, 7] * 5))
        elif kind == 3:
            head = rng.integers(100, VOCAB, 3)
            out.append(np.concatenate([head, np.arange(20) + 10, head]))
        else:
            out.append(rng.integers(0, VOCAB, 64))
    return out


def _gather(hists):
    def gather(sel, h):
        return torch.from_numpy(np.stack([hists[j][len(hists[j]) - h :] for j in sel]))

    return gather


def _expected_row(wm, logits_row, hist, u):
    """Our transformers processor on this request alone (batch 1, its whole history)."""
    s = wm.scheme
    ids = torch.from_numpy(np.asarray(hist, dtype=np.int64))[None]
    row = logits_row.clone()[None]
    if wm.scheme_name == "kgw":
        return s.logits_processor()(ids, row)[0]
    if wm.scheme_name == "gumbel":
        proc = tm_hf.GumbelLogitsProcessor(s, salt=dict(wm.options).get("salt") or 0)
        return proc(ids, row)[0]
    rand = torch.rand
    torch.rand = lambda *a, **k: torch.tensor([u], dtype=torch.float64)
    try:
        return tm_hf.SynthIDLogitsProcessor(s)(ids, row)[0]
    finally:
        torch.rand = rand


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_rows_match_the_transformers_processor(ring, seed):
    rng = np.random.default_rng(seed)
    n_rows = 37
    logits = torch.from_numpy(rng.normal(0, 3, (n_rows, VOCAB)).astype(np.float32))
    logits[3, : VOCAB // 2] = -float("inf")  # a grammar mask
    logits[5, :] = -float("inf")
    logits[5, [17, 400, 1000]] = torch.tensor([0.5, 1.0, -2.0])
    names = ring.names()
    rows = np.array([r for r in range(n_rows) if r % 5 != 4], dtype=np.int64)  # others: off
    marks = [ring.get(names[i % len(names)]) for i in range(len(rows))]
    hists = _histories(rng, len(rows))
    lengths = np.array([len(h) for h in hists])
    u = rng.random(len(rows))
    before = logits.clone()
    apply_watermarks_(
        logits, rows, marks, lengths, _gather(hists), rand=lambda sel, dev: torch.from_numpy(u[sel])
    )
    off = np.setdiff1d(np.arange(n_rows), rows)
    assert torch.equal(logits[off], before[off])
    n_one_hot = 0
    for i, r in enumerate(rows.tolist()):
        want = _expected_row(marks[i], before[r], hists[i], u[i])
        torch.testing.assert_close(logits[r], want, rtol=0, atol=0, msg=f"row {r}")
        if marks[i].scheme_name != "kgw" and int(torch.isfinite(want).sum()) == 1:
            n_one_hot += 1
            token = int(torch.argmax(logits[r]))
            assert torch.isfinite(before[r, token]), "a masked token was chosen"
    assert n_one_hot >= 8  # the test saw watermarked sampling rows, not only skipped ones


def test_row_without_a_finite_logit_is_left_alone(ring):
    logits = torch.full((2, VOCAB), -float("inf"))
    logits[1, 3] = 0.0
    hist = [np.arange(10), np.arange(10)]
    for name in ("gum", "sid"):
        out = apply_watermarks_(
            logits.clone(), np.array([0, 1]), [ring.get(name)] * 2, np.array([10, 10]),
            _gather(hist),
        )  # fmt: skip
        assert torch.isinf(out[0]).all()
        assert out[1, 3] == 0 and int(torch.isfinite(out[1]).sum()) == 1


def test_warp_is_applied_before_choosing(ring):
    """The sampling schemes choose from the warped row (the engine's settings) but return the
    one-hot row; a warp that keeps only token 11 forces token 11."""
    logits = torch.zeros(1, VOCAB)
    hist = [np.arange(20)]

    def warp(sub, sel):
        keep = torch.full_like(sub, -float("inf"))
        keep[:, 11] = sub[:, 11]
        return keep

    for name in ("gum", "sid"):
        out = apply_watermarks_(
            logits.clone(), np.array([0]), [ring.get(name)], np.array([20]), _gather(hist), warp
        )
        assert int(torch.argmax(out[0])) == 11 and int(torch.isfinite(out[0]).sum()) == 1


def test_history_length():
    assert history_length(tm.KGW(key=b"k", context_width=4), 3) is None
    assert history_length(tm.KGW(key=b"k", context_width=4), 100) == 4
    assert history_length(tm.Gumbel(key=b"k", context_width=2), 100) == 100
    assert history_length(tm.Gumbel(key=b"k", context_width=2, skip_repeated=False), 100) == 2
    assert history_length(tm.Gumbel(key=b"k", context_width=2), 1) is None
    assert history_length(tm.SynthID(key=b"k", context_width=3, context_history=6), 100) == 9
    assert history_length(tm.SynthID(key=b"k", context_width=3, context_history=6), 2) == 2
    with pytest.raises(TypeError, match="scheme"):
        history_length(object(), 3)


def test_bad_plan_is_refused(ring):
    with pytest.raises(ValueError, match="same length"):
        apply_watermarks_(
            torch.zeros(2, 8), np.array([0, 1]), [ring.get("gum")], np.array([3, 3]), None
        )


@pytest.mark.parametrize("name", ["kgw4", "gum", "sid"])
def test_generated_text_is_detected(ring, name):
    """Decode 3 requests for 60 steps through the core with a random 'model' and sample the
    processed rows as an engine would; the key ring's detect() finds the watermark with the
    right key only."""
    rng = np.random.default_rng(5)
    gen = torch.Generator().manual_seed(5)
    wm = ring.get(name)
    hists = [list(rng.integers(0, VOCAB, 4)) for _ in range(3)]
    prompt = len(hists[0])
    for _ in range(60):
        logits = torch.from_numpy(rng.normal(0, 2, (3, VOCAB)).astype(np.float32))
        arrays = [np.asarray(h) for h in hists]
        apply_watermarks_(
            logits, np.arange(3), [wm] * 3, np.array([len(h) for h in hists]), _gather(arrays)
        )
        tokens = torch.multinomial(torch.softmax(logits, dim=1), 1, generator=gen)[:, 0]
        for h, t in zip(hists, tokens.tolist()):
            h.append(t)
    res = ring.detect(name, hists, prefix_lengths=[prompt] * 3)
    assert (res.p_value < 1e-3).all(), res.p_value
    other = ring.get("kgw1" if name == "kgw4" else "gum-all" if name == "gum" else "sid-full")
    assert wm.scheme.key.words.tolist() != other.scheme.key.words.tolist()
    assert (ring.detect(other.name, hists, prefix_lengths=[prompt] * 3).p_value > 1e-3).all()


def test_the_scan_finds_a_mixed_batch_with_the_same_files(tmp_path):
    """One batch mixing the three schemes and an unwatermarked request, 60 steps; `tokenmark
    scan` with the server's own key ring files flags exactly the watermarked documents, each
    with its watermark (the prompt is part of each document: 4 ids of context)."""
    import argparse
    import json

    from tokenmark import cli

    config, keys = write_keyring(tmp_path, CONFIG, {"a": "secret a", "b": "secret b"})
    ring = KeyRing.from_config(config, keys)
    names = ["kgw4", "gum", "sid", None] * 2
    rng, gen = np.random.default_rng(11), torch.Generator().manual_seed(11)
    hists = [list(rng.integers(0, VOCAB, 4)) for _ in names]
    rows = np.array([i for i, n in enumerate(names) if n is not None])
    marks = [ring.get(names[i]) for i in rows]
    for _ in range(60):
        logits = torch.from_numpy(rng.normal(0, 2, (len(names), VOCAB)).astype(np.float32))
        arrays = [np.asarray(hists[i]) for i in rows]
        lengths = np.array([len(a) for a in arrays])
        apply_watermarks_(logits, rows, marks, lengths, _gather(arrays))
        tokens = torch.multinomial(torch.softmax(logits, dim=1), 1, generator=gen)[:, 0]
        for h, t in zip(hists, tokens.tolist()):
            h.append(t)
    docs = tmp_path / "outputs.jsonl"
    docs.write_text("".join(json.dumps({"id": f"d{i}", "tokens": [int(t) for t in h]}) + "\n"
                            for i, h in enumerate(hists)))  # fmt: skip
    parser = argparse.ArgumentParser(prog="tokenmark")
    cli.add_scan_parser(parser.add_subparsers(dest="command"))
    out = tmp_path / "out"
    args = parser.parse_args(
        ["scan", str(docs), "--config", str(config), "--key-file", str(keys), "--out", str(out),
         "--tokens-column", "tokens", "--output-format", "jsonl", "--no-progress"]
    )  # fmt: skip
    args.func(args)
    hits = [json.loads(x) for x in (out / "hits.jsonl").read_text().splitlines()]
    assert {(h["id"], h["watermark"]) for h in hits} == {
        (f"d{i}", n) for i, n in enumerate(names) if n is not None
    }


def test_the_device_path_matches_the_host_path(ring, monkeypatch):
    """backend="triton" (under the interpreter here) returns tokens as tensors, as the CUDA
    kernels do: the one-hot rows are then written by the device path (no host sync) and must
    equal the host path's, rows without a finite logit included."""
    pytest.importorskip("triton", reason="triton not installed")
    rng = np.random.default_rng(4)
    vocab, n_rows = 257, 7
    logits = torch.from_numpy(rng.normal(0, 3, (n_rows, vocab)).astype(np.float32))
    logits[2, :200] = -float("inf")
    logits[5] = -float("inf")
    names = ring.names()
    rows = np.array([0, 2, 3, 5, 6])
    marks = [ring.get(names[i % len(names)]) for i in range(len(rows))]
    hists = [np.array([5, 6, 7] * 4), rng.integers(0, vocab, 9), rng.integers(0, vocab, 30),
             rng.integers(0, vocab, 2), rng.integers(0, vocab, 12)]  # fmt: skip
    lengths = np.array([len(h) for h in hists])
    u = rng.random(len(rows))
    calls = []
    real = er._as_device_tokens
    monkeypatch.setattr(er, "_as_device_tokens", lambda t, d: calls.append(backend) or real(t, d))
    outs = []
    for backend in ("cpu", "triton"):
        outs.append(
            apply_watermarks_(logits.clone(), rows, marks, lengths, _gather(hists),
                              rand=lambda sel, dev: torch.from_numpy(u[sel]), backend=backend)
        )  # fmt: skip
    assert torch.equal(outs[0], outs[1])
    assert not torch.equal(outs[0], logits) and torch.isinf(outs[1][5]).all()
    assert calls == ["triton"] * 3  # the sampling groups (gum, gum-all, sid) took that path
