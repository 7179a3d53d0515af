"""The Triton backend against the numpy reference, bit for bit.

Without a GPU the kernels run under the Triton interpreter on CPU tensors (conftest.py sets
TRITON_INTERPRET=1 before anything imports tokenmark.kernels); the interpreter is slow, so these
tests use small shapes and let the wrapper pick large blocks. With a GPU the same tests run the
compiled kernels on CUDA tensors, and the `gpu` tests add real vocabularies, large corpora and
CUDA-graph capture.
"""

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import GOLDEN_HINT
from tensor_helpers import as_i32

triton = pytest.importorskip("triton", reason="triton is not installed")
import tokenmark as tm  # noqa: E402
import triton.language as tl  # noqa: E402
from tokenmark import _C  # noqa: E402
from tokenmark.backends.triton import _common as triton_common  # noqa: E402
from tokenmark.backends.triton import kgw as triton_kgw  # noqa: E402
from tokenmark.kernels import prf as tprf  # noqa: E402
from tokenmark.reference import kgw as ref  # noqa: E402
from tokenmark.reference import prf as rprf  # noqa: E402
from triton_helpers import (  # noqa: E402
    DEVICE,
    assert_rejects,
    gpu_test,
    row_bad_cases,
    score_bad_cases,
    score_ok,
)

GOLDEN = json.loads((Path(__file__).parents[1] / "data" / "prf_golden.json").read_text())


# float16 overflow to inf is part of what the bias tests check; numpy warns about it.
pytestmark = pytest.mark.filterwarnings("ignore:overflow encountered in cast:RuntimeWarning")
DTYPES = {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16}


def u32(t: torch.Tensor) -> np.ndarray:
    return t.cpu().numpy().view(np.uint32)


@pytest.fixture
def small_blocks(monkeypatch):
    """Interpreter blocks of 64: several programs per row or corpus, as on the GPU."""
    monkeypatch.setattr(triton_common, "INTERPRETER_BLOCK", 64)


# ---------------------------------------------------------------------------------------------
# The PRF helpers, through small test kernels.


@triton.jit
def _load4(ptr, mask):
    """Words ptr[0..3] (int32 bits) as four uint32 values (per lane when ptr is a block)."""
    a = tl.load(ptr, mask=mask).to(tl.uint32, bitcast=True)
    b = tl.load(ptr + 1, mask=mask).to(tl.uint32, bitcast=True)
    c = tl.load(ptr + 2, mask=mask).to(tl.uint32, bitcast=True)
    d = tl.load(ptr + 3, mask=mask).to(tl.uint32, bitcast=True)
    return a, b, c, d


@triton.jit
def _store4(ptr, mask, a, b, c, d):
    tl.store(ptr, a.to(tl.int32, bitcast=True), mask=mask)
    tl.store(ptr + 1, b.to(tl.int32, bitcast=True), mask=mask)
    tl.store(ptr + 2, c.to(tl.int32, bitcast=True), mask=mask)
    tl.store(ptr + 3, d.to(tl.int32, bitcast=True), mask=mask)


@triton.jit
def _philox_kernel(ctr_ptr, key_ptr, out_ptr, n, BLOCK: tl.constexpr):
    i = tl.arange(0, BLOCK)
    m = i < n
    c0, c1, c2, c3 = _load4(ctr_ptr + 4 * i, m)
    k0 = tl.load(key_ptr + 2 * i, mask=m).to(tl.uint32, bitcast=True)
    k1 = tl.load(key_ptr + 2 * i + 1, mask=m).to(tl.uint32, bitcast=True)
    w0, w1, w2, w3 = tprf.philox4x32_10(c0, c1, c2, c3, k0, k1)
    _store4(out_ptr + 4 * i, m, w0, w1, w2, w3)


