"""The Unigram dialect on CUDA tensors: ``detect`` counts them on their device with torch ops and
only the counts (and flags on request) come back. The same torch code runs on CPU tensors, so
here it is checked against the numpy path with ``device_ragged`` standing in (CPU tensors taken
as device input, and any copy of the tokens to the host failing the test); on a GPU, with real
CUDA tensors."""

from __future__ import annotations

import importlib

import numpy as np
import pytest
import tokenmark as tm
import torch
from tokenmark._inputs import Ragged

ug_dialect = importlib.import_module("tokenmark.dialects.unigram")  # the module
HAS_GPU = torch.cuda.is_available()


def docs(seed: int, n_docs: int, vocab: int) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [
        rng.integers(0, vocab, int(rng.integers(0, 70))).astype(np.int32) for _ in range(n_docs)
    ]


def assert_same(got, want, flags: bool):
    for f in ("n_scored", "n_green", "z", "p_value"):
        np.testing.assert_array_equal(getattr(got, f), getattr(want, f))
    if flags:
        for name in ("green", "counted"):
            for a, b in zip(getattr(got, name), getattr(want, name), strict=True):
                np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("dedup", [False, True])
@pytest.mark.parametrize("flags", [False, True])
def test_torch_counts_equal_numpy(monkeypatch, dedup, flags):
    wm = tm.dialects.unigram(watermark_key=7, vocab_size=40, fraction=0.3)
    seqs = docs(1, 23, 50)  # ids past vocab_size count as not green
    seqs[3] = np.zeros(0, np.int32)
    prefix = np.arange(len(seqs)) % 9
    want = wm.detect(seqs, prefix_lengths=prefix, dedup=dedup, return_flags=flags)
    rag = Ragged.from_sequences(seqs)
    on_dev = Ragged(torch.from_numpy(rag.tokens), torch.from_numpy(rag.offsets))

    def no_host(*_a, **_k):
        raise AssertionError("detect() copied device tokens to the host")

    monkeypatch.setattr(ug_dialect, "device_ragged", lambda s: on_dev)
    monkeypatch.setattr(ug_dialect, "host_ragged", no_host)
    got = wm.detect(on_dev, prefix_lengths=prefix, dedup=dedup, return_flags=flags)
    assert_same(got, want, flags)
    empty = Ragged(torch.zeros(0, dtype=torch.int32), torch.zeros(1, dtype=torch.int64))
    monkeypatch.setattr(ug_dialect, "device_ragged", lambda s: empty)
    assert len(wm.detect(empty, dedup=dedup).n_scored) == 0


@pytest.mark.parametrize(
    ("tokens", "offsets", "match"),
    [
        ([3, -1, 4], [0, 3], "tokens: token ids must be >= 0"),  # mask[-1]: the last id's flag
        ([3, 1, 4], [0, 2], "offsets: last entry must equal the number of tokens"),
        ([3, 1, 4], [1, 3], "offsets: must start at 0"),
        ([3, 1, 4], [0, 2, 1, 3], "offsets: must be non-decreasing"),
    ],
)
def test_device_input_checked_before_counting(monkeypatch, tokens, offsets, match):
    """The torch path indexes the green mask with the ids: a negative id would read the flag of
    the last id, silently, were the values not checked first (as the device scorers check them)."""
    wm = tm.dialects.unigram(watermark_key=7, vocab_size=40)
    bad = Ragged(torch.tensor(tokens, dtype=torch.int32), torch.tensor(offsets))
    monkeypatch.setattr(ug_dialect, "device_ragged", lambda s: bad)
    with pytest.raises(ValueError, match=match):
        wm.detect(bad)


@pytest.mark.gpu
@pytest.mark.skipif(not HAS_GPU, reason="no CUDA device")
@pytest.mark.parametrize("dedup", [False, True])
def test_cuda_tensors_counted_on_device(dedup):
    wm = tm.dialects.unigram(watermark_key=3, vocab_size=32000)
    seqs = docs(2, 37, 33000)
    rag = Ragged.from_sequences(seqs)
    t = Ragged(torch.from_numpy(rag.tokens).cuda(), torch.from_numpy(rag.offsets).cuda())
    want = wm.detect(seqs, prefix_lengths=5, dedup=dedup, return_flags=True)
    assert_same(wm.detect(t, prefix_lengths=5, dedup=dedup, return_flags=True), want, True)
    square = np.stack([np.resize(s, 30) if len(s) else np.zeros(30, np.int32) for s in seqs])
    got = wm.detect(torch.from_numpy(square).cuda(), dedup=dedup)
    assert_same(got, wm.detect(square, dedup=dedup), False)
