"""The scan scores watermarks that differ only in their key in one K-key pass
(``scoring.score_batches``): the same columns as one watermark at a time, bit for bit, with one
``detect_many`` call per group, and windowed KGW watermarks on their own."""

from __future__ import annotations

import numpy as np
import pytest
import tokenmark as tm
from tokenmark.scan import load_watermarks, score_batch
from tokenmark.scan.scoring import score_batches

KEYS = {f"k{i}": f"secret number {i}" for i in range(6)}
CONFIG = [
    {"name": "kgw-a", "key_id": "k0", "scheme": "kgw", "gamma": 0.25, "context_width": 2},
    {"name": "kgw-b", "key_id": "k1", "scheme": "kgw", "gamma": 0.25, "context_width": 2},
    {"name": "kgw-other-gamma", "key_id": "k2", "scheme": "kgw", "gamma": 0.5,
     "context_width": 2},
    {"name": "kgw-window", "key_id": "k3", "scheme": "kgw", "gamma": 0.25, "context_width": 2,
     "window": 20},
    {"name": "gumbel-a", "key_id": "k0", "scheme": "gumbel", "context_width": 2, "salt": 3},
    {"name": "kgw-c", "key_id": "k4", "scheme": "kgw", "gamma": 0.25, "context_width": 2},
    {"name": "gumbel-b", "key_id": "k5", "scheme": "gumbel", "context_width": 2, "salt": 3},
    {"name": "gumbel-unsalted", "key_id": "k1", "scheme": "gumbel", "context_width": 2},
    {"name": "synthid-a", "key_id": "k2", "scheme": "synthid", "layers": 16, "context_width": 2,
     "eos_token_id": 7},
    {"name": "synthid-b", "key_id": "k3", "scheme": "synthid", "layers": 16, "context_width": 2,
     "eos_token_id": 7},
]  # fmt: skip


@pytest.fixture()
def watermarks(monkeypatch):
    for k, v in KEYS.items():
        monkeypatch.setenv(f"TOKENMARK_KEY_{k.upper()}", v)
    return load_watermarks({"watermarks": CONFIG})


def _rag():
    rng = np.random.default_rng(16)
    lens = rng.integers(0, 150, 40)
    tokens = rng.integers(0, 40, lens.sum()).astype(np.int32)  # small vocabulary: repeats
    tokens[tokens == 7] = 8  # no end of text (SynthID's eos_token_id 7) ...
    tokens[500] = 7  # ... but one
    return tm.Ragged(tokens, np.concatenate([[0], np.cumsum(lens)]).astype(np.int64))


def test_grouped_columns_equal_one_by_one(watermarks, monkeypatch):
    rag = _rag()
    calls = []
    for cls in (tm.KGW, tm.Gumbel, tm.SynthID):
        real = cls.detect_many

        def spy(self, *a, _real=real, **kw):
            calls.append((self.scheme_name, len(kw["keys"])))
            return _real(self, *a, **kw)

        monkeypatch.setattr(cls, "detect_many", spy)
    grouped = score_batches(watermarks, rag)
    # kgw a/b/c share a pass; other gamma, unsalted gumbel and the windowed kgw go alone
    # through detect()
    assert sorted(calls) == sorted([("kgw", 3), ("gumbel", 2), ("synthid", 2)])
    assert len(grouped) == len(watermarks)
    for wm, got in zip(watermarks, grouped, strict=True):
        want = score_batch(wm, rag)
        assert set(got) == set(want), wm.name
        for col in want:
            np.testing.assert_array_equal(got[col], want[col], err_msg=f"{wm.name}: {col}")