@triton.jit
def _tl_philox_kernel(ctr_ptr, out_ptr, seed, n, BLOCK: tl.constexpr):
    """Triton's own Philox (key = low and high halves of `seed`) for a cross-check."""
    i = tl.arange(0, BLOCK)
    m = i < n
    c0, c1, c2, c3 = _load4(ctr_ptr + 4 * i, m)
    w0, w1, w2, w3 = tl.philox(seed, c0, c1, c2, c3)
    _store4(out_ptr + 4 * i, m, w0, w1, w2, w3)


@triton.jit
def _context_hash_kernel(
    win_ptr, out_ptr, n, WIDTH: tl.constexpr, SEEDING: tl.constexpr, BLOCK: tl.constexpr
):
    i = tl.arange(0, BLOCK)
    m = i < n
    h = tprf.context_hash(win_ptr + i * WIDTH, m, WIDTH, SEEDING)
    tl.store(out_ptr + i, h.to(tl.int32, bitcast=True), mask=m)


@triton.jit
def _prf_word_kernel(key_ptr, ctx_ptr, tok_ptr, out_ptr, n, BLOCK: tl.constexpr):
    i = tl.arange(0, BLOCK)
    m = i < n
    k0, k1, k2, k3 = _load4(key_ptr, n > 0)
    ctx = tl.load(ctx_ptr + i, mask=m).to(tl.uint32, bitcast=True)
    tok = tl.load(tok_ptr + i, mask=m).to(tl.uint32, bitcast=True)
    w = tprf.prf_word(k0, k1, k2, k3, ctx, tok, tprf.DOMAIN_KGW_GREEN)
    tl.store(out_ptr + i, w.to(tl.int32, bitcast=True), mask=m)


def _pow2(n: int) -> int:
    return max(16, 1 << (n - 1).bit_length())


def triton_philox(ctr: np.ndarray, key: np.ndarray) -> np.ndarray:
    out = torch.empty(ctr.shape, dtype=torch.int32, device=DEVICE)
    _philox_kernel[(1,)](
        as_i32(ctr).to(DEVICE), as_i32(key).to(DEVICE), out, len(ctr), BLOCK=_pow2(len(ctr))
    )
    return u32(out)


def test_philox_known_answers():
    # Random123's kat_vectors for philox4x32_10, as pinned in tests/data/prf_golden.json.
    kats = GOLDEN["philox_kat"]
    got = triton_philox(np.array([k["ctr"] for k in kats]), np.array([k["key"] for k in kats]))
    assert got.tolist() == [k["out"] for k in kats], GOLDEN_HINT
    assert [f"{w:08x}" for w in got[2]] == ["d16cfe09", "94fdcceb", "5001e420", "24126ea1"]


def test_philox_matches_reference(rng):
    ctr = rng.integers(0, 2**32, (1000, 4), dtype=np.uint64).astype(np.uint32)
    key = rng.integers(0, 2**32, (1000, 2), dtype=np.uint64).astype(np.uint32)
    want = np.stack(rprf.philox4x32_10(*ctr.T, *key.T), axis=1)
    assert np.array_equal(triton_philox(ctr, key), want)


def test_philox_matches_triton_philox(rng):
    # An independent implementation: tl.philox is Random123's Philox4x32-10 keyed with
    # (seed & 0xffffffff, seed >> 32).
    ctr = rng.integers(0, 2**32, (500, 4), dtype=np.uint64).astype(np.uint32)
    for k0, k1 in [(0, 0), (0x9E3779B9, 0x7FFFFFFF), (12345, 0x00ABCDEF)]:
        out = torch.empty(ctr.shape, dtype=torch.int32, device=DEVICE)
        _tl_philox_kernel[(1,)](as_i32(ctr).to(DEVICE), out, (k1 << 32) | k0, len(ctr), BLOCK=512)
        key = np.broadcast_to(np.array([k0, k1], np.uint32), (len(ctr), 2))
        assert np.array_equal(u32(out), triton_philox(ctr, key))


