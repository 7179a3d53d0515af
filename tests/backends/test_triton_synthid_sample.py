"""The Triton SynthID-Text sampler against the C++ op and the numpy reference, bit for bit.

The spec's sums are exact integers and its float64 steps single IEEE operations (docs/prf.md,
"Sampling"), so tokens and marks must match exactly, compiled or interpreted. Without a GPU the
kernels run under the Triton interpreter on CPU tensors (conftest.py sets TRITON_INTERPRET=1):
small shapes, several chunks per row through a smaller chunk. The `gpu` tests run the compiled
kernels at real sizes against ``_C`` on host copies (``_C`` is itself checked against the
reference in test_synthid.py).
"""

import numpy as np
import pytest
import torch
from tensor_helpers import as_i32, host_logits, random_logits

triton = pytest.importorskip("triton", reason="triton is not installed")
import triton.language as tl  # noqa: E402
from tokenmark import _C, ops  # noqa: E402
from tokenmark.backends.triton import _common as triton_common  # noqa: E402
from tokenmark.backends.triton import synthid as triton_synthid  # noqa: E402
from tokenmark.kernels import synthid_sample as ksample  # noqa: E402
from tokenmark.reference import synthid as ref  # noqa: E402
from triton_helpers import (  # noqa: E402
    DEVICE,
    INTERPRETING,
    assert_rejects,
    gpu_test,
    row_bad_cases,
)

KEY = (0x01234567, 0x89ABCDEF, 0xDEADBEEF, 0x0BADF00D)


@pytest.fixture
def small_chunks(monkeypatch):
    """Chunks of 256 candidates and draw tiles of 4 chunk totals: several chunks per row and
    several tiles per draw at the vocabularies the interpreter can afford."""
    monkeypatch.setattr(triton_common, "SYNTHID_CHUNK", 256)
    monkeypatch.setattr(triton_common, "SYNTHID_TILE", 4)


