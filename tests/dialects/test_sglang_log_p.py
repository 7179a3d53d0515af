"""SGLang's ``log_p_value`` stays finite where the p-value underflows (long watermarked texts),
as SGLang's own detector reports it; the command line's JSON stays strict JSON. Expected values
from mpmath's 50-digit regularised incomplete gamma."""

from __future__ import annotations

import json

import numpy as np
import pytest
import tokenmark as tm
from tokenmark.cli import main
from tokenmark.dialects.sglang import gamma_tail
from tokenmark.reference.sglang import context_hash, token_hash

mp = pytest.importorskip("mpmath")


def _log_q(n: int, score: float) -> float:
    with mp.workdps(50):
        return float(mp.log(mp.gammainc(n, score, mp.inf, regularized=True)))


def _strongly_watermarked(key: int, n_tokens: int) -> list[int]:
    """Each token the argmax of SGLang's uniforms over 256 ids (their selector on a flat
    distribution), after a 4-token prompt."""
    doc, ids = [11, 22, 33, 44], np.arange(256, dtype=np.int64)
    for _ in range(n_tokens):
        h = context_hash(np.array([doc[-4:]]))
        doc.append(int(np.argmax(token_hash(key, h[:, None], ids[None, :])[0])))
    return doc


def test_gamma_tail_log_against_mpmath():
    cases = [(1, 0.5), (5, 3.0), (40, 90.0), (300, 600.0), (1000, 2000.0), (4096, 8192.0),
             (1, 800.0), (2, 1500.0), (4096, 5200.0), (4096, 6400.0), (4096, 6500.0)]  # fmt: skip
    n = np.array([c[0] for c in cases])
    score = np.array([c[1] for c in cases])
    p, log_p = gamma_tail(score, n)
    want = np.array([_log_q(int(k), float(s)) for k, s in cases])
    assert np.isfinite(log_p).all()
    np.testing.assert_allclose(log_p, want, rtol=1e-10)
    np.testing.assert_allclose(p, np.exp(want), rtol=1e-9)
    p0, log_p0 = gamma_tail(np.array([0.0, 3.0]), np.array([0, 0]))  # nothing scored
    assert p0.tolist() == [1.0, 1.0] and log_p0.tolist() == [0.0, 0.0]


def test_detect_log_p_on_long_watermarked_text(tmp_path, capsys):
    wm = tm.dialects.sglang("0123456789abcdef", 4)
    docs = [_strongly_watermarked(wm.key, 1100), _strongly_watermarked(wm.key, 300)]
    res = wm.detect(docs, prefix_lengths=[4, 4])
    assert res.n_scored.tolist() == [1100, 300]
    want = [_log_q(int(k), float(s)) for k, s in zip(res.n_scored, res.score)]
    assert max(want) < -900  # deep past double's range: the p-value is 0
    np.testing.assert_allclose(res.log_p_value, want, rtol=1e-10)
    assert (res.p_value == 0).all() and res.is_watermarked(1e-300).all()
    # The command line's records are strict JSON (no -Infinity / NaN).
    (tmp_path / "in.jsonl").write_text("".join(json.dumps({"tokens": d}) + "\n" for d in docs))
    (tmp_path / "cfg.json").write_text('{"context_window": 4}')
    (tmp_path / "key").write_text("0123456789abcdef\n")
    code = main(["detect", str(tmp_path / "in.jsonl"), "--key-file", str(tmp_path / "key"),
                 "--config", str(tmp_path / "cfg.json")])  # fmt: skip
    assert code == 0

    def refuse(constant):
        raise ValueError(f"not strict JSON: {constant}")

    recs = [json.loads(x, parse_constant=refuse) for x in capsys.readouterr().out.splitlines()]
    plain = wm.detect(docs)  # no prompt on the command line
    np.testing.assert_allclose([r["log_p_value"] for r in recs], plain.log_p_value, rtol=1e-12)
    assert all(r["watermarked"] for r in recs)
