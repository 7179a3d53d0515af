"""The CUDA Gumbel sampler (csrc/cuda/gumbel_sample.cu) under the host emulation, against the
numpy reference: the sampled token of every row bit for bit, with one block per row and with
rows split over blocks (forced, and the launcher's own choice), including the second launch
that picks each split row's winner with warp shuffles."""

from __future__ import annotations

import ctypes

import numpy as np
import pytest
from tokenmark.reference import gumbel as ref

from cuda_emu.cuda_emu_build import DTYPE_CODES, ptr

KEYS = np.array([[0x01234567, 0x89ABCDEF, 0xDEADBEEF, 0x0BADF00D], [3, 5, 7, 9]], dtype=np.uint32)


@pytest.fixture(scope="module")
def lib(emu_build):
    return emu_build("gumbel_sample_emu.cpp")


def emu_sample(lib, logits, ids, keys, salts, enabled, width, seeding, skip, splits, dtype):
    batch, vocab = logits.shape
    out = np.full(batch, -7, dtype=np.int64)
    rc = lib.emu_sample_gumbel(
        ptr(logits), ctypes.c_int64(batch), ctypes.c_int64(vocab), ctypes.c_int64(vocab),
        ctypes.c_int(DTYPE_CODES[dtype]), ptr(ids), ctypes.c_int(ids.dtype == np.int64),
        ctypes.c_int64(ids.shape[1]), ctypes.c_int64(ids.shape[1]), ptr(keys),
        ctypes.c_int64(4 if keys.ndim == 2 else 0), ptr(salts),
        ctypes.c_int64(1 if salts.shape[0] > 1 else 0), ptr(enabled), ctypes.c_int(width),
        ctypes.c_int(seeding), ctypes.c_int(skip), ctypes.c_int64(splits), ptr(out),
    )  # fmt: skip
    assert rc == 0, lib.emu_message()
    return out


def inputs(seed: int, batch: int, vocab: int, dtype: str):
    rng = np.random.default_rng(seed)
    logits = rng.standard_normal((batch, vocab)) * 2
    logits[0, rng.integers(vocab, size=vocab // 3)] = -np.inf
    if batch > 2:
        logits[2] = -np.inf  # no finite logit
    if dtype == "bfloat16":
        bits = logits.astype(np.float32).view(np.uint32)
        logits = (bits >> 16).astype(np.uint16)  # truncated to bfloat16 bit patterns
    else:
        logits = logits.astype(dtype)
    ids = rng.integers(0, vocab, (batch, 5)).astype(np.int64)
    if batch > 3:
        ids[3] = [4, 4, 4, 4, 4]  # a repeated context
    salts = rng.integers(0, 2**32, batch, dtype=np.uint64).astype(np.uint32)
    enabled = np.ones(batch, dtype=np.uint8)
    if batch > 1:
        enabled[1] = 0
    return logits, ids, salts, enabled


# (batch, vocab, splits, dtype): one block per row, forced splits (a partial last range, one
# range per 2048 ids at most) and the launcher's choice (0) above and below its threshold.
CASES = [
    (4, 1019, 1, "float32"),
    (4, 1019, 3, "float32"),
    (5, 10000, 1, "float16"),
    (5, 10000, 4, "float16"),
    (2, 20000, 9, "bfloat16"),
    (1, 40000, 0, "float32"),
    (4, 6000, 0, "float32"),
    (1, 90000, 40, "float32"),
]


@pytest.mark.parametrize(("batch", "vocab", "splits", "dtype"), CASES)
def test_sample_matches_reference(lib, batch, vocab, splits, dtype):
    logits, ids, salts, enabled = inputs(vocab + batch, batch, vocab, dtype)
    keys = KEYS[:batch] if batch <= len(KEYS) else KEYS[0]
    for width, skip in ((2, True), (3, False)):
        want = ref.sample_gumbel(logits, ids, keys, salts, enabled, width, 0, skip, dtype)
        got = emu_sample(lib, logits, ids, keys, salts, enabled, width, 0, skip, splits, dtype)
        np.testing.assert_array_equal(got, want)
    if batch > 1:
        assert want[1] == ref.NOT_WATERMARKED
    if batch > 2:
        assert want[2] == ref.NO_FINITE_LOGIT


def test_launcher_picks_the_layout(lib):
    """splits=0: one launch (a block per row) below kGumbelSplitMinVocab, two (split blocks, then
    the pick) from it on; splits=1 always one."""
    threshold = lib.emu_split_min_vocab()
    lib.emu_launches.restype = ctypes.c_int64
    for vocab, splits, launches in ((threshold - 4, 0, 1), (threshold, 0, 2), (threshold, 1, 1)):
        logits, ids, salts, enabled = inputs(1, 1, vocab, "float32")
        before = lib.emu_launches()
        got = emu_sample(lib, logits, ids, KEYS[0], salts, None, 1, 0, False, splits, "float32")
        assert lib.emu_launches() - before == launches
        want = ref.sample_gumbel(logits, ids, KEYS[0], salts, None, 1, 0, False, "float32")
        np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("planted", [5, 20, 37, 39])
def test_split_winner_from_any_block(lib, planted):
    """A logit far above the rest wins whatever the noise: planted in range `planted` of 40, the
    pick must find it (every lane and every shuffle step of the pick counts)."""
    vocab, splits = 90000, 40
    per_block = -(-vocab // splits)  # ceil, then up to a multiple of 4 (the launcher's ranges)
    chunk = -(-per_block // 4) * 4
    logits, ids, salts, _ = inputs(planted, 1, vocab, "float32")
    token = planted * chunk + 17
    logits[0, token] = 100.0
    got = emu_sample(lib, logits, ids, KEYS[0], salts, None, 2, 0, False, splits, "float32")
    assert got[0] == token