@pytest.mark.parametrize("seeding", [0, 1])
@pytest.mark.parametrize("width", [0, 1, 2, 4, 7])
@pytest.mark.parametrize("ids_dtype", [np.int32, np.int64])
def test_context_hash_matches_reference(rng, seeding, width, ids_dtype):
    windows = rng.integers(0, 2**31, (300, width)).astype(ids_dtype)
    windows[:3] = np.array([0, 2**31 - 1, 1], dtype=ids_dtype)[:, None]
    out = torch.empty(len(windows), dtype=torch.int32, device=DEVICE)
    _context_hash_kernel[(1,)](
        torch.from_numpy(windows).to(DEVICE),
        out,
        len(windows),
        WIDTH=width,
        SEEDING=seeding,
        BLOCK=512,
    )
    assert np.array_equal(u32(out), rprf.context_hash(windows, seeding))


def test_context_hash_golden():
    for case in GOLDEN["context_hash"]:
        window = np.array([case["window"]], dtype=np.int64).reshape(1, -1)
        out = torch.empty(1, dtype=torch.int32, device=DEVICE)
        _context_hash_kernel[(1,)](
            torch.from_numpy(window).to(DEVICE),
            out,
            1,
            WIDTH=window.shape[1],
            SEEDING=case["seeding"],
            BLOCK=16,
        )
        assert int(u32(out)[0]) == case["hash"], GOLDEN_HINT


def test_prf_word_matches_reference(rng):
    key = rng.integers(0, 2**32, 4, dtype=np.uint64).astype(np.uint32)
    ctx = rng.integers(0, 2**32, 1000, dtype=np.uint64).astype(np.uint32)
    tok = rng.integers(0, 2**31, 1000).astype(np.uint32)
    tok[:8] = [0, 1, 2, 3, 4, 2**31 - 4, 2**31 - 2, 2**31 - 1]
    out = torch.empty(1000, dtype=torch.int32, device=DEVICE)
    _prf_word_kernel[(1,)](
        as_i32(key).to(DEVICE),
        as_i32(ctx).to(DEVICE),
        as_i32(tok).to(DEVICE),
        out,
        1000,
        BLOCK=1024,
    )
    want = rprf.prf_word(key, ctx, tok, rprf.DOMAIN_KGW_GREEN)
    assert np.array_equal(u32(out), want)


# ---------------------------------------------------------------------------------------------
# Bias.

SPECIALS = {
    "float32": [
        0x7FC00001,
        0xFFC00000,
        0x7F800000,
        0xFF800000,
        0x00000000,
        0x80000000,
        0x7F7FFFFF,
        0xFF7FFFFF,
        0x00000001,
        0x3F800001,
    ],
    "float16": [0x7E01, 0xFE00, 0x7C00, 0xFC00, 0x0000, 0x8000, 0x7BFF, 0xFBFF, 0x0001, 0x7BFE],
    "bfloat16": [0x7FC1, 0xFFC0, 0x7F80, 0xFF80, 0x0000, 0x8000, 0x7F7F, 0xFF7F, 0x0001, 0x3F81],
}


def make_logits(rng, batch: int, vocab: int, dtype: str) -> torch.Tensor:
    """Random logits with NaN (payloads), +-inf, +-0, the largest finite values, subnormals."""
    x = torch.from_numpy(rng.standard_normal((batch, vocab)).astype(np.float32) * 8)
    x = x.to(DTYPES[dtype])
    if batch and vocab:
        bits_dtype = torch.int32 if dtype == "float32" else torch.int16
        sp = np.array(SPECIALS[dtype], dtype=np.uint32 if dtype == "float32" else np.uint16)
        sp = torch.from_numpy(sp.view(np.int32 if dtype == "float32" else np.int16))
        n = min(vocab, len(sp))
        x.view(bits_dtype)[0, :n] = sp[:n]
        if batch > 1:
            x.view(bits_dtype)[-1, -n:] = sp[:n]
    return x


def bits(t: torch.Tensor) -> np.ndarray:
    t = t.cpu()
    return t.view(torch.int32 if t.dtype == torch.float32 else torch.int16).numpy()


