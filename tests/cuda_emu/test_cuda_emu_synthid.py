"""The CUDA SynthID-Text sampler (csrc/cuda/synthid_sample.cu) run under the host emulation
(tests/cuda_emu/include/tm_emu.h), against the numpy reference: sampled tokens and marks bit for
bit, and the one-warp phase-factor tail bit for bit with ``reference.synthid.phase_factors``.
Blocks run in a seeded random order, so the atomics' order independence is exercised too."""

from __future__ import annotations

import ctypes

import numpy as np
import pytest
from tokenmark.reference import synthid as ref

from cuda_emu.cuda_emu_build import DTYPE_CODES, ptr

KEYS = np.array(
    [[0x01234567, 0x89ABCDEF, 0xDEADBEEF, 0x0BADF00D], [7, 11, 13, 17], [0xFFFFFFFF, 0, 1, 2]],
    dtype=np.uint32,
)


@pytest.fixture(scope="module")
def lib(emu_build):
    return emu_build("synthid_sample_emu.cpp")


def emu_phase_factors(lib, hist: np.ndarray) -> np.ndarray:
    bits = int(len(hist)).bit_length() - 1
    out = np.full(len(hist), np.nan)
    rc = lib.emu_phase_factors(ptr(hist), ctypes.c_int(bits), ptr(out))
    assert rc == 0, lib.emu_message()
    return out


@pytest.mark.parametrize("bits", range(1, 11))
def test_phase_factors_warp_is_the_spec(lib, bits):
    rng = np.random.default_rng(bits)
    n = 1 << bits
    wide = [rng.integers(0, 1 << 62, n, dtype=np.uint64) >> rng.integers(0, 40, n).astype(np.uint64)
            for _ in range(4)]  # fmt: skip
    cases = [*wide, np.where(rng.random(n) < 0.7, 0, rng.integers(1, 1 << 50, n)).astype(np.uint64)]
    one = np.zeros(n, dtype=np.uint64)
    one[rng.integers(n)] = 1 << 61  # one candidate carries the whole row
    cases.append(one)
    for hist in cases:
        got = emu_phase_factors(lib, hist)
        want = ref.phase_factors(hist)
        np.testing.assert_array_equal(got.view(np.uint64), want.view(np.uint64))


@pytest.mark.parametrize("case", ["wide", "one bin", "low words"])
def test_block_histogram_sums_64_bits_exactly(lib, case):
    """A pass's block histogram keeps each bin's 64-bit sum as two 32-bit words (shared memory
    has no 64-bit atomic add): the low word's wraps must carry into the high word, in whatever
    order the threads add. Candidates' values cross 2^32 in every way: wide values, one bin taking
    them all, and values below 2^32 whose low words wrap only in sum."""
    rng = np.random.default_rng(len(case))
    n = 5000
    top = {"wide": 1 << 50, "one bin": 1 << 50, "low words": 1 << 32}[case]
    values = rng.integers(0, top, n, dtype=np.uint64)
    values[:64] = top - 1  # the largest low words
    bins = rng.integers(0, 1024 if case != "one bin" else 1, n).astype(np.uint32)
    sums = np.zeros(1024, dtype=np.uint64)
    total = np.zeros(1, dtype=np.uint64)
    rc = lib.emu_block_hist(ptr(bins), ptr(values), ctypes.c_int64(n), ptr(sums), ptr(total))
    assert rc == 0, lib.emu_message()
    want = np.zeros(1024, dtype=np.uint64)
    np.add.at(want, bins, values)  # exact: every sum is below 2^64
    np.testing.assert_array_equal(sums, want)
    assert int(total[0]) == int(values.sum(dtype=np.uint64))


def emu_sample(lib, logits, ids, keys, uniforms, enabled, width, seeding, layers, history,
               dtype="float32", cand=None, top_k=0, chunk=0, rc_want=0,
               stage_times=None):  # fmt: skip
    batch, n = logits.shape
    out = np.full(batch, -7, dtype=np.int64)
    marked = np.full(batch, 9, dtype=np.uint8)
    rc = lib.emu_sample_synthid(
        ptr(logits), ctypes.c_int64(batch), ctypes.c_int64(n), ctypes.c_int64(n),
        ctypes.c_int(DTYPE_CODES[dtype]), ptr(cand), ptr(ids), ctypes.c_int(ids.dtype == np.int64),
        ctypes.c_int64(ids.shape[1]), ctypes.c_int64(ids.shape[1]), ptr(keys),
        ctypes.c_int64(4 if keys.ndim == 2 else 0), ptr(uniforms), ptr(enabled),
        ctypes.c_int(width), ctypes.c_int(seeding), ctypes.c_int(layers), ctypes.c_int64(history),
        ctypes.c_int64(top_k), ptr(out), ptr(marked), ctypes.c_int(chunk), ptr(stage_times),
    )  # fmt: skip
    assert rc == rc_want, lib.emu_message()
    return out, marked


