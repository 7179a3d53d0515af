"""GINSEW on Triton: the embedding, one program per row (two passes over it)."""

from __future__ import annotations

import torch

from ...kernels import ginsew_bias
from .._torch import row_param_stride
from . import _common
from ._common import (
    block_for,
    check_id_range,
    check_logits_ids,
    is_interpreted,
    kernel_logits,
    on_device,
)

# The compiled kernel loops over a row in blocks of this many ids; the interpreter takes the
# largest power of two up to the vocabulary (fewest steps).
GINSEW_BLOCK = 2048


def apply_ginsew_(
    logits: torch.Tensor,
    input_ids: torch.Tensor,
    keys: torch.Tensor,
    thresholds: torch.Tensor,
    epsilon: torch.Tensor,
    frequency: torch.Tensor,
    enabled: torch.Tensor | None,
    context_width: int,
    position: int,
) -> None:
    """GINSEW log-probabilities in place, as the CUDA backend's apply_ginsew_.

    Arguments as :func:`tokenmark.ops.apply_ginsew_`, already normalised (tensors on one
    device, scalars checked).
    """
    kernel = ginsew_bias.ginsew_bias_kernel
    batch, vocab, enabled, key_stride = check_logits_ids(kernel, logits, input_ids, keys, enabled)
    dev = logits.device
    strides = (
        key_stride,
        row_param_stride(thresholds, "thresholds", dev, torch.int32, batch),
        row_param_stride(epsilon, "epsilon", dev, torch.float64, batch),
        row_param_stride(frequency, "frequency", dev, torch.float64, batch),
    )
    if dev.type == "cpu":
        window = input_ids[:, position:] if position >= 0 else input_ids[:, -context_width:]
        check_id_range(window)
    if batch == 0 or vocab == 0:
        return
    interpreted = is_interpreted(kernel)
    block = block_for(kernel, vocab, GINSEW_BLOCK)
    x, is_bf16 = kernel_logits(logits)
    with on_device(dev):
        kernel[(batch,)](
            x, input_ids, keys, thresholds,
            epsilon, frequency, enabled, vocab, logits.stride(0), input_ids.shape[1],
            input_ids.stride(0), max(position, 0), *strides, WIDTH=context_width,
            USE_POSITION=position >= 0, HAS_ENABLED=enabled is not None, IS_BF16=is_bf16,
            BLOCK=block, INTERPRETED=interpreted, num_warps=_common.NUM_WARPS,
        )  # fmt: skip
