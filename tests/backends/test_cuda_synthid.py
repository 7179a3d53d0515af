"""The CUDA SynthID-Text scoring kernel: argument checks everywhere, counts against the CPU op on
a GPU (``_C``, itself bit-exact with the numpy reference, see test_synthid.py). Counts and flags
are integers and must match exactly."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from cuda_helpers import SCORE_BINDING_CASES
from tokenmark import ops
from tokenmark.backends.cuda import synthid as cuda_synthid

cuda_mod = pytest.importorskip(
    "tokenmark._cuda", reason="tokenmark was built without CUDA", exc_type=ModuleNotFoundError
)

HAS_GPU = torch.cuda.is_available() and cuda_mod.device_count() > 0
KEY = (0x01234567, 0x89ABCDEF, 0xDEADBEEF, 0x0BADF00D)


def _score_binding(**overrides):
    args = dict(
        tokens=256, n_tokens=4, offsets=512, n_docs=1, prefix=0, key=KEY, width=1, seeding=0,
        layers=30, dedup=False, n_scored=2048, ones=4096, counted=0, workspace=0,
        workspace_bytes=0, device=0, stream=0,
    )  # fmt: skip
    args.update(overrides)
    return cuda_mod.score_synthid(**args)


@pytest.mark.parametrize(
    ("overrides", "match"),
    SCORE_BINDING_CASES
    + [
        ({"layers": 0}, "layers"),
        ({"layers": 33}, "layers"),
        ({"seeding": 5}, "seeding"),
        ({"dedup": True}, "workspace: needs"),
        ({"dedup": True, "workspace_bytes": 1 << 10}, "workspace: null"),
        ({"ones": 4100}, "ones: device pointer not aligned"),
        ({"device": -1}, "device"),
    ],
)
def test_score_binding_validates(overrides, match):
    with pytest.raises(ValueError, match=match):
        _score_binding(**overrides)


def test_score_workspace_bytes_and_empty():
    assert cuda_mod.score_synthid_workspace_bytes(10, True) == 80
    assert cuda_mod.score_synthid_workspace_bytes(10, False) == 0
    with pytest.raises(ValueError, match="n_tokens"):
        cuda_mod.score_synthid_workspace_bytes(-1, True)
    _score_binding(n_tokens=0, n_docs=0, tokens=0, n_scored=0, ones=0)


@pytest.mark.skipif(HAS_GPU, reason="checks the behaviour without a CUDA device")
def test_no_device_gives_clear_errors():
    with pytest.raises(RuntimeError, match="no CUDA device"):
        cuda_synthid.score_synthid(None, None, None, KEY, 1, 0, 30, False, False)
    with pytest.raises(RuntimeError, match="tokenmark CUDA score_synthid"):
        _score_binding()


@pytest.mark.parametrize(
    "lens",
    [[0, 1, 4, 5, 300, 0, 0, 2], [0], [7], [], [1] * 100 + [0] * 50 + [40], [20000, 3, 9000]],
)
@pytest.mark.parametrize(("width", "seeding", "layers"), [(0, 0, 1), (1, 0, 30), (4, 1, 32)])
@pytest.mark.parametrize("dedup", [False, True])
@pytest.mark.gpu
@pytest.mark.skipif(not HAS_GPU, reason="no CUDA device")
def test_score_matches_cpu(lens, width, seeding, layers, dedup):
    gen = torch.Generator().manual_seed(len(lens) * 7 + width)
    offsets = torch.tensor(np.concatenate([[0], np.cumsum(lens)]), dtype=torch.int64)
    # A small vocabulary makes (context, token) pairs repeat, so dedup matters.
    vocab = 6 if dedup else 50000
    tokens = torch.randint(0, vocab, (int(offsets[-1]),), generator=gen, dtype=torch.int32)
    rng = np.random.default_rng(width + 17 * len(lens))
    prefix = torch.tensor(rng.integers(0, 8, size=len(lens)), dtype=torch.int64)
    kw = dict(key=KEY, context_width=width, seeding=seeding, layers=layers, dedup=dedup)
    for pre in (None, prefix):
        want = ops.score_synthid(
            tokens.numpy(), offsets.numpy(), prefix_lengths=None if pre is None else pre.numpy(),
            want_flags=True, backend="cpu", **kw,
        )  # fmt: skip
        got = ops.score_synthid(
            tokens.cuda(), offsets.cuda(), prefix_lengths=None if pre is None else pre.cuda(),
            want_flags=True, **kw,
        )  # fmt: skip
        assert all(t.is_cuda for t in got)
        for g, w in zip(got, want, strict=True):
            np.testing.assert_array_equal(g.cpu().numpy(), w)
        n, ones, flags = ops.score_synthid(
            tokens.cuda(), offsets.cuda(), prefix_lengths=None if pre is None else pre.cuda(), **kw
        )
        assert flags is None
        np.testing.assert_array_equal(ones.cpu().numpy(), want[1])
