"""What the Triton test files share: whether the kernels run under the Triton interpreter
(conftest.py sets TRITON_INTERPRET=1 without a GPU), the device their tensors live on, and the
mark of the tests that need the compiled kernels. Import it after
``pytest.importorskip("triton")``."""

from __future__ import annotations

import pytest
from conftest import cuda_available
from tokenmark.backends.triton import _common as triton_common
from tokenmark.kernels import prf as tprf

INTERPRETING = triton_common.is_interpreted(tprf.philox4x32_10)
DEVICE = "cpu" if INTERPRETING or not cuda_available() else "cuda"


def gpu_test(fn):
    """A test of the compiled kernels on a GPU."""
    for mark in (
        pytest.mark.gpu,
        pytest.mark.skipif(not cuda_available(), reason="no CUDA device"),
        pytest.mark.skipif(INTERPRETING, reason="TRITON_INTERPRET=1: the compiled kernels are off"),
    ):
        fn = mark(fn)
    return fn


def assert_rejects(fn, ok: dict, cases) -> None:
    """``fn(**ok)`` with each case's ``change`` applied raises the case's exception, with a message
    naming the argument: cases are ``(exception, name, change)``. ``fn(**ok)`` itself must run,
    so that each case fails for its own change."""
    fn(**ok)
    for exc, name, change in cases:
        with pytest.raises(exc, match=name):
            fn(**{**ok, **change})


def row_bad_cases(logits, ids, keys) -> list:
    """What every bias and sampling wrapper rejects in the arguments they share (``logits``
    ``[2, 10]``, ``ids`` ``[2, 4]`` int64, ``keys`` int32 ``[1, 4]``, on DEVICE)."""
    import torch

    cases = [
        (TypeError, "logits", dict(logits=logits.double())),
        (ValueError, "logits", dict(logits=logits[:, ::2])),
        (TypeError, "input_ids", dict(input_ids=ids.float())),
        (ValueError, "input_ids", dict(input_ids=ids[:1])),
        (TypeError, "keys", dict(keys=keys.to(torch.int64))),
        (ValueError, "keys", dict(keys=torch.zeros(3, 4, dtype=torch.int32, device=DEVICE))),
        (TypeError, "enabled", dict(enabled=torch.ones(2, dtype=torch.int32, device=DEVICE))),
        (ValueError, "seeding", dict(seeding=2)),
    ]
    if DEVICE == "cpu":  # id values are checked on host tensors only (a device check would sync)
        cases.append((ValueError, "input_ids", dict(input_ids=torch.full((2, 4), -1))))
    return cases


def score_ok(**scheme_args) -> dict:
    """A valid scoring call on DEVICE (two documents in 5 tokens, width 1, dedup) with the
    scheme's own arguments, as keywords: what the bad-input cases change one at a time."""
    import torch

    return dict(
        tokens=torch.zeros(5, dtype=torch.int32, device=DEVICE),
        offsets=torch.tensor([0, 2, 5], device=DEVICE),
        prefix_lengths=None,
        key_words=(0x01234567, 0x89ABCDEF, 0xDEADBEEF, 0x0BADF00D),
        context_width=1,
        seeding=0,
        dedup=True,
        want_flags=False,
        **scheme_args,
    )


def score_bad_cases(ok: dict) -> list:
    """What every scoring wrapper rejects in the ragged arguments they share (``ok`` from
    :func:`score_ok`)."""
    import torch

    tokens, offsets = ok["tokens"], ok["offsets"]
    return [
        (TypeError, "tokens", dict(tokens=tokens.long())),
        (TypeError, "tokens", dict(tokens=tokens.cpu().numpy())),
        (TypeError, "offsets", dict(offsets=offsets.int())),
        (ValueError, "offsets", dict(offsets=torch.tensor([0, 3, 2, 5], device=DEVICE))),
        (ValueError, "offsets", dict(offsets=torch.tensor([0, 2, 4], device=DEVICE))),
        (ValueError, "offsets", dict(offsets=torch.tensor([1, 2, 5], device=DEVICE))),
        (ValueError, "tokens", dict(tokens=torch.full((5,), -3, dtype=torch.int32, device=DEVICE))),
        (ValueError, "prefix", dict(prefix_lengths=torch.tensor([-1, 0], device=DEVICE))),
        (ValueError, "prefix", dict(prefix_lengths=torch.tensor([1], device=DEVICE))),
        (ValueError, "key_words", dict(key_words=(1, 2, 3, 2**32))),
        (ValueError, "key_words", dict(key_words=(1, 2, 3))),
        (ValueError, "context_width", dict(context_width=-1)),
        (ValueError, "seeding", dict(seeding=5)),
    ]
