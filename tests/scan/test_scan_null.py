"""Under the null (token ids drawn without any key) the scan's log10 p-values are valid p-values:
uniform for the continuous Gumbel statistic (KS test), and P[p <= alpha] <= alpha for the
discrete KGW and SynthID counts, for each of several keys. Seeded."""

from __future__ import annotations

import numpy as np
import pytest
import tokenmark as tm
from scipy import stats
from tokenmark.scan import load_watermarks, score_batch

N_DOCS = 3000
KEYS = [f"null key {i}" for i in range(4)]


@pytest.fixture(scope="module")
def null_docs():
    rng = np.random.default_rng(7)
    lengths = rng.integers(20, 300, N_DOCS)
    offsets = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
    tokens = rng.integers(0, 32000, int(offsets[-1])).astype(np.int32)
    return tm.Ragged(tokens, offsets)


@pytest.mark.parametrize("key", KEYS)
def test_null_pvalues_are_valid(null_docs, key, monkeypatch):
    monkeypatch.setenv("TOKENMARK_KEY_NULL", key)
    wms = load_watermarks(
        [
            {"key_id": "null", "scheme": "gumbel", "context_width": 2, "window": 50},
            {"key_id": "null", "scheme": "kgw", "gamma": 0.25, "context_width": 1, "window": 50},
            {"key_id": "null", "scheme": "synthid", "layers": 10, "context_width": 2, "window": 50},
        ]
    )
    for wm in wms:
        p = 10.0 ** score_batch(wm, null_docs)["log10_p"]
        if wm.scheme_name == "gumbel":
            assert stats.kstest(p, "uniform").pvalue > 1e-3
        for alpha in (0.01, 0.05, 0.2):
            bound = alpha + 4 * np.sqrt(alpha * (1 - alpha) / N_DOCS)
            assert np.mean(p <= alpha) <= bound, (wm.name, alpha)
        # the Bonferroni window p-value is valid too (conservative), for every scheme
        wp = 10.0 ** score_batch(wm, null_docs)["window_log10_p"]
        assert np.mean(wp <= 0.05) <= 0.05 + 4 * np.sqrt(0.05 * 0.95 / N_DOCS), wm.name