def reference_bias(logits, ids, keys, thr, deltas, enabled, width, seeding, dtype):
    host = bits(logits).view(np.uint16) if dtype == "bfloat16" else logits.cpu().numpy()
    out = ref.apply_kgw_bias(
        host,
        ids.cpu().numpy(),
        u32(keys),
        u32(thr),
        deltas.cpu().numpy(),
        None if enabled is None else enabled.cpu().numpy(),
        width,
        seeding,
        dtype,
    )
    return out.view(np.int32 if dtype == "float32" else np.int16)


def bias_params(rng, batch: int, per_row: bool):
    rows = batch if per_row else 1
    keys = as_i32(rng.integers(0, 2**32, (rows, 4), dtype=np.uint64))
    thr = as_i32(rng.integers(1, 2**32, rows, dtype=np.uint64))
    deltas = torch.from_numpy(rng.choice(np.float32([2.0, -3.5, 0.37, 16.0, 1e-3]), rows))
    return keys, thr, deltas


def check_bias(rng, logits, ids, width, seeding, per_row=True, enabled=None, params=None):
    dtype = str(logits.dtype).removeprefix("torch.")
    keys, thr, deltas = params or bias_params(rng, logits.shape[0], per_row)
    want = reference_bias(logits, ids, keys, thr, deltas, enabled, width, seeding, dtype)
    dev = [t.to(DEVICE) for t in (keys, thr, deltas)]
    got = logits.to(DEVICE, copy=True)
    triton_kgw.apply_kgw_bias_(
        got, ids.to(DEVICE), *dev, None if enabled is None else enabled.to(DEVICE), width, seeding
    )
    assert np.array_equal(bits(got), want)
    return got


@pytest.mark.parametrize("dtype", list(DTYPES))
@pytest.mark.parametrize("vocab", [1, 17, 1019, 32000])
def test_bias_matches_reference(rng, dtype, vocab):
    logits = make_logits(rng, 3, vocab, dtype)
    ids = torch.from_numpy(rng.integers(0, 2**31, (3, 6)))
    enabled = torch.tensor([1, 1, 0], dtype=torch.uint8)
    check_bias(rng, logits, ids, 4, 0, per_row=True, enabled=enabled)


@pytest.mark.parametrize("dtype", list(DTYPES))
def test_bias_settings(rng, small_blocks, dtype):
    # Several column programs per row (blocks of 64), broadcast and per-row parameters, both
    # seedings, widths 0/1/4, int32 and int64 ids.
    logits = make_logits(rng, 3, 300, dtype)
    for width, seeding, per_row, ids_dtype in [
        (4, 1, False, np.int64),
        (1, 0, True, np.int32),
        (0, 0, False, np.int32),
        (4, 0, True, np.int32),
    ]:
        ids = torch.from_numpy(rng.integers(0, 200_000, (3, 7)).astype(ids_dtype))
        check_bias(rng, logits, ids, width, seeding, per_row=per_row)


def test_bias_leaves_short_context_and_disabled_rows_alone(rng):
    logits = make_logits(rng, 3, 300, "float32")
    ids = torch.from_numpy(rng.integers(0, 300, (3, 3)))
    got = check_bias(rng, logits, ids, 4, 0)  # 3 ids < width 4: nothing changes
    assert np.array_equal(bits(got), bits(logits))
    got = check_bias(rng, logits, ids, 3, 1, enabled=torch.zeros(3, dtype=torch.uint8))
    assert np.array_equal(bits(got), bits(logits))
    params = (as_i32([[1, 2, 3, 4]]), as_i32([2**31]), torch.tensor([1.0]))
    enabled = torch.tensor([0, 1, 0], dtype=torch.uint8)
    got = check_bias(rng, logits, ids, 3, 1, enabled=enabled, params=params)
    assert np.array_equal(bits(got)[[0, 2]], bits(logits)[[0, 2]])
    assert not np.array_equal(bits(got)[1], bits(logits)[1])


