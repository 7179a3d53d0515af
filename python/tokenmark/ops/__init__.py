"""The public low-level operations: normalise the arguments, pick the backend, call it.

``backend`` is ``"auto"`` (the default; the environment variable ``TOKENMARK_BACKEND`` overrides
it), ``"cpu"`` (C++), ``"cuda"``, ``"triton"`` or ``"reference"`` (numpy); see
:mod:`tokenmark.backends` for the table and the ``auto`` rules. Host backends get numpy arrays,
GPU backends torch tensors on the data's device. Scalars are checked here, once, for every
backend: an error names the argument and never shows key material.
"""

from .ginsew import apply_ginsew_
from .gumbel import sample_gumbel, score_gumbel
from .keys import score_gumbel_keys, score_kgw_keys, score_synthid_keys
from .kgw import apply_kgw_bias_, score_kgw
from .sglang import score_sglang
from .synthid import sample_synthid, score_synthid
from .synthid_text import score_synthid_text, synthid_text_g_values, synthid_text_layer_bits
from .torch_mt import torch_cpu_green_lists, torch_cpu_randperm
from .vllm import score_vllm

__all__ = [
    "apply_ginsew_",
    "apply_kgw_bias_",
    "sample_gumbel",
    "sample_synthid",
    "score_gumbel",
    "score_gumbel_keys",
    "score_kgw",
    "score_kgw_keys",
    "score_sglang",
    "score_synthid",
    "score_synthid_keys",
    "score_synthid_text",
    "score_vllm",
    "synthid_text_g_values",
    "synthid_text_layer_bits",
    "torch_cpu_green_lists",
    "torch_cpu_randperm",
]
