"""The processors' fused host step (``_C.sample_*_one_hot_``): the sampler's tokens, then each row
with a token one-hot at it in place; and the processors on the C++ backend (fused, bare views)
against the same processors on the numpy reference backend (unfused, fully checked)."""

import numpy as np
import pytest
import tokenmark as tm
import torch
from tokenmark import _C

KEYS = tm.Gumbel(key=b"fused").key.words.reshape(1, 4)
MINUS_INF_BITS = {"float16": 0xFC00, "bfloat16": 0xFF80}


def _logits(dtype: str, batch: int, vocab: int, seed: int) -> np.ndarray:
    x = np.random.default_rng(seed).normal(0, 3, (batch, vocab)).astype(np.float32)
    if dtype == "float32":
        return x
    if dtype == "float16":
        return x.astype(np.float16)
    return (x.view(np.uint32) >> 16).astype(np.uint16).view(np.int16)  # bfloat16 bits


def _expected_one_hot(before: np.ndarray, dtype: str, tokens: np.ndarray) -> np.ndarray:
    """Written independently of the kernel: bit patterns of -inf and +0 per dtype."""
    want = before.copy()
    for b, t in enumerate(tokens):
        if t < 0:
            continue
        if dtype == "float32":
            want[b] = -np.inf
        else:
            want[b].view(np.uint16)[:] = MINUS_INF_BITS[dtype]
        want[b, t] = 0
    return want


def _gumbel(fn, x, dtype, ids, enabled):
    return fn(x, dtype, ids, KEYS, np.zeros(1, np.uint32), enabled, 2, 0, True)


def _synthid(fn, x, dtype, ids, enabled):
    u = np.linspace(0.05, 0.95, x.shape[0])
    return fn(x, dtype, ids, KEYS, u, enabled, 2, 0, 30, 0, 1024)[0]


CASES = [
    (_C.sample_gumbel, _C.sample_gumbel_one_hot_, _gumbel),
    (_C.sample_synthid, _C.sample_synthid_one_hot_, _synthid),
]


@pytest.mark.parametrize("plain,fused,call", CASES, ids=["gumbel", "synthid"])
@pytest.mark.parametrize("dtype", ["float32", "float16", "bfloat16"])
@pytest.mark.parametrize("batch,vocab", [(0, 17), (1, 1), (5, 1019)])
def test_fused_step_is_sampler_then_one_hot(plain, fused, call, dtype, batch, vocab):
    x = _logits(dtype, batch, vocab, seed=batch + vocab)
    ids = np.random.default_rng(1).integers(0, vocab, (batch, 6)).astype(np.int64)
    enabled = np.ones(batch, np.uint8)
    enabled[::3] = 0  # Gumbel leaves these rows alone; SynthID samples them untouched by keys
    want_tokens = call(plain, x, dtype, ids, enabled)
    out = x.copy()
    got_tokens = call(fused, out, dtype, ids, enabled)
    np.testing.assert_array_equal(got_tokens, want_tokens)
    want = _expected_one_hot(x, dtype, want_tokens)
    np.testing.assert_array_equal(out.view(np.uint8), want.view(np.uint8))


@pytest.mark.parametrize("fused,call", [(c[1], c[2]) for c in CASES], ids=["gumbel", "synthid"])
def test_fused_step_bad_input(fused, call):
    x = _logits("float32", 3, 64, seed=0)
    x[1] = -np.inf
    ids = np.arange(12, dtype=np.int64).reshape(3, 4)  # no repeated context
    before = x.copy()
    with pytest.raises(ValueError, match="row 1 has no finite entry"):
        call(fused, x, "float32", ids, None)
    np.testing.assert_array_equal(x, before)  # nothing written
    x[1] = 0.0
    x.flags.writeable = False
    with pytest.raises(ValueError, match="logits: must be writeable"):
        call(fused, x, "float32", ids, None)


@pytest.mark.parametrize("scheme", ["gumbel", "synthid", "kgw"])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float16, torch.bfloat16])
def test_processor_on_cpp_matches_reference_backend(scheme, dtype):
    make = {"gumbel": tm.Gumbel, "synthid": tm.SynthID, "kgw": tm.KGW}[scheme]
    wm = make(key=b"fused processors", context_width=2)
    g = torch.Generator().manual_seed(5)
    scores = (torch.randn(6, 333, generator=g) * 3).to(dtype)
    ids = torch.randint(0, 333, (6, 8), generator=g, dtype=torch.int64)
    ids[2, -3:] = ids[2, -1]  # a repeated context: an unwatermarked Gumbel row
    outs = []
    for backend in ("cpu", "reference"):
        torch.manual_seed(11)  # the SynthID draws
        outs.append(wm.logits_processor(backend=backend)(ids, scores.clone()))
    assert torch.equal(outs[0].view(torch.int16), outs[1].view(torch.int16))
    # int32 and non-contiguous ids take the same path to the same answer.
    torch.manual_seed(11)
    odd_ids = ids.to(torch.int32).t().contiguous().t()
    third = wm.logits_processor(backend="cpu")(odd_ids, scores.clone())
    assert torch.equal(third.view(torch.int16), outs[0].view(torch.int16))
