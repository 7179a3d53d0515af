"""What the CUDA backend's schemes share: the ``_cuda`` extension (absent when tokenmark was built
without CUDA), the device check, and the validation of ragged scoring inputs."""

from __future__ import annotations

import functools

import torch

from ..._inputs import check_ragged_values
from .._torch import check_tensor

try:
    from ... import _cuda
except ImportError:  # built without CUDA (TOKENMARK_CUDA=OFF, or no nvcc with AUTO)
    _cuda = None

LOGITS_DTYPES = {torch.float32: 0, torch.float16: 1, torch.bfloat16: 2}


@functools.cache
def _device_count() -> int:
    return _cuda.device_count() if _cuda is not None else 0


def available() -> bool:
    """Whether the CUDA kernels were built and a CUDA device is present."""
    return _device_count() > 0


def require_cuda() -> None:
    if _cuda is None:
        raise RuntimeError(
            "tokenmark was built without CUDA (the tokenmark._cuda extension is missing); "
            "reinstall with TOKENMARK_CUDA=ON on a machine with nvcc"
        )
    if _device_count() == 0:
        raise RuntimeError("no CUDA device: tokenmark's CUDA kernels need a GPU and its driver")


def scratch(n_bytes: int, device: torch.device) -> tuple[torch.Tensor, int, int]:
    """``n_bytes`` of device scratch for a launch, in float64 elements (the kernels need it 8-byte
    aligned): the tensor (hold it until the launch is queued), its pointer (0 when empty) and its
    size in bytes."""
    t = torch.empty((n_bytes + 7) // 8, dtype=torch.float64, device=device)
    return t, (t.data_ptr() if n_bytes else 0), t.numel() * 8


def check_score_inputs(
    tokens: torch.Tensor, offsets: torch.Tensor, prefix_lengths: torch.Tensor | None, dedup: bool
) -> None:
    """Shape checks on the host, then value checks on the device with one host sync."""
    if not isinstance(tokens, torch.Tensor) or not tokens.is_cuda:
        raise ValueError("tokens: expected a CUDA tensor")
    device = tokens.device
    check_tensor(tokens, "tokens", device, (torch.int32,), 1)
    check_tensor(offsets, "offsets", device, (torch.int64,), 1)
    if not tokens.is_contiguous() or not offsets.is_contiguous():
        raise ValueError("tokens, offsets: must be contiguous")
    if offsets.shape[0] < 1:
        raise ValueError("offsets: needs at least one entry (0)")
    if dedup and tokens.shape[0] >= 2**31:
        raise ValueError("tokens: dedup supports at most 2^31 - 1 tokens")
    n_docs = offsets.shape[0] - 1
    if prefix_lengths is not None:
        check_tensor(prefix_lengths, "prefix_lengths", device, (torch.int64,), 1)
        if prefix_lengths.shape[0] != n_docs or not prefix_lengths.is_contiguous():
            raise ValueError(f"prefix_lengths: expected a contiguous tensor of shape [{n_docs}]")
    check_ragged_values(tokens, offsets, prefix_lengths)