def test_bias_empty_and_strided(rng):
    for batch, vocab in [(0, 17), (2, 0)]:
        check_bias(
            rng,
            make_logits(rng, batch, vocab, "float32"),
            torch.zeros((batch, 4), dtype=torch.int64),
            4,
            0,
        )
    base = make_logits(rng, 3, 64, "float16")
    view = base[:, 5:45]  # rows 64 apart, 40 wide, not 16-byte aligned
    keys, thr, deltas = bias_params(rng, 3, False)
    ids = torch.from_numpy(rng.integers(0, 1000, (3, 5)))
    want = reference_bias(view, ids, keys, thr, deltas, None, 4, 0, "float16")
    got = base.to(DEVICE, copy=True)
    triton_kgw.apply_kgw_bias_(
        got[:, 5:45], ids.to(DEVICE), keys.to(DEVICE), thr.to(DEVICE), deltas.to(DEVICE), None, 4, 0
    )
    assert np.array_equal(bits(got)[:, 5:45], want)
    assert np.array_equal(bits(got)[:, :5], bits(base)[:, :5])
    assert np.array_equal(bits(got)[:, 45:], bits(base)[:, 45:])


def test_green_list_golden():
    g = GOLDEN["kgw_green_list"]
    logits = torch.zeros((1, g["vocab"]), dtype=torch.float32, device=DEVICE)
    ids = torch.tensor(g["input_ids"], dtype=torch.int64, device=DEVICE)
    keys = as_i32(tm.Key.from_hex(g["key_hex"]).words)[None].to(DEVICE)
    thr = as_i32([g["threshold"]]).to(DEVICE)
    triton_kgw.apply_kgw_bias_(logits, ids, keys, thr, torch.ones(1, device=DEVICE), None, 4, 0)
    assert torch.nonzero(logits[0]).flatten().tolist() == g["green_ids"], GOLDEN_HINT


def test_dispatch_backend_triton(rng):
    x = make_logits(rng, 2, 500, "bfloat16").to(DEVICE)
    ids = torch.from_numpy(rng.integers(0, 500, (2, 8))).to(DEVICE)
    want = x.cpu().clone()
    wm = tm.KGW(key=b"k", context_width=2)
    wm.apply_(want, ids.cpu(), backend="reference")
    wm.apply_(x, ids, backend="triton")
    assert np.array_equal(bits(x), bits(want))


# ---------------------------------------------------------------------------------------------
# Scoring.


def ragged(rng, lengths, vocab):
    offsets = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
    return rng.integers(0, vocab, int(offsets[-1])).astype(np.int32), offsets


def check_score(tokens, offsets, prefix, key, thr, width, seeding, dedup):
    want = ref.score_kgw(tokens, offsets, prefix, key, thr, width, seeding, dedup)
    t = [None if a is None else torch.from_numpy(a).to(DEVICE) for a in (tokens, offsets, prefix)]
    got = triton_kgw.score_kgw(*t, tuple(int(w) for w in key), thr, width, seeding, dedup, True)
    for name, w, g in zip(["n_scored", "n_green", "green", "counted"], want, got, strict=True):
        assert g.device.type == DEVICE
        assert np.array_equal(g.cpu().numpy(), w), name
    counts = triton_kgw.score_kgw(*t, tuple(int(w) for w in key), thr, width, seeding, dedup, False)
    assert counts[2] is None and counts[3] is None
    assert np.array_equal(counts[0].cpu().numpy(), want[0])
    assert np.array_equal(counts[1].cpu().numpy(), want[1])


@pytest.mark.parametrize("seeding", [0, 1])
@pytest.mark.parametrize("width", [0, 1, 4])
@pytest.mark.parametrize("dedup", [False, True])
def test_score_matches_reference(rng, small_blocks, seeding, width, dedup):
    # Blocks of 64 positions: documents straddle programs, programs hold several documents.
    lengths = [0, 1, width, width + 1, 3, 17, 200, 0, 9, 64, 130]
    # A small vocabulary makes repeated (context, token) pairs common, exercising dedup.
    tokens, offsets = ragged(rng, lengths, 7)
    prefix = rng.integers(0, 12, len(lengths))
    prefix[6] = 10**12  # a prefix longer than its document
    key = rng.integers(0, 2**32, 4, dtype=np.uint64)
    for pre in (None, prefix):
        check_score(tokens, offsets, pre, key, int(0.3 * 2**32), width, seeding, dedup)


