"""The CUDA backend: module import and argument checks everywhere, kernels where a GPU exists.

The kernels are compared bit for bit with the numpy reference on moderate sizes and with the
CPU module ``_C`` (itself bit-exact with the reference) on the large ones. Outputs are poisoned
before each launch so an unwritten entry cannot pass as a zero.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from cuda_helpers import ROW_BINDING_CASES, SCORE_BINDING_CASES
from tokenmark.backends.cuda import _common as cuda_common
from tokenmark.backends.cuda import kgw as cuda_kgw
from tokenmark.reference import kgw as ref

cuda_mod = pytest.importorskip(
    "tokenmark._cuda", reason="tokenmark was built without CUDA", exc_type=ModuleNotFoundError
)
cpu_mod = pytest.importorskip("tokenmark._C", reason="the CPU module _C is not built")

HAS_GPU = torch.cuda.is_available() and cuda_mod.device_count() > 0

DTYPES = {torch.float32: "float32", torch.float16: "float16", torch.bfloat16: "bfloat16"}
BITS = {torch.float32: torch.int32, torch.float16: torch.int16, torch.bfloat16: torch.int16}
WIDTH_SEEDING = [(0, 0), (1, 0), (1, 1), (4, 0), (4, 1)]
KEY = (0x01234567, 0x89ABCDEF, 0xDEADBEEF, 0x0BADF00D)
GAMMA_25 = 1 << 30


# --- everywhere (CPU-only machines included) -----------------------------------------------


def test_module_imports_and_reports():
    info = cuda_mod.info()
    assert info["archs"]
    assert info["cuda_runtime_build_version"] > 0
    assert cuda_mod.device_count() >= 0
    assert cuda_mod.score_kgw_workspace_bytes(10, True) >= 10 * 4
    assert cuda_mod.score_kgw_workspace_bytes(10, False) == 0
    assert cuda_mod.score_kgw_workspace_bytes(0, True) == 0
    with pytest.raises(ValueError, match="n_tokens"):
        cuda_mod.score_kgw_workspace_bytes(-1, True)


@pytest.mark.skipif(HAS_GPU, reason="checks the behaviour without a CUDA device")
def test_no_device_gives_clear_errors():
    assert cuda_mod.device_count() == 0
    assert not cuda_common.available()
    logits = torch.zeros(2, 8)
    with pytest.raises(RuntimeError, match="no CUDA device"):
        cuda_kgw.apply_kgw_bias_(logits, None, None, None, None, None, 1, 0)
    with pytest.raises(RuntimeError, match="no CUDA device"):
        cuda_kgw.score_kgw(None, None, None, KEY, GAMMA_25, 1, 0, False, False)
    # Arguments pass validation, then the launch reports the missing device, never crashes.
    with pytest.raises(RuntimeError, match="tokenmark CUDA apply_kgw_bias_"):
        _bias_binding(batch=1, vocab=4)


def _bias_binding(**overrides):
    args = dict(
        logits=256, batch=2, vocab=8, logits_row_stride=8, logits_dtype=0, input_ids=512,
        ids_is_int64=True, ids_len=3, ids_row_stride=3, keys=1024, key_stride=0,
        thresholds=2048, threshold_stride=0, deltas=4096, delta_stride=0, enabled=0,
        width=1, seeding=0, device=0, stream=0,
    )  # fmt: skip
    args.update(overrides)
    return cuda_mod.apply_kgw_bias_(**args)


def _score_binding(**overrides):
    args = dict(
        tokens=256, n_tokens=4, offsets=512, n_docs=1, prefix=0, key=KEY, threshold=GAMMA_25,
        width=1, seeding=0, dedup=False, n_scored=1024, n_green=2048, green=0, counted=0,
        workspace=0, workspace_bytes=0, device=0, stream=0,
    )  # fmt: skip
    args.update(overrides)
    return cuda_mod.score_kgw(**args)


@pytest.mark.parametrize(
    ("overrides", "match"),
    ROW_BINDING_CASES
    + [
        ({"width": -1}, "context_width"),
        ({"threshold_stride": 4}, "thresholds"),
        ({"delta_stride": 2}, "deltas"),
        ({"thresholds": 2}, "thresholds: device pointer not aligned"),
        ({"deltas": 0}, "deltas: null"),
    ],
)
def test_bias_binding_validates(overrides, match):
    with pytest.raises(ValueError, match=match):
        _bias_binding(**overrides)


def test_bias_binding_empty_is_a_no_op():
    # Nothing to launch: returns before touching the device, so this runs without a GPU too.
    _bias_binding(batch=0, logits=0, input_ids=0, keys=0, thresholds=0, deltas=0)
    _bias_binding(vocab=0, logits=0)


@pytest.mark.parametrize(
    ("overrides", "match"),
    SCORE_BINDING_CASES
    + [
        ({"threshold": 0}, "threshold"),
        ({"threshold": 1 << 32}, "threshold"),
        ({"dedup": True}, "workspace"),
        ({"dedup": True, "workspace_bytes": 1 << 20}, "workspace: null"),
    ],
)
def test_score_binding_validates(overrides, match):
    with pytest.raises(ValueError, match=match):
        _score_binding(**overrides)


def test_score_binding_no_docs_is_a_no_op():
    _score_binding(n_tokens=0, n_docs=0, tokens=0, n_scored=0, n_green=0)


# --- helpers for the GPU tests ---------------------------------------------------------------


def _rng(seed: int) -> np.random.Generator:
    return np.random.default_rng(seed)


def _random_logits(rng, batch: int, cols: int, dtype: torch.dtype) -> torch.Tensor:
    """Random logits on the CPU with -inf, +inf, NaNs with payloads and, in float16, values that
    overflow or underflow when biased."""
    x = torch.from_numpy(rng.standard_normal((batch, cols)).astype(np.float32) * 4)
    n = x.numel()
    flat = x.view(-1)
    if n:
        flat[torch.from_numpy(rng.integers(0, n, size=max(1, n // 64)))] = -float("inf")
        flat[torch.from_numpy(rng.integers(0, n, size=max(1, n // 256)))] = float("inf")
    x = x.to(dtype)
    bits = x.view(BITS[dtype]).view(-1)
    if n:
        nan = {torch.float32: 0x7FA00001, torch.float16: 0x7D01, torch.bfloat16: 0x7FC1}[dtype]
        idx = torch.from_numpy(rng.integers(0, n, size=max(1, n // 64)))
        bits[idx] = torch.tensor(nan, dtype=torch.int64).to(BITS[dtype])
        bits[torch.from_numpy(rng.integers(0, n, size=max(1, n // 256)))] = -1  # NaN, sign set
        if dtype == torch.float16:
            x.view(-1)[torch.from_numpy(rng.integers(0, n, size=max(1, n // 128)))] = 65500.0
            x.view(-1)[torch.from_numpy(rng.integers(0, n, size=max(1, n // 128)))] = 3e-7
    return x


def _to_numpy(logits: torch.Tensor) -> np.ndarray:
    """The array the reference and _C take: float32/float16 values, bfloat16 as uint16 bits."""
    t = logits.detach().contiguous().cpu()
    if t.dtype == torch.bfloat16:
        return t.view(torch.int16).numpy().view(np.uint16)
    return t.numpy()


def _bits(logits) -> np.ndarray:
    a = _to_numpy(logits) if isinstance(logits, torch.Tensor) else logits
    return a.view(np.uint32 if a.dtype == np.float32 else np.uint16)


def _bias_params(rng, batch: int, per_row: bool, with_enabled: bool):
    rows = batch if per_row else 1
    keys = rng.integers(0, 2**32, size=(rows, 4), dtype=np.uint64).astype(np.uint32)
    thresholds = rng.integers(1, 2**32, size=rows, dtype=np.uint64).astype(np.uint32)
    deltas = rng.uniform(-4.0, 8.0, size=rows).astype(np.float32)
    enabled = rng.integers(0, 2, size=batch).astype(np.uint8) if with_enabled else None
    return keys, thresholds, deltas, enabled


def _run_cuda_bias(logits, ids, keys, thresholds, deltas, enabled, width, seeding):
    dev = logits.device
    cuda_kgw.apply_kgw_bias_(
        logits,
        ids,
        torch.from_numpy(keys.view(np.int32)).to(dev),
        torch.from_numpy(thresholds.view(np.int32)).to(dev),
        torch.from_numpy(deltas).to(dev),
        None if enabled is None else torch.from_numpy(enabled).to(dev),
        width,
        seeding,
    )


def _expected_bias(logits_np, ids_np, keys, thresholds, deltas, enabled, width, seeding, dtype,
                   use_reference: bool) -> np.ndarray:  # fmt: skip
    if use_reference:
        return ref.apply_kgw_bias(
            logits_np, ids_np, keys, thresholds, deltas, enabled, width, seeding, DTYPES[dtype]
        )
    out = np.array(logits_np, copy=True)
    if out.size == 0:  # _C rejects the odd strides torch gives empty tensors; nothing to do
        return out
    cpu_mod.apply_kgw_bias_(
        out, DTYPES[dtype], np.ascontiguousarray(ids_np), keys, thresholds, deltas, enabled,
        width, seeding,
    )  # fmt: skip
    return out


def _check_bias(seed, batch, vocab, dtype, width, seeding, *, ids_dtype=torch.int64,
                per_row=True, with_enabled=False, ids_len=None, pad=0, start=0,
                use_reference=True):  # fmt: skip
    """Bias a [batch, vocab] view (columns start..start+vocab of a [batch, start+vocab+pad]
    buffer, so rows may be unaligned) and compare every bit of the buffer."""
    rng = _rng(seed)
    full = _random_logits(rng, batch, start + vocab + pad, dtype)
    ids_len = width + 2 if ids_len is None else ids_len
    ids = rng.integers(0, 2**31 - 1, size=(batch, ids_len))
    keys, thresholds, deltas, enabled = _bias_params(rng, batch, per_row, with_enabled)
    want_full = _to_numpy(full).copy()
    want_full[:, start : start + vocab] = _expected_bias(
        _to_numpy(full[:, start : start + vocab]), ids, keys, thresholds, deltas, enabled, width,
        seeding, dtype, use_reference,
    )  # fmt: skip
    full_gpu = full.cuda()
    ids_gpu = torch.from_numpy(ids).to(ids_dtype).cuda()
    _run_cuda_bias(full_gpu[:, start : start + vocab], ids_gpu, keys, thresholds, deltas, enabled,
                   width, seeding)  # fmt: skip
    got = _bits(full_gpu)
    want = _bits(want_full)
    if not np.array_equal(got, want):
        bad = np.argwhere(got != want)[:5].tolist()
        pytest.fail(f"bias mismatch at {bad} (batch {batch}, vocab {vocab}, {dtype})")


# --- GPU: bias -------------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", list(DTYPES))
@pytest.mark.parametrize("vocab", [1, 17, 1019, 50257])
@pytest.mark.parametrize(("width", "seeding"), WIDTH_SEEDING)
@pytest.mark.parametrize("batch", [1, 3])
@pytest.mark.gpu
@pytest.mark.skipif(not HAS_GPU, reason="no CUDA device")
def test_bias_matches_reference(dtype, vocab, width, seeding, batch):
    case = vocab + 7 * width + 3 * seeding + batch
    _check_bias(case, batch, vocab, dtype, width, seeding,
                ids_dtype=torch.int32 if case % 2 else torch.int64,
                per_row=case % 3 != 0, with_enabled=case % 4 == 1)  # fmt: skip


@pytest.mark.parametrize("dtype", list(DTYPES))
@pytest.mark.parametrize("vocab", [32000, 50257, 128256, 151936])
@pytest.mark.parametrize("batch", [0, 1, 37])
@pytest.mark.parametrize("ids_dtype", [torch.int32, torch.int64])
@pytest.mark.gpu
@pytest.mark.skipif(not HAS_GPU, reason="no CUDA device")
def test_bias_large_matches_cpu(dtype, vocab, batch, ids_dtype):
    width, seeding = (4, 1) if ids_dtype == torch.int32 else (1, 0)
    _check_bias(vocab + batch, batch, vocab, dtype, width, seeding, ids_dtype=ids_dtype,
                per_row=batch % 2 == 1, with_enabled=True, use_reference=False)  # fmt: skip


@pytest.mark.parametrize("dtype", list(DTYPES))
@pytest.mark.parametrize(("start", "pad"), [(1, 0), (3, 5), (0, 1), (5, 2)])
@pytest.mark.parametrize("vocab", [17, 1019, 32000])
@pytest.mark.gpu
@pytest.mark.skipif(not HAS_GPU, reason="no CUDA device")
def test_bias_unaligned_rows_and_tails(dtype, start, pad, vocab):
    _check_bias(start * 31 + pad + vocab, 3, vocab, dtype, 1, 0, start=start, pad=pad,
                use_reference=vocab < 32000)  # fmt: skip


@pytest.mark.parametrize(("width", "ids_len"), [(4, 3), (4, 0), (0, 0), (1, 1), (1024, 1030)])
@pytest.mark.gpu
@pytest.mark.skipif(not HAS_GPU, reason="no CUDA device")
def test_bias_short_and_long_contexts(width, ids_len):
    _check_bias(width + ids_len, 3, 1019, torch.bfloat16, width, 0, ids_len=ids_len)


@pytest.mark.gpu
@pytest.mark.skipif(not HAS_GPU, reason="no CUDA device")
def test_bias_strided_logits_rows_like_transformers_scores():
    # scores[:, -1, :] of a [batch, seq, vocab] tensor: rows seq * vocab apart.
    rng = _rng(11)
    batch, seq, vocab = 5, 3, 1019
    full = _random_logits(rng, batch * seq, vocab, torch.float16).view(batch, seq, vocab)
    ids = rng.integers(0, 50000, size=(batch, 6))
    keys, thresholds, deltas, enabled = _bias_params(rng, batch, True, False)
    want = full.clone()
    want_last = ref.apply_kgw_bias(_to_numpy(full[:, -1, :]), ids, keys, thresholds, deltas, None,
                                   2, 1, "float16")  # fmt: skip
    want[:, -1, :] = torch.from_numpy(want_last)
    got = full.cuda()
    _run_cuda_bias(got[:, -1, :], torch.from_numpy(ids).cuda(), keys, thresholds, deltas, enabled,
                   2, 1)  # fmt: skip
    assert np.array_equal(_bits(got.view(-1, vocab)), _bits(want.view(-1, vocab)))


@pytest.mark.gpu
@pytest.mark.skipif(not HAS_GPU, reason="no CUDA device")
def test_bias_checks_tensors():
    dev = torch.device("cuda")
    logits = torch.zeros(2, 8, device=dev)
    ids = torch.zeros(2, 3, dtype=torch.int64, device=dev)
    keys = torch.zeros(1, 4, dtype=torch.int32, device=dev)
    thr = torch.ones(1, dtype=torch.int32, device=dev)
    delta = torch.ones(1, device=dev)
    ok = (logits, ids, keys, thr, delta, None, 1, 0)

    def call(i, value):
        args = list(ok)
        args[i] = value
        cuda_kgw.apply_kgw_bias_(*args)

    with pytest.raises(TypeError, match="logits"):
        call(0, logits.double())
    with pytest.raises(ValueError, match="logits"):
        call(0, torch.zeros(8, 2, device=dev).t())
    with pytest.raises(ValueError, match="logits"):
        call(0, logits.cpu())
    with pytest.raises(ValueError, match="input_ids"):
        call(1, ids[:1])
    with pytest.raises(ValueError, match="input_ids"):
        call(1, ids.cpu())
    with pytest.raises(TypeError, match="input_ids"):
        call(1, ids.float())
    with pytest.raises(ValueError, match="keys"):
        call(2, torch.zeros(1, 3, dtype=torch.int32, device=dev))
    with pytest.raises(TypeError, match="thresholds"):
        call(3, thr.long())
    with pytest.raises(ValueError, match="deltas"):
        call(4, torch.ones(3, device=dev))
    with pytest.raises(ValueError, match="enabled"):
        call(5, torch.ones(3, dtype=torch.uint8, device=dev))
    with pytest.raises(ValueError, match="context_width"):
        call(6, 2000)
    with pytest.raises(ValueError, match="seeding"):
        call(7, 5)


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float32])
@pytest.mark.gpu
@pytest.mark.skipif(not HAS_GPU, reason="no CUDA device")
def test_bias_cuda_graph_capture_and_replay(dtype):
    rng = _rng(5)
    batch, vocab, width = 4, 50257, 2
    dev = torch.device("cuda")
    keys, thresholds, deltas, enabled = _bias_params(rng, batch, True, True)
    k = torch.from_numpy(keys.view(np.int32)).to(dev)
    t = torch.from_numpy(thresholds.view(np.int32)).to(dev)
    d = torch.from_numpy(deltas).to(dev)
    e = torch.from_numpy(enabled).to(dev)
    static_logits = _random_logits(rng, batch, vocab, dtype).to(dev)
    static_ids = torch.from_numpy(rng.integers(0, 50000, size=(batch, 7))).to(dev)

    side = torch.cuda.Stream()
    side.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(side):
        cuda_kgw.apply_kgw_bias_(static_logits, static_ids, k, t, d, e, width, 0)
    torch.cuda.current_stream().wait_stream(side)
    graph = torch.cuda.CUDAGraph()
    with torch.cuda.graph(graph):
        cuda_kgw.apply_kgw_bias_(static_logits, static_ids, k, t, d, e, width, 0)

    for step in range(2):
        fresh = _random_logits(rng, batch, vocab, dtype)
        ids = rng.integers(0, 50000, size=(batch, 7))
        static_logits.copy_(fresh.to(dev))
        static_ids.copy_(torch.from_numpy(ids))
        graph.replay()
        torch.cuda.synchronize()
        want = ref.apply_kgw_bias(_to_numpy(fresh), ids, keys, thresholds, deltas, enabled, width,
                                  0, DTYPES[dtype])  # fmt: skip
        assert np.array_equal(_bits(static_logits), _bits(want)), f"replay {step}"


# --- GPU: scoring ----------------------------------------------------------------------------


def _score_case(rng, lens, vocab, with_prefix):
    offsets = np.concatenate([[0], np.cumsum(lens, dtype=np.int64)]).astype(np.int64)
    tokens = rng.integers(0, vocab, size=int(offsets[-1])).astype(np.int32)
    prefix = None
    if with_prefix:
        prefix = rng.integers(0, 9, size=len(lens)).astype(np.int64)
        if len(lens):
            prefix[-1] = 10**15  # longer than any document: nothing scored
    return tokens, offsets, prefix


def _cuda_score_poisoned(tokens, offsets, prefix, key, threshold, width, seeding, dedup,
                         want_flags):  # fmt: skip
    """Score into outputs and a workspace filled with junk first (the table poisoned with
    zeros, which would read as position 0 if the kernel forgot to clear it)."""
    dev = torch.device("cuda")
    t = torch.from_numpy(tokens).to(dev)
    o = torch.from_numpy(offsets).to(dev)
    p = None if prefix is None else torch.from_numpy(prefix).to(dev)
    n, d = len(tokens), len(offsets) - 1
    n_scored = torch.full((d,), -7, dtype=torch.int64, device=dev)
    n_green = torch.full((d,), -7, dtype=torch.int64, device=dev)
    green = counted = None
    if want_flags:
        green = torch.full((n,), 0x5A, dtype=torch.int8, device=dev)
        counted = torch.full((n,), 0x5A, dtype=torch.uint8, device=dev)
    ws = cuda_mod.score_kgw_workspace_bytes(n, dedup)
    workspace = torch.zeros(ws, dtype=torch.uint8, device=dev) if ws else None
    cuda_common.check_score_inputs(t, o, p, dedup)
    cuda_kgw._score_kgw_into(t, o, p, key, threshold, width, seeding, dedup, n_scored, n_green,
                              green, counted, workspace)  # fmt: skip
    outs = (n_scored, n_green, green, counted)
    return tuple(None if x is None else x.cpu().numpy() for x in outs)


def _check_score(tokens, offsets, prefix, width, seeding, dedup, use_reference, threshold=None):
    key = KEY
    threshold = GAMMA_25 if threshold is None else threshold
    if use_reference:
        want = ref.score_kgw(tokens, offsets, prefix, key, threshold, width, seeding, dedup)
    else:
        want = cpu_mod.score_kgw(tokens, offsets, prefix, np.array(key, dtype=np.uint32),
                                 threshold, width, seeding, dedup, True)  # fmt: skip
    names = ("n_scored", "n_green", "green", "counted")
    for want_flags in (True, False):
        got = _cuda_score_poisoned(tokens, offsets, prefix, key, threshold, width, seeding, dedup,
                                   want_flags)  # fmt: skip
        for name, w, g in zip(names, want, got, strict=True):
            if g is None:
                continue
            if not np.array_equal(np.asarray(w), g):
                bad = np.argwhere(np.asarray(w) != g)[:5].ravel().tolist()
                pytest.fail(f"{name} differs at {bad} (dedup={dedup}, flags={want_flags})")


@pytest.mark.parametrize(("width", "seeding"), WIDTH_SEEDING)
@pytest.mark.parametrize("dedup", [False, True])
@pytest.mark.parametrize("with_prefix", [False, True])
@pytest.mark.gpu
@pytest.mark.skipif(not HAS_GPU, reason="no CUDA device")
def test_score_matches_reference(width, seeding, dedup, with_prefix):
    rng = _rng(100 * width + 10 * seeding + 2 * dedup + with_prefix)
    lens = [0, 1, width, width + 1, 0, 0, 2, 300, 37, 1, 900]
    # A small vocabulary makes (context, token) pairs repeat, so dedup has work to do.
    for vocab in (5, 50257):
        tokens, offsets, prefix = _score_case(rng, lens, vocab, with_prefix)
        _check_score(tokens, offsets, prefix, width, seeding, dedup, use_reference=True)


@pytest.mark.parametrize(("width", "seeding", "vocab"), [(1, 0, 4), (4, 1, 30), (0, 0, 3),
                                                          (2, 0, 50257)])  # fmt: skip
@pytest.mark.parametrize("dedup", [False, True])
@pytest.mark.gpu
@pytest.mark.skipif(not HAS_GPU, reason="no CUDA device")
def test_score_large_matches_cpu(width, seeding, vocab, dedup):
    rng = _rng(width * 1000 + vocab)
    # Many short and empty documents around one long one, and runs of 1-token documents.
    lens = np.concatenate([
        rng.integers(0, 3000, size=400), np.zeros(500, np.int64), [1_000_000],
        np.ones(5000, np.int64), rng.integers(0, 5, size=3000),
    ]).astype(np.int64)  # fmt: skip
    tokens, offsets, prefix = _score_case(rng, lens, vocab, with_prefix=True)
    _check_score(tokens, offsets, prefix, width, seeding, dedup, use_reference=False)


@pytest.mark.parametrize("dedup", [False, True])
@pytest.mark.gpu
@pytest.mark.skipif(not HAS_GPU, reason="no CUDA device")
def test_score_one_long_repetitive_document(dedup):
    # Every position shares a handful of keys: worst-case contention on the dedup table.
    rng = _rng(3)
    tokens = rng.integers(0, 2, size=2_000_000).astype(np.int32)
    offsets = np.array([0, len(tokens)], dtype=np.int64)
    _check_score(tokens, offsets, None, 1, 0, dedup, use_reference=False)


@pytest.mark.parametrize("dedup", [False, True])
@pytest.mark.gpu
@pytest.mark.skipif(not HAS_GPU, reason="no CUDA device")
def test_score_empty_inputs(dedup):
    empty = np.zeros(0, dtype=np.int32)
    _check_score(empty, np.array([0], dtype=np.int64), None, 1, 0, dedup, use_reference=True)
    _check_score(empty, np.zeros(6, dtype=np.int64), None, 1, 0, dedup, use_reference=True)
    one = np.array([7], dtype=np.int32)
    _check_score(one, np.array([0, 0, 1, 1], dtype=np.int64), None, 0, 0, dedup,
                 use_reference=True)  # fmt: skip


@pytest.mark.gpu
@pytest.mark.skipif(not HAS_GPU, reason="no CUDA device")
def test_score_public_api_allocates_outputs():
    rng = _rng(9)
    tokens, offsets, prefix = _score_case(rng, [5, 0, 40, 3], 7, with_prefix=True)
    dev = torch.device("cuda")
    t = torch.from_numpy(tokens).to(dev)
    o = torch.from_numpy(offsets).to(dev)
    p = torch.from_numpy(prefix).to(dev)
    want = ref.score_kgw(tokens, offsets, prefix, KEY, GAMMA_25, 1, 0, True)
    got = cuda_kgw.score_kgw(t, o, p, KEY, GAMMA_25, 1, 0, True, True)
    for w, g in zip(want, got, strict=True):
        assert g.device.type == "cuda" and g.device.index == torch.cuda.current_device()
        assert np.array_equal(w, g.cpu().numpy())
    n_scored, n_green, green, counted = cuda_kgw.score_kgw(t, o, None, KEY, GAMMA_25, 1, 0,
                                                            False, False)  # fmt: skip
    assert green is None and counted is None
    assert n_scored.dtype == torch.int64 and n_green.dtype == torch.int64


@pytest.mark.gpu
@pytest.mark.skipif(not HAS_GPU, reason="no CUDA device")
def test_score_checks_inputs():
    dev = torch.device("cuda")
    t = torch.tensor([1, 2, 3, 4], dtype=torch.int32, device=dev)
    o = torch.tensor([0, 2, 4], device=dev)

    def call(tokens=t, offsets=o, prefix=None, key=KEY, threshold=GAMMA_25, width=1):
        cuda_kgw.score_kgw(tokens, offsets, prefix, key, threshold, width, 0, True, True)

    with pytest.raises(ValueError, match="offsets: must start at 0"):
        call(offsets=torch.tensor([1, 2, 4], device=dev))
    with pytest.raises(ValueError, match="last entry"):
        call(offsets=torch.tensor([0, 2, 3], device=dev))
    with pytest.raises(ValueError, match="non-decreasing"):
        call(offsets=torch.tensor([0, 3, 2, 4], device=dev))
    with pytest.raises(ValueError, match="offsets: needs at least one entry"):
        call(offsets=torch.zeros(0, dtype=torch.int64, device=dev))
    with pytest.raises(ValueError, match="tokens: token ids must be >= 0"):
        call(tokens=torch.tensor([1, -2, 3, 4], dtype=torch.int32, device=dev))
    with pytest.raises(ValueError, match="prefix_lengths: must be >= 0"):
        call(prefix=torch.tensor([0, -1], device=dev))
    with pytest.raises(ValueError, match="prefix_lengths"):
        call(prefix=torch.tensor([0, 1, 2], device=dev))
    with pytest.raises(TypeError, match="tokens"):
        call(tokens=t.long())
    with pytest.raises(TypeError, match="offsets"):
        call(offsets=o.int())
    with pytest.raises(ValueError, match="tokens"):
        call(tokens=t.cpu())
    with pytest.raises(ValueError, match="offsets"):
        call(offsets=o.cpu())
    with pytest.raises(ValueError, match="threshold"):
        call(threshold=0)
    with pytest.raises(ValueError, match="key"):
        call(key=(1, 2, 3))
    with pytest.raises(ValueError, match="context_width"):
        call(width=4096)