# Vocabularies across the 2048-candidate chunks (one, several, a partial last one); layers with a
# short last phase (1, 2, 7) and full ones (10, 30); the spec's 32.
CASES = [
    (3, 17, 30, 1),
    (2, 1019, 7, 2),
    (3, 2048, 10, 3),
    (2, 5003, 32, 4),
    (1, 4097, 1, 5),
    (2, 300, 12, 6),
]


@pytest.mark.parametrize(("batch", "vocab", "layers", "seed"), CASES)
def test_sample_matches_reference(lib, batch, vocab, layers, seed):
    rng = np.random.default_rng(seed)
    logits = (rng.standard_normal((batch, vocab)) * 3).astype(np.float32)
    logits[0, rng.integers(vocab, size=max(1, vocab // 5))] = -np.inf
    width = int(rng.integers(1, 4))
    ids = rng.integers(0, vocab, (batch, width + 3)).astype(np.int64)
    keys = KEYS[:batch] if batch <= len(KEYS) else KEYS[0]
    uniforms = rng.random(batch)
    enabled = np.ones(batch, dtype=np.uint8)
    if batch > 1:
        enabled[1] = 0  # a disabled row samples the plain softmax
    want = ref.sample_synthid(logits, ids, keys, uniforms, enabled, width, 0, layers, 0, 0)
    got = emu_sample(lib, logits, ids, keys, uniforms, enabled, width, 0, layers, 0)
    np.testing.assert_array_equal(got[0], want[0])
    np.testing.assert_array_equal(got[1], want[1])
    assert want[1][0] == 1  # row 0 runs the tournament


def test_every_chunk_size_draws_the_same_tokens(lib):
    """Candidates per block (SynthIdSampleArgs::chunk) from 1024 to 16384: fewer, larger blocks
    draw the spec's tokens, the draw landing in early, middle and last chunks (a peaked row, a
    row of equal logits and uniforms near 0 and 1); a chunk that is not a multiple of 1024, or
    over 16384, is refused."""
    rng = np.random.default_rng(21)
    batch, vocab, layers = 3, 20011, 30
    logits = (rng.standard_normal((batch, vocab)) * 2).astype(np.float32)
    logits[1] = 0.0
    logits[2, 19000] = 12.0  # most of row 2's weight in its last chunks
    ids = rng.integers(0, vocab, (batch, 4)).astype(np.int64)
    uniforms = np.array([0.003, 0.5, 0.9991])
    want = ref.sample_synthid(logits, ids, KEYS, uniforms, None, 2, 0, layers, 0, 0)
    for chunk in (0, 1024, 3072, 4096, 16384):
        got = emu_sample(lib, logits, ids, KEYS, uniforms, None, 2, 0, layers, 0, chunk=chunk)
        np.testing.assert_array_equal(got[0], want[0], err_msg=f"chunk {chunk}")
        np.testing.assert_array_equal(got[1], want[1])
    for bad in (1536, 512, 17408, -1024):
        emu_sample(lib, logits, ids, KEYS, uniforms, None, 2, 0, layers, 0, chunk=bad, rc_want=1)


def test_sample_edge_rows(lib):
    """A row without a finite logit, a repeated context (history), minhash seeding, int32 ids,
    float16 logits, and candidates given by id (top-k gathered by the caller)."""
    rng = np.random.default_rng(99)
    batch, vocab = 3, 2600
    logits = (rng.standard_normal((batch, vocab)) * 2).astype(np.float16)
    logits[2] = -np.inf
    ids = np.array([[5, 6, 5, 6], [1, 2, 3, 4], [9, 9, 9, 9]], dtype=np.int32)
    uniforms = np.array([0.0, 0.999999, 0.5])
    for seeding in (0, 1):
        want = ref.sample_synthid(
            logits, ids, KEYS[0], uniforms, None, 2, seeding, 30, 0, 3,
            dtype="float16",
        )  # fmt: skip
        got = emu_sample(lib, logits, ids, KEYS[0], uniforms, None, 2, seeding, 30, 3, "float16")
        np.testing.assert_array_equal(got[0], want[0])
        np.testing.assert_array_equal(got[1], want[1])
    assert got[0][2] == ref.NO_FINITE_LOGIT


def test_sample_top_k_candidates(lib):
    rng = np.random.default_rng(5)
    batch, vocab, k = 2, 3000, 40
    logits = rng.standard_normal((batch, vocab)).astype(np.float32)
    ids = rng.integers(0, vocab, (batch, 5)).astype(np.int64)
    uniforms = rng.random(batch)
    cand = np.stack([ref.candidates(row, k) for row in logits]).astype(np.int32)
    gathered = np.ascontiguousarray(np.take_along_axis(logits, cand.astype(np.int64), 1))
    want = ref.sample_synthid(logits, ids, KEYS[:batch], uniforms, None, 1, 0, 30, k, 0)
    got = emu_sample(lib, gathered, ids, KEYS[:batch], uniforms, None, 1, 0, 30, 0, cand=cand)
    np.testing.assert_array_equal(got[0], want[0])
    np.testing.assert_array_equal(got[1], want[1])


def test_block_order_does_not_matter(lib):
    rng = np.random.default_rng(8)
    logits = rng.standard_normal((2, 6000)).astype(np.float32)
    ids = rng.integers(0, 6000, (2, 4)).astype(np.int64)
    uniforms = rng.random(2)
    runs = []
    for seed in (1, 2, 3):
        lib.emu_seed(ctypes.c_uint64(seed))
        runs.append(emu_sample(lib, logits, ids, KEYS[:2], uniforms, None, 2, 0, 30, 0))
    for out, marked in runs[1:]:
        np.testing.assert_array_equal(out, runs[0][0])
        np.testing.assert_array_equal(marked, runs[0][1])


def test_sample_bfloat16_int32_ids(lib):
    rng = np.random.default_rng(21)
    batch, vocab = 2, 2500
    x = (rng.standard_normal((batch, vocab)) * 4).astype(np.float32)
    logits = (x.view(np.uint32) >> 16).astype(np.uint16)  # bfloat16 bit patterns
    ids = rng.integers(0, vocab, (batch, 6)).astype(np.int32)
    uniforms = rng.random(batch)
    want = ref.sample_synthid(logits, ids, KEYS[:batch], uniforms, None, 3, 1, 20, 0, 6, "bfloat16")
    got = emu_sample(lib, logits, ids, KEYS[:batch], uniforms, None, 3, 1, 20, 6, "bfloat16")
    np.testing.assert_array_equal(got[0], want[0])
    np.testing.assert_array_equal(got[1], want[1])
    assert want[1].tolist() == [1, 0]  # a tournament row; a repeated (minhash) context


def stage_shape(lib, batch, n, layers, top_k=0):
    shape = np.zeros(3, dtype=np.int64)
    lib.emu_stage_shape(ctypes.c_int64(batch), ctypes.c_int64(n), ctypes.c_int(layers),
                        ctypes.c_int64(top_k), ptr(shape))  # fmt: skip
    return (*shape.tolist(), 5, 2)


def test_stage_times_stamp_each_block_without_changing_tokens(lib):
    """The profiling stamps (SynthIdSampleArgs::stage_times): the tokens do not change, and each
    block stamps the stages it reaches, in order: every pass block of a tournament row stages
    0-3 and its row's last block the tail (4); a plain row's passes after its only one (the draw)
    stop at entry, and so does a row without a finite logit; chunks past the row's are untouched
    (the layout has room for the smallest chunk)."""
    rng = np.random.default_rng(4)
    batch, vocab, layers, chunk = 3, 5003, 30, 2048
    logits = (rng.standard_normal((batch, vocab)) * 2).astype(np.float32)
    logits[2] = -np.inf
    ids = rng.integers(0, vocab, (batch, 4)).astype(np.int64)
    uniforms = rng.random(batch)
    enabled = np.array([1, 0, 1], dtype=np.uint8)
    args = (lib, logits, ids, KEYS, uniforms, enabled, 2, 0, layers, 0)
    want = emu_sample(*args, chunk=chunk)
    shape = stage_shape(lib, batch, vocab, layers)
    assert shape == (5, batch, 5, 5, 2)  # setup + 3 phases + the draw; ceil(5003 / 1024) chunks
    times = np.full(shape, 7, dtype=np.uint64)  # the launcher zeroes it
    got = emu_sample(*args, chunk=chunk, stage_times=times)
    np.testing.assert_array_equal(got[0], want[0])
    np.testing.assert_array_equal(got[1], [1, 0, 0])
    assert (times[:, :, 3:] == 0).all()  # 3 chunks of 2048 in use
    ns, clock = times[..., 0], times[..., 1]
    np.testing.assert_array_equal(ns > 0, clock > 0)  # each stamp has both

    def reached(launch, row):
        return [np.flatnonzero(clock[launch, row, c]).tolist() for c in range(3)]

    def assert_ordered(launch, row):
        for c in range(3):
            t = clock[launch, row, c]
            t = t[t > 0]
            assert (np.diff(t.astype(np.int64)) > 0).all(), (launch, row, c, t)

    for row in range(batch):
        stamped = reached(0, row)  # setup: no prologue; chunk 0 decides the row's tournament
        assert stamped == [[0, 2, 3, 4], [0, 2, 3], [0, 2, 3]], (row, stamped)
        assert_ordered(0, row)
    for launch in range(1, 5):
        stamped = reached(launch, 0)
        assert sorted(len(s) for s in stamped) == [4, 4, 5], (launch, stamped)
        assert_ordered(launch, 0)
    stamped = reached(1, 1)  # the plain row's one pass draws
    assert sorted(len(s) for s in stamped) == [4, 4, 5]
    for launch in range(2, 5):
        assert reached(launch, 1) == [[0]] * 3
    for launch in range(1, 5):
        assert reached(launch, 2) == [[0]] * 3


def test_base_weights4_is_the_spec(lib):
    """The passes' four-wide softmax weights (synthid_base_weights4: no branches, 2^k from its
    exponent bits) against the reference's scalar spec, bit for bit: differences from 0 to past
    the exp cutoff (-700, where 2^k reaches 2^-1010), NaN and -inf (0), the largest (1), and a
    row whose largest is +inf (every finite weight 0)."""
    rng = np.random.default_rng(17)
    x = np.concatenate([
        rng.uniform(-750.0, 0.0, 4000), rng.uniform(-700.001, -699.999, 400),
        np.nextafter(np.float32(-700.0), np.float32([0.0, -1e9])), rng.standard_normal(1000) * 5,
        [0.0, -0.0, np.nan, -np.inf, 1e-30, -1e-30, -1e-45, -np.float32(2.0) ** -126],
    ]).astype(np.float32)  # fmt: skip
    x = np.concatenate([x, np.zeros(-len(x) % 4, np.float32)])
    inf_row = np.concatenate([x[:-4], np.float32([np.inf, 1.0, -np.inf, np.nan])])
    for row, positive in ((x, 4000), (inf_row, 1)):
        want = ref.base_weights(row)
        m = float(row[row > -np.inf].max())
        got = np.full(len(row), np.nan)
        lib.emu_base_weights4(ptr(row), ctypes.c_int64(len(row)), ctypes.c_double(m), ptr(got))
        np.testing.assert_array_equal(got.view(np.uint64), want.view(np.uint64))
        assert (want > 0).sum() >= positive and (want == 0).sum() > 100


def test_sample_extreme_logits(lib):
    """The four-wide weights (synthid_base_weights4) on what the scalar form branches on: NaN
    and -inf (weight 0), the largest logit (1), +inf as the largest, and differences around the
    exp cutoff of -700 (0 below it, 2^k down to 2^-1010 from exponent bits above it), as the
    reference's scalar exp computes them."""
    rng = np.random.default_rng(31)
    batch, vocab = 3, 4099
    y = rng.uniform(-720.0, 0.0, (batch, vocab))
    y[:, :64] = rng.uniform(-700.5, -699.5, (batch, 64))  # both sides of the cutoff
    logits = y.astype(np.float32)
    logits[:, 100:140] = np.nan
    logits[:, 140:180] = -np.inf
    logits[0, 7] = 0.0  # the largest
    logits[1, 4000] = np.inf  # +inf is the largest: its weight is 1, every finite one's 0
    logits[2, 9] = 0.0
    ids = rng.integers(0, vocab, (batch, 4)).astype(np.int64)
    for u in (rng.random(batch), np.array([0.0, 0.5, 1.0 - 2.0**-53])):
        want = ref.sample_synthid(logits, ids, KEYS, u, None, 2, 0, 30, 0, 0)
        got = emu_sample(lib, logits, ids, KEYS, u, None, 2, 0, 30, 0)
        np.testing.assert_array_equal(got[0], want[0])
        np.testing.assert_array_equal(got[1], want[1])
    assert want[0][1] == 4000