def test_score_large_ids_and_thresholds(rng):
    tokens, offsets = ragged(rng, [40, 0, 300], 2**31)
    tokens[:4] = [0, 2**31 - 1, 2**31 - 2, 3]
    key = rng.integers(0, 2**32, 4, dtype=np.uint64)
    for thr in (1, 2**31, 2**32 - 1):
        check_score(tokens, offsets, None, key, thr, 2, 1, True)


def test_score_empty():
    key = (1, 2, 3, 4)
    for lengths in ([], [0], [0, 0, 0]):
        tokens, offsets = ragged(np.random.default_rng(0), lengths, 10)
        for dedup in (False, True):
            check_score(tokens, offsets, None, key, 2**31, 1, 0, dedup)


def test_score_golden():
    g = GOLDEN["kgw_score"]
    out = tm.score_kgw(
        np.array(g["tokens"], dtype=np.int32),
        np.array(g["offsets"], dtype=np.int64),
        key=tm.Key.from_hex(g["key_hex"]).words,
        threshold=g["threshold"],
        context_width=g["width"],
        seeding=g["seeding"],
        dedup=g["dedup"],
        want_flags=True,
        backend="triton",
    )
    for name, got in zip(["n_scored", "n_green", "green", "counted"], out, strict=True):
        assert got.tolist() == g[name], f"{name}: {GOLDEN_HINT}"


# ---------------------------------------------------------------------------------------------
# Bad input.


def test_bias_bad_input(rng):
    logits = torch.zeros(2, 10, device=DEVICE)
    ids = torch.zeros(2, 4, dtype=torch.int64, device=DEVICE)
    keys = torch.zeros(1, 4, dtype=torch.int32, device=DEVICE)
    thr = torch.ones(1, dtype=torch.int32, device=DEVICE)
    d = torch.ones(1, device=DEVICE)
    ok = dict(
        logits=logits,
        input_ids=ids,
        keys=keys,
        thresholds=thr,
        deltas=d,
        enabled=None,
        context_width=4,
        seeding=0,
    )
    cases = row_bad_cases(logits, ids, keys) + [
        (ValueError, "logits", dict(logits=logits[0])),
        (ValueError, "thresholds", dict(thresholds=torch.ones(3, dtype=torch.int32).to(DEVICE))),
        (TypeError, "deltas", dict(deltas=d.double())),
        (ValueError, "context_width", dict(context_width=-1)),
    ]
    if DEVICE == "cpu":
        cases += [
            (ValueError, "deltas", dict(deltas=torch.tensor([float("nan")]))),
            (ValueError, "thresholds", dict(thresholds=torch.zeros(1, dtype=torch.int32))),
        ]
    assert_rejects(triton_kgw.apply_kgw_bias_, ok, cases)


def test_score_bad_input():
    ok = score_ok(threshold=2**31)
    cases = score_bad_cases(ok) + [(ValueError, "threshold", dict(threshold=0))]
    assert_rejects(triton_kgw.score_kgw, ok, cases)


# ---------------------------------------------------------------------------------------------
# GPU: the compiled kernels at real sizes, against the C++ kernels.


def c_bias(logits, ids, keys, thr, deltas, enabled, width, seeding):
    """The C++ kernels' answer for the same inputs (host copies)."""
    dtype = str(logits.dtype).removeprefix("torch.")
    host = logits.cpu().clone()
    arr = host.view(torch.int16).numpy() if dtype == "bfloat16" else host.numpy()
    _C.apply_kgw_bias_(
        arr,
        dtype,
        ids.cpu().numpy(),
        u32(keys).reshape(-1, 4),
        u32(thr),
        deltas.cpu().numpy(),
        None if enabled is None else enabled.cpu().numpy(),
        width,
        seeding,
    )
    return bits(host)


