"""GINSEW on CUDA: the embedding (log-probabilities with the keyed sinusoidal shift), one launch.

Checks read tensor metadata only: no host sync, no allocation, so a decode step can be captured
in a CUDA graph.
"""

from __future__ import annotations

import torch

from .._torch import check_row_inputs, row_param_stride
from ._common import LOGITS_DTYPES, _cuda, require_cuda


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
    """Replace ``logits`` by the GINSEW log-probabilities in place, on its CUDA device.

    Arguments as :func:`tokenmark.ops.apply_ginsew_`, already normalised (tensors on one
    device, scalars checked); ``position`` -1 takes the time from the last ``context_width`` ids.
    """
    require_cuda()
    batch, vocab, key_stride = check_row_inputs(logits, input_ids, keys, enabled, LOGITS_DTYPES)
    dev = logits.device
    strides = (
        row_param_stride(thresholds, "thresholds", dev, torch.int32, batch),
        row_param_stride(epsilon, "epsilon", dev, torch.float64, batch),
        row_param_stride(frequency, "frequency", dev, torch.float64, batch),
    )
    if batch == 0 or vocab == 0:
        return
    en = 0 if enabled is None else enabled.view(torch.uint8).data_ptr()
    _cuda.apply_ginsew_(
        logits.data_ptr(), batch, vocab, logits.stride(0), LOGITS_DTYPES[logits.dtype],
        input_ids.data_ptr(), input_ids.dtype == torch.int64, input_ids.shape[1],
        input_ids.stride(0), keys.data_ptr(), key_stride, thresholds.data_ptr(), strides[0],
        epsilon.data_ptr(), strides[1], frequency.data_ptr(), strides[2], en, context_width,
        position, dev.index, torch.cuda.current_stream(dev).cuda_stream,
    )  # fmt: skip