def random_ids(batch: int, length: int, gen, ids_dtype=torch.int64) -> torch.Tensor:
    """Even rows from a large range (fresh contexts: the tournament runs); odd rows from a small
    one, so that their context repeats and the history search matters."""
    ids = torch.randint(0, 50000, (batch, length), generator=gen)
    ids[1::2] = torch.randint(0, 4, (batch // 2, length), generator=gen)
    return ids.to(ids_dtype)


def random_keys(batch: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rng.integers(0, 2**32, size=(batch, 4), dtype=np.uint64).astype(np.uint32)


def edge_uniforms(batch: int, gen) -> torch.Tensor:
    """Random draws, with the extremes 0 and 1 - 2^-53 in the first and last rows."""
    u = torch.rand(batch, generator=gen, dtype=torch.float64)
    u[0] = 0.0
    u[-1] = 1.0 - 2.0**-53
    return u


def triton_sample(logits, ids, keys, u, enabled, width, seeding, layers, top_k, history):
    tokens, marked = triton_synthid.sample_synthid(
        logits.to(DEVICE),
        ids.to(DEVICE),
        as_i32(keys).reshape(-1, 4).to(DEVICE),
        u.to(DEVICE),
        None if enabled is None else enabled.to(DEVICE),
        width,
        seeding,
        layers,
        top_k,
        history,
    )
    assert tokens.dtype == torch.int64 and marked.dtype == torch.uint8
    assert tokens.device.type == DEVICE and marked.device.type == DEVICE
    return tokens.cpu().numpy(), marked.cpu().numpy()


def cpu_sample(logits, ids, keys, u, enabled, width, seeding, layers, top_k, history):
    arr, dtype = host_logits(logits)
    en = None if enabled is None else enabled.numpy().astype(np.uint8)
    keys = np.ascontiguousarray(np.asarray(keys, np.uint32).reshape(-1, 4))
    args = (width, seeding, layers, top_k, history)
    return _C.sample_synthid(arr, dtype, ids.numpy(), keys, u.numpy(), en, *args)


def assert_same(logits, ids, keys, u, enabled, *args) -> tuple[np.ndarray, np.ndarray]:
    """Triton and ``_C`` agree on tokens and marks; returns them."""
    want_t, want_m = cpu_sample(logits, ids, keys, u, enabled, *args)
    got_t, got_m = triton_sample(logits, ids, keys, u, enabled, *args)
    np.testing.assert_array_equal(got_t, want_t)
    np.testing.assert_array_equal(got_m, want_m)
    return want_t, want_m


# ---------------------------------------------------------------------------------------------
# The spec's exp and rint, through a small test kernel.


@triton.jit
def _weight_kernel(
    x_ptr, m_ptr, w_ptr, k_ptr, t_ptr, n, BLOCK: tl.constexpr, INTERPRETED: tl.constexpr
):
    i = tl.arange(0, BLOCK)
    mask = i < n
    x = tl.load(x_ptr + i, mask=mask, other=0.0)
    tl.store(w_ptr + i, ksample.base_weight(x, tl.load(m_ptr), INTERPRETED), mask=mask)
    t = tl.load(t_ptr + i, mask=mask, other=0.0)
    tl.store(k_ptr + i, ksample.rint64(t, INTERPRETED), mask=mask)


def test_base_weight_and_rint_are_the_specs():
    gen = torch.Generator().manual_seed(2)
    m = 3.0
    x = torch.cat(
        [
            torch.randn(2000, generator=gen) * 40,  # y from about -160 to 0 (and above m: no)
            torch.tensor([m, -float("inf"), float("nan"), m - 700.0, m - 700.0001, m - 745.0]),
            torch.tensor([m - 0.5 * 0.6931471805599453, m - 1e-30, -1e30]),
        ]
    ).clamp(max=m)
    # Ties of the round-half-even, their neighbours, and values beyond what exp_spec meets.
    t = torch.tensor(
        [0.5, 1.5, 2.5, -0.5, -1.5, -2.5, 1009.5, -1010.5, 0.49999999999999994, -0.0, 0.0]
        + [2.0**51 + 0.5, -(2.0**51) - 1.5, 7.000000000000001, -3.4999999999999996],
        dtype=torch.float64,
    )
    t = torch.cat([t, torch.randn(2000, generator=gen, dtype=torch.float64) * 1000])
    n = max(len(x), len(t))
    x = torch.cat([x, torch.zeros(n - len(x))]).to(DEVICE)
    t = torch.cat([t, torch.zeros(n - len(t), dtype=torch.float64)]).to(DEVICE)
    w = torch.empty(n, dtype=torch.float64, device=DEVICE)
    k = torch.empty(n, dtype=torch.float64, device=DEVICE)
    with triton_common.on_device(x.device):
        _weight_kernel[(1,)](
            x,
            torch.tensor([m], dtype=torch.float64, device=DEVICE),
            w,
            k,
            t,
            n,
            BLOCK=4096,
            INTERPRETED=INTERPRETING,
            enable_fp_fusion=False,
        )
    # The reference's weights for a fixed row maximum m (base_weights takes it from the row).
    xs = x.cpu().numpy().astype(np.float64)
    ok = xs > -np.inf
    with np.errstate(invalid="ignore"):
        y = np.where(ok & (xs != m), xs - m, 0.0)
    want_w = np.where(ok, np.where(xs == m, 1.0, ref.spec_exp(y)), 0.0)
    np.testing.assert_array_equal(w.cpu().numpy().view(np.uint64), want_w.view(np.uint64))
    np.testing.assert_array_equal(k.cpu().numpy(), np.rint(t.cpu().numpy()))


@pytest.mark.parametrize("bits", [1, 2, 7, 10])
def test_phase_factors_are_the_specs(bits):
    # Histograms of a single phase (layers = bits): random 62-bit bins, sparse bins, one bin.
    rng = np.random.default_rng(bits)
    rows = 4
    hist = np.zeros((rows, 1, ksample.BINS.value), dtype=np.int64)
    width = 1 << bits
    hist[0, 0, :width] = rng.integers(0, 2**62, width)
    hist[1, 0, :width] = rng.integers(0, 2**40, width) * (rng.random(width) < 0.3)
    hist[2, 0, width - 1] = 2**61
    hist[3, 0, :width] = rng.integers(0, 2**20, width) << rng.integers(0, 40, width)
    factors = torch.full((rows, 1, ksample.BINS.value), float("nan"), dtype=torch.float64)
    hist_t = torch.from_numpy(hist).to(DEVICE)
    factors = factors.to(DEVICE)
    with triton_common.on_device(hist_t.device):
        ksample.synthid_factors_kernel[(rows,)](
            hist_t, factors, bits, 0, BITS=bits, enable_fp_fusion=False
        )
    got = factors.cpu().numpy()[:, 0, :width]
    for r in range(rows):
        want = ref.phase_factors(hist[r, 0, :width].astype(np.uint64))
        np.testing.assert_array_equal(got[r].view(np.uint64), want.view(np.uint64), err_msg=r)


@triton.jit
def _draw_target_kernel(total_ptr, r_ptr, out_ptr, n, BLOCK: tl.constexpr):
    i = tl.arange(0, BLOCK)
    mask = i < n
    total = tl.load(total_ptr + i, mask=mask, other=0)
    r = tl.load(r_ptr + i, mask=mask, other=0.0)
    tl.store(out_ptr + i, ksample.draw_target(total, r), mask=mask)


def test_draw_target_is_exact():
    rng = np.random.default_rng(5)
    totals = [1, 2**62, 2**63 - 1, 2**63 - 1, 12345, 2**53 + 1]
    totals += list(rng.integers(1, 2**63 - 1, 200))
    rs = [0.0, 0.5, 1.0 - 2.0**-53, 2.0**-53, 0.999, 1.0 - 2.0**-53]
    rs += list(rng.random(200))
    total_t = torch.tensor(totals, dtype=torch.int64, device=DEVICE)
    r_t = torch.tensor(rs, dtype=torch.float64, device=DEVICE)
    out = torch.empty_like(total_t)
    with triton_common.on_device(total_t.device):
        _draw_target_kernel[(1,)](total_t, r_t, out, len(totals), BLOCK=256)
    want = [ref.draw_target(t, r) for t, r in zip(totals, rs, strict=True)]
    assert out.cpu().tolist() == want


# ---------------------------------------------------------------------------------------------
# Sampling.


@pytest.mark.parametrize(
    ("dtype", "vocab", "batch", "layers", "top_k", "ids_dtype", "width", "seeding"),
    [
        (torch.float32, 1, 2, 30, 0, torch.int64, 1, 0),
        (torch.float16, 17, 3, 1, 0, torch.int32, 2, 0),
        (torch.bfloat16, 300, 3, 10, 0, torch.int64, 3, 1),
        (torch.float32, 1100, 3, 11, 0, torch.int64, 2, 0),  # 5 chunks: 2 draw tiles
        (torch.float16, 1019, 3, 32, 7, torch.int32, 1, 0),
        (torch.float32, 2100, 3, 30, 40, torch.int64, 4, 0),
    ],
)
def test_sample_matches_cpu(
    small_chunks, dtype, vocab, batch, layers, top_k, ids_dtype, width, seeding
):
    gen = torch.Generator().manual_seed(vocab * 131 + batch + layers)
    logits = random_logits(batch, vocab, dtype, gen, finite_peak=True)
    ids = random_ids(batch, 24, gen, ids_dtype)
    keys = random_keys(batch, vocab)
    u = edge_uniforms(batch, gen)
    enabled = torch.tensor([1, 0] + [1] * (batch - 2), dtype=torch.bool)
    # Minhash contexts of neighbouring positions often share their minimum, so the history search
    # would leave most rows unmarked: it is exercised with prev seeding.
    history = 16 if seeding == 0 else 0
    marks = [
        assert_same(logits, ids, keys, u, en, width, seeding, layers, top_k, history)[1]
        for en in (None, enabled)
    ]
    assert marks[0].any()  # the tournament ran, not only the plain draw
    assert marks[1][1] == 0  # a disabled row is never marked


def test_sample_matches_reference(small_chunks):
    # Directly against the executable spec, every dtype of ids and logits in one go.
    gen = torch.Generator().manual_seed(4)
    logits = random_logits(4, 700, torch.float32, gen, finite_peak=True)
    ids = random_ids(4, 10, gen)
    keys = random_keys(4, 4)
    u = edge_uniforms(4, gen)
    for layers, top_k in ((30, 0), (21, 50)):
        want_t, want_m = ref.sample_synthid(
            logits.numpy(), ids.numpy(), keys, u.numpy(), None, 2, 0, layers, top_k, 1024
        )
        got_t, got_m = triton_sample(logits, ids, keys, u, None, 2, 0, layers, top_k, 1024)
        np.testing.assert_array_equal(got_t, want_t)
        np.testing.assert_array_equal(got_m, want_m)
        assert want_m[0] == 1


@pytest.mark.parametrize("vocab", [4 * 256 + 1, 5 * 256 + 100])
def test_sample_light_chunk_in_a_later_tile(small_chunks, vocab):
    """A draw whose target lies in the first tile of chunk totals, with a light last chunk (1 or
    100 candidates) and masked entries in the next tile: no chunk past the target's may count.
    (On a GPU, found at 2,097,153 candidates: more than 1024 chunks of 2048.)"""
    gen = torch.Generator().manual_seed(vocab)
    batch = 12
    logits = torch.randn(batch, vocab, generator=gen) * 0.01  # flat: the draw lands anywhere
    ids = random_ids(batch, 8, gen)
    u = torch.linspace(0.02, 0.6, batch, dtype=torch.float64)  # targets in chunks 0 to 3
    keys = random_keys(batch, vocab)
    for layers in (30, 3):
        want_t, want_m = ref.sample_synthid(
            logits.numpy(), ids.numpy(), keys, u.numpy(), None, 2, 0, layers, 0, 1024
        )
        got_t, got_m = triton_sample(logits, ids, keys, u, None, 2, 0, layers, 0, 1024)
        np.testing.assert_array_equal(got_t, want_t)
        np.testing.assert_array_equal(got_m, want_m)
        assert (want_t < 4 * 256).sum() >= batch // 2  # most draws end in the first tile


@pytest.mark.parametrize(("width", "history"), [(0, 0), (2, 1024)])
def test_sample_special_rows(small_chunks, width, history):
    gen = torch.Generator().manual_seed(7)
    logits = torch.randn(7, 600, generator=gen)
    logits[1] = -float("inf")  # no finite logit: -2, not raised
    logits[2] = float("nan")
    logits[3, 100] = float("inf")  # +inf entries (in different chunks) share the mass
    logits[3, 500] = float("inf")
    logits[4] = 0.0  # all equal
    logits[5, 1:] = -float("inf")  # one candidate
    logits[0, :300] = -float("inf")  # a first chunk without weight, drawn with u = 0
    ids = torch.arange(7 * 5).reshape(7, 5) % 3
    keys = np.array([KEY], np.uint32)
    u = edge_uniforms(7, gen)
    args = (width, 0, 30, 0, history)
    got_t, got_m = triton_sample(logits, ids, keys, u, None, *args)
    rows = [0, 3, 4, 5, 6]  # the C++ op raises on rows without a finite logit
    want_t, want_m = cpu_sample(logits[rows], ids[rows], keys, u[rows], None, *args)
    np.testing.assert_array_equal(got_t[rows], want_t)
    np.testing.assert_array_equal(got_m[rows], want_m)
    assert got_t[1] == -2 and got_t[2] == -2 and got_m[1] == 0 and got_m[2] == 0
    assert got_t[3] in (100, 500) and got_t[5] == 0 and got_t[0] >= 300


def test_sample_repeated_contexts(small_chunks):
    # Row 0's last context (7, 8) occurs 30 positions back; row 1's never: with a history of 40
    # only row 1 is marked, with 20 (or 0: no search) both are.
    ids = torch.arange(100, 300, dtype=torch.int64).reshape(2, 100)
    ids[0, 68:70] = torch.tensor([7, 8])
    ids[0, -2:] = torch.tensor([7, 8])
    gen = torch.Generator().manual_seed(1)
    logits = torch.randn(2, 500, generator=gen)
    keys = np.array([KEY], np.uint32)
    u = torch.tensor([0.3, 0.6], dtype=torch.float64)
    for history, want in ((40, [0, 1]), (20, [1, 1]), (0, [1, 1])):
        _, marks = assert_same(logits, ids, keys, u, None, 2, 0, 30, 0, history)
        assert marks.tolist() == want, history


def test_sample_strided_rows_and_broadcast_key(small_chunks):
    gen = torch.Generator().manual_seed(3)
    full = random_logits(3 * 4, 501, torch.bfloat16, gen, finite_peak=True).reshape(3, 4, 501)
    logits = full[:, -1, :]  # rows 4 * 501 elements apart
    ids = torch.randint(0, 1000, (3, 9), generator=gen)
    u = edge_uniforms(3, gen)
    want_t, want_m = cpu_sample(logits, ids, np.array([KEY], np.uint32), u, None, 3, 1, 30, 0, 8)
    got_t, got_m = triton_sample(logits, ids, np.array([KEY], np.uint32), u, None, 3, 1, 30, 0, 8)
    np.testing.assert_array_equal(got_t, want_t)
    np.testing.assert_array_equal(got_m, want_m)


@pytest.mark.parametrize(
    "batch,vocab,tokens_want,marked_want",
    [(0, 10, [], []), (2, 0, [-2, -2], [0, 0])],  # no row; rows without any logit
)
def test_sample_empty_inputs(batch, vocab, tokens_want, marked_want):
    tokens, marked = triton_synthid.sample_synthid(
        torch.zeros(batch, vocab, device=DEVICE),
        torch.zeros(batch, 3, dtype=torch.int64, device=DEVICE),
        as_i32([KEY]).to(DEVICE),
        torch.zeros(batch, dtype=torch.float64, device=DEVICE),
        None, 1, 0, 30, 0, 1024,
    )  # fmt: skip
    assert tokens.tolist() == tokens_want and marked.tolist() == marked_want


def test_sample_dispatch(rng):
    # ops.sample_synthid(backend="triton") takes host arrays (the interpreter) or CUDA tensors.
    x = rng.standard_normal((3, 40)).astype(np.float32)
    ids = rng.integers(0, 40, (3, 6))
    u = np.array([0.1, 0.5, 0.9])
    kw = dict(
        keys=KEY, uniforms=u, context_width=2, seeding=0, enabled=[True, False, True], top_k=9
    )
    want_t, want_m = ops.sample_synthid(x, ids, backend="cpu", **kw)
    if DEVICE == "cpu":
        got_t, got_m = ops.sample_synthid(x, ids, backend="triton", **kw)
    else:
        got_t, got_m = ops.sample_synthid(
            torch.from_numpy(x).cuda(), torch.from_numpy(ids).cuda(), backend="triton", **kw
        )
    np.testing.assert_array_equal(got_t.cpu().numpy(), want_t)
    np.testing.assert_array_equal(got_m.cpu().numpy(), want_m)
    assert want_m.tolist() == [1, 0, 1]


def test_processor_with_the_triton_backend():
    # The transformers processor on the Triton sampler emits the C++ sampler's token, with the
    # same torch seed (its draws come from torch.rand on the logits' device).
    import tokenmark as tm

    wm = tm.SynthID(key=b"processor-key", context_width=2)
    gen = torch.Generator().manual_seed(11)
    scores = torch.randn(3, 300, generator=gen).to(DEVICE)
    ids = torch.randint(0, 50, (3, 12), generator=gen).to(DEVICE)
    out = {}
    for backend in ("triton", "cpu" if DEVICE == "cpu" else "cuda"):
        torch.manual_seed(1234)
        if DEVICE == "cuda":
            torch.cuda.manual_seed(1234)
        out[backend] = wm.logits_processor(backend=backend)(ids, scores.clone())
    got, want = out.values()
    assert torch.equal(got.cpu(), want.cpu())
    assert ((got == 0).sum(1) == 1).all()


def test_sample_bad_input():
    logits = torch.zeros(2, 10, device=DEVICE)
    ids = torch.zeros(2, 4, dtype=torch.int64, device=DEVICE)
    keys = torch.zeros(1, 4, dtype=torch.int32, device=DEVICE)
    u = torch.zeros(2, dtype=torch.float64, device=DEVICE)
    ok = dict(
        logits=logits, input_ids=ids, keys=keys, uniforms=u, enabled=None, context_width=2,
        seeding=0, layers=30, top_k=0, context_history=1024,
    )  # fmt: skip
    cases = row_bad_cases(logits, ids, keys) + [
        (TypeError, "logits", dict(logits=logits.cpu().numpy())),
        (TypeError, "uniforms", dict(uniforms=u.float())),
        (ValueError, "uniforms", dict(uniforms=torch.zeros(3, dtype=torch.float64, device=DEVICE))),
        (ValueError, "context_width", dict(context_width=1025)),
        (ValueError, "layers", dict(layers=0)),
        (ValueError, "layers", dict(layers=33)),
        (ValueError, "top_k", dict(top_k=-1)),
        (ValueError, "history", dict(context_history=-1)),
    ]
    if DEVICE == "cpu":
        cases.append(
            (ValueError, "uniforms", dict(uniforms=torch.tensor([0.5, 1.0], dtype=torch.float64)))
        )
        cases.append(
            (ValueError, "uniforms", dict(uniforms=torch.tensor([-0.1, 0.5], dtype=torch.float64)))
        )
    else:
        cases.append((ValueError, "uniforms", dict(uniforms=u.cpu())))
    assert_rejects(triton_synthid.sample_synthid, ok, cases)


def test_sample_too_many_chunks(monkeypatch):
    # More chunks than a grid dimension holds: a clear error, not a failed launch.
    monkeypatch.setattr(triton_common, "SYNTHID_CHUNK", 4)
    with pytest.raises(ValueError, match="logits: at most 262140 candidates per row"):
        triton_synthid.sample_synthid(
            torch.zeros(1, 262141, device=DEVICE),
            torch.zeros(1, 3, dtype=torch.int64, device=DEVICE),
            as_i32([KEY]).to(DEVICE),
            torch.zeros(1, dtype=torch.float64, device=DEVICE),
            None, 1, 0, 30, 0, 1024,
        )  # fmt: skip


# ---------------------------------------------------------------------------------------------
# Compiled, at real sizes (a GPU).


@gpu_test
def test_gpu_exact_steps():
    # The exp, rint, factor and draw-target checks above, compiled (libdevice's rint, the GPU's
    # division and conversions), in the GPU check's `-m gpu` selection.
    test_base_weight_and_rint_are_the_specs()
    for bits in (1, 2, 7, 10):
        test_phase_factors_are_the_specs(bits)
    test_draw_target_is_exact()


@gpu_test
@pytest.mark.parametrize(
    ("dtype", "vocab", "batch", "top_k"),
    [
        (torch.float32, 2048, 37, 0),
        (torch.float16, 2049, 1, 0),
        (torch.bfloat16, 32000, 37, 40),
        (torch.float32, 32000, 1, 40),
        (torch.float16, 128256, 37, 0),
        (torch.bfloat16, 128256, 1, 0),
        (torch.float32, 151936, 37, 0),
        (torch.float32, 151936, 5, 40),
    ],
)
def test_gpu_sample_matches_cpu(dtype, vocab, batch, top_k):
    gen = torch.Generator().manual_seed(vocab * 131 + batch + top_k)
    logits = random_logits(batch, vocab, dtype, gen, finite_peak=True)
    ids = random_ids(batch, 40, gen, torch.int32 if vocab % 2 else torch.int64)
    keys = random_keys(batch, vocab + batch)
    u = edge_uniforms(batch, gen)
    width, seeding = (1, 0) if vocab % 2 else (4, 1)
    layers = [30, 1, 10, 11, 32, 21][vocab % 6]
    history = 16 if seeding == 0 else 0
    enabled = torch.from_numpy((np.random.default_rng(vocab).random(batch) < 0.8).astype(np.uint8))
    ran = False
    for en in (None, enabled):
        _, marks = assert_same(logits, ids, keys, u, en, width, seeding, layers, top_k, history)
        ran |= bool(marks.any())
    assert ran


@gpu_test
def test_gpu_sample_many_chunks():
    # More than 1024 chunks of 2048 candidates: the draw scans the chunk totals in several tiles.
    gen = torch.Generator().manual_seed(9)
    logits = torch.randn(3, 2_200_001, generator=gen) * 0.01  # flat: the draw lands anywhere
    ids = torch.randint(0, 600_000, (3, 8), generator=gen)
    u = torch.tensor([0.0, 0.5, 1.0 - 2.0**-53], dtype=torch.float64)
    keys = np.array([KEY], np.uint32)
    want_t, _ = assert_same(logits, ids, keys, u, None, 2, 0, 30, 0, 1024)
    assert want_t[2] > 1024 * 2048  # the last tile was reached


@gpu_test
def test_gpu_sample_special_rows():
    gen = torch.Generator().manual_seed(7)
    logits = torch.randn(7, 50000, generator=gen)
    logits[1] = -float("inf")
    logits[2] = float("nan")
    logits[3, 100] = float("inf")
    logits[3, 42000] = float("inf")
    logits[4] = 0.0
    logits[5, 1:] = -float("inf")
    ids = torch.arange(7 * 5).reshape(7, 5) % 3
    keys = np.array([KEY], np.uint32)
    u = edge_uniforms(7, gen)
    got_t, got_m = triton_sample(logits, ids, keys, u, None, 2, 0, 30, 0, 1)
    rows = [0, 3, 4, 5, 6]
    want_t, want_m = cpu_sample(logits[rows], ids[rows], keys, u[rows], None, 2, 0, 30, 0, 1)
    np.testing.assert_array_equal(got_t[rows], want_t)
    np.testing.assert_array_equal(got_m[rows], want_m)
    assert got_t[1] == -2 and got_t[2] == -2 and got_m[1] == 0 and got_m[2] == 0


@gpu_test
def test_gpu_sample_inside_a_cuda_graph():
    gen = torch.Generator().manual_seed(5)
    batch, vocab = 8, 32000
    logits = torch.randn(batch, vocab, generator=gen).cuda()
    ids = torch.randint(0, 1000, (batch, 20), generator=gen).cuda()
    u = torch.rand(batch, generator=gen, dtype=torch.float64).cuda()
    keys = as_i32([KEY]).cuda()
    args = (ids, keys, u, None, 4, 0, 30, 0, 1024)
    triton_synthid.sample_synthid(logits, *args)  # compiles outside the capture
    torch.cuda.synchronize()
    graph = torch.cuda.CUDAGraph()
    with torch.cuda.graph(graph):
        tokens, marked = triton_synthid.sample_synthid(logits, *args)
    for step in range(3):
        logits.copy_(torch.randn(batch, vocab, generator=gen).cuda())
        u.copy_(torch.rand(batch, generator=gen, dtype=torch.float64).cuda())
        graph.replay()
        want_t, want_m = cpu_sample(
            logits.cpu(), ids.cpu(), [KEY], u.cpu(), None, 4, 0, 30, 0, 1024
        )
        np.testing.assert_array_equal(tokens.cpu().numpy(), want_t, err_msg=f"step {step}")
        np.testing.assert_array_equal(marked.cpu().numpy(), want_m)