@gpu_test
@pytest.mark.parametrize("dtype", list(DTYPES))
@pytest.mark.parametrize("vocab", [128256, 151936])
@pytest.mark.parametrize("width,seeding", [(4, 0), (1, 1)])
def test_gpu_bias_real_vocab(rng, dtype, vocab, width, seeding):
    logits = make_logits(rng, 37, vocab, dtype).cuda()
    ids = torch.from_numpy(rng.integers(0, vocab, (37, 11))).cuda()
    keys, thr, deltas = (t.cuda() for t in bias_params(rng, 37, True))
    enabled = torch.from_numpy((rng.random(37) < 0.9).astype(np.uint8)).cuda()
    want = c_bias(logits, ids, keys, thr, deltas, enabled, width, seeding)
    triton_kgw.apply_kgw_bias_(logits, ids, keys, thr, deltas, enabled, width, seeding)
    assert np.array_equal(bits(logits), want)


@gpu_test
def test_gpu_bias_cuda_graph(rng):
    vocab, batch = 151936, 8
    logits = torch.empty(batch, vocab, dtype=torch.bfloat16, device="cuda")
    ids = torch.empty(batch, 16, dtype=torch.int64, device="cuda")
    keys, thr, deltas = (t.cuda() for t in bias_params(rng, batch, True))
    enabled = torch.ones(batch, dtype=torch.uint8, device="cuda")
    args = (logits, ids, keys, thr, deltas, enabled, 4, 0)
    ids.copy_(torch.from_numpy(rng.integers(0, vocab, (batch, 16))))
    triton_kgw.apply_kgw_bias_(*args)  # compile outside the capture
    torch.cuda.synchronize()
    allocated = torch.cuda.memory_allocated()
    torch.cuda.set_sync_debug_mode("error")  # any host sync in the op raises
    try:
        triton_kgw.apply_kgw_bias_(*args)
    finally:
        torch.cuda.set_sync_debug_mode("default")
    assert torch.cuda.memory_allocated() == allocated
    graph = torch.cuda.CUDAGraph()
    with torch.cuda.graph(graph):
        triton_kgw.apply_kgw_bias_(*args)
    for step in range(3):
        fresh = make_logits(rng, batch, vocab, "bfloat16").cuda()
        logits.copy_(fresh)
        ids.copy_(torch.from_numpy(rng.integers(0, vocab, (batch, 16))))
        enabled.copy_(torch.from_numpy((rng.random(batch) < 0.7).astype(np.uint8)))
        deltas.copy_(torch.full((batch,), 0.5 + step))
        graph.replay()
        want = c_bias(fresh, ids, keys, thr, deltas, enabled, 4, 0)
        assert np.array_equal(bits(logits), want)


@gpu_test
@pytest.mark.parametrize("width,seeding", [(4, 0), (1, 1), (0, 0)])
@pytest.mark.parametrize("dedup", [False, True])
def test_gpu_score_corpus(rng, width, seeding, dedup):
    lengths = rng.integers(0, 3000, 2000)
    lengths[:6] = [0, 1, width, width + 1, 200_000, 70_000]
    tokens, offsets = ragged(rng, lengths, 500)  # repeated pairs for dedup
    prefix = rng.integers(0, 20, len(lengths))
    key = rng.integers(0, 2**32, 4, dtype=np.uint64).astype(np.uint32)
    thr = int(0.25 * 2**32)
    want = _C.score_kgw(tokens, offsets, prefix, key, thr, width, seeding, dedup, True)
    got = triton_kgw.score_kgw(
        torch.from_numpy(tokens).cuda(),
        torch.from_numpy(offsets).cuda(),
        torch.from_numpy(prefix).cuda(),
        tuple(int(w) for w in key),
        thr,
        width,
        seeding,
        dedup,
        True,
    )
    for name, w, g in zip(["n_scored", "n_green", "green", "counted"], want, got, strict=True):
        assert np.array_equal(g.cpu().numpy(), w), name
