"""The backends and the one table that maps ``(operation, backend)`` to the function that runs it.

Backends: ``"cpu"`` (C++, :mod:`.cpu`), ``"reference"`` (numpy, :mod:`.reference`), ``"cuda"``
(:mod:`.cuda`, one module per scheme) and ``"triton"`` (:mod:`.triton`, one module per scheme).
The host backends take numpy arrays, the GPU backends torch tensors; :mod:`tokenmark.ops`
normalises the arguments for each. The GPU modules import torch (and Triton) when first used, so
importing tokenmark needs neither.

``auto`` (:func:`resolve`) sends host data to ``cpu`` and CUDA tensors to ``cuda``, except the
KGW bias on large float32 logits, which goes to ``triton`` (see ``TRITON_BIAS_MIN_FP32``). The
environment variable ``TOKENMARK_BACKEND`` overrides ``auto``.

Adding a backend or an operation: write the function in the backend's module (for a GPU backend,
in the module of its scheme), add its row to ``_TABLE``, and the parity grid in
``tests/backends/test_parity_grid.py`` picks it up.
"""

from __future__ import annotations

import functools
import importlib.util
import os
from collections.abc import Callable

from . import cpu, reference

BACKENDS = ("auto", "cpu", "cuda", "triton", "reference")
OPS = (
    "apply_kgw_bias_",
    "score_kgw",
    "sample_gumbel",
    "score_gumbel",
    "sample_synthid",
    "score_synthid",
    "apply_ginsew_",
    # dialects (other implementations' watermarks): host backends (score_sglang, score_vllm and
    # score_synthid_text: CUDA too)
    "score_sglang",
    "score_vllm",
    "synthid_text_g_values",
    "score_synthid_text",
    "torch_cpu_randperm",
    "torch_cpu_green_lists",
    "score_kgw_keys",
    "score_gumbel_keys",
    "score_synthid_keys",
)

# Measured on an H100 (bench/RESULTS.md): for float32 logits of at least this many entries the
# Triton bias kernel runs nearer the copy bandwidth (0.95 vs 0.78 at 256 x 128256); below it,
# and for 16-bit logits, the CUDA kernel is faster (it launches in about half the host time).
TRITON_BIAS_MIN_FP32 = 1 << 24

# Under ``auto``, Gumbel sampling of CUDA logits with rows of at least this many entries goes to
# the Triton kernel; None: every shape stays on CUDA. Measured on an H200 (bench/RESULTS.md,
# bench_gpu_gumbel.py's layout table): Triton took 1.1-4.6x the better CUDA layout at every
# shape from batch 1 to 128 and vocab 8192 to 151936, so no shape goes to Triton.
TRITON_GUMBEL_MIN_VOCAB: int | None = None


def gumbel_sample_prefers_triton(vocab: int) -> bool:
    """Whether ``auto`` sends Gumbel sampling of rows of ``vocab`` entries to Triton."""
    return TRITON_GUMBEL_MIN_VOCAB is not None and vocab >= TRITON_GUMBEL_MIN_VOCAB


def _cuda_kgw():
    from .cuda import kgw

    return kgw


def _cuda_gumbel():
    from .cuda import gumbel

    return gumbel


def _cuda_synthid():
    from .cuda import synthid

    return synthid


def _cuda_ginsew():
    from .cuda import ginsew

    return ginsew


def _cuda_vllm():
    from .cuda import vllm

    return vllm


def _cuda_sglang():
    from .cuda import sglang

    return sglang


def _cuda_synthid_text():
    from .cuda import synthid_text

    return synthid_text


def _triton_kgw():
    from .triton import kgw

    return kgw


def _triton_gumbel():
    from .triton import gumbel

    return gumbel


def _triton_synthid():
    from .triton import synthid

    return synthid


def _triton_ginsew():
    from .triton import ginsew

    return ginsew


# (operation, backend) -> a loader of the function: GPU modules are imported on first use.
_TABLE: dict[tuple[str, str], Callable[[], Callable]] = {
    ("apply_kgw_bias_", "cpu"): lambda: cpu.apply_kgw_bias_,
    ("apply_kgw_bias_", "reference"): lambda: reference.apply_kgw_bias_,
    ("apply_kgw_bias_", "cuda"): lambda: _cuda_kgw().apply_kgw_bias_,
    ("apply_kgw_bias_", "triton"): lambda: _triton_kgw().apply_kgw_bias_,
    ("score_kgw", "cpu"): lambda: cpu.score_kgw,
    ("score_kgw", "reference"): lambda: reference.score_kgw,
    ("score_kgw", "cuda"): lambda: _cuda_kgw().score_kgw,
    ("score_kgw", "triton"): lambda: _triton_kgw().score_kgw,
    ("sample_gumbel", "cpu"): lambda: cpu.sample_gumbel,
    ("sample_gumbel", "reference"): lambda: reference.sample_gumbel,
    ("sample_gumbel", "cuda"): lambda: _cuda_gumbel().sample_gumbel,
    ("sample_gumbel", "triton"): lambda: _triton_gumbel().sample_gumbel,
    ("score_gumbel", "cpu"): lambda: cpu.score_gumbel,
    ("score_gumbel", "reference"): lambda: reference.score_gumbel,
    ("score_gumbel", "cuda"): lambda: _cuda_gumbel().score_gumbel,
    ("score_gumbel", "triton"): lambda: _triton_gumbel().score_gumbel,
    ("sample_synthid", "cpu"): lambda: cpu.sample_synthid,
    ("sample_synthid", "reference"): lambda: reference.sample_synthid,
    ("sample_synthid", "cuda"): lambda: _cuda_synthid().sample_synthid,
    ("sample_synthid", "triton"): lambda: _triton_synthid().sample_synthid,
    ("score_synthid", "cpu"): lambda: cpu.score_synthid,
    ("score_synthid", "reference"): lambda: reference.score_synthid,
    ("score_synthid", "cuda"): lambda: _cuda_synthid().score_synthid,
    ("score_synthid", "triton"): lambda: _triton_synthid().score_synthid,
    ("apply_ginsew_", "cpu"): lambda: cpu.apply_ginsew_,
    ("apply_ginsew_", "reference"): lambda: reference.apply_ginsew_,
    ("apply_ginsew_", "cuda"): lambda: _cuda_ginsew().apply_ginsew_,
    ("apply_ginsew_", "triton"): lambda: _triton_ginsew().apply_ginsew_,
    ("score_sglang", "cpu"): lambda: cpu.score_sglang,
    ("score_sglang", "reference"): lambda: reference.score_sglang,
    ("score_sglang", "cuda"): lambda: _cuda_sglang().score_sglang,
    ("score_vllm", "cpu"): lambda: cpu.score_vllm,
    ("score_vllm", "reference"): lambda: reference.score_vllm,
    ("score_vllm", "cuda"): lambda: _cuda_vllm().score_vllm,
    ("synthid_text_g_values", "cpu"): lambda: cpu.synthid_text_g_values,
    ("synthid_text_g_values", "reference"): lambda: reference.synthid_text_g_values,
    ("score_synthid_text", "cpu"): lambda: cpu.score_synthid_text,
    ("score_synthid_text", "reference"): lambda: reference.score_synthid_text,
    ("score_synthid_text", "cuda"): lambda: _cuda_synthid_text().score_synthid_text,
    ("torch_cpu_randperm", "cpu"): lambda: cpu.torch_cpu_randperm,
    ("torch_cpu_randperm", "reference"): lambda: reference.torch_cpu_randperm,
    ("torch_cpu_green_lists", "cpu"): lambda: cpu.torch_cpu_green_lists,
    ("torch_cpu_green_lists", "reference"): lambda: reference.torch_cpu_green_lists,
    # K keys in one pass (host only so far)
    ("score_kgw_keys", "cpu"): lambda: cpu.score_kgw_keys,
    ("score_kgw_keys", "reference"): lambda: reference.score_kgw_keys,
    ("score_gumbel_keys", "cpu"): lambda: cpu.score_gumbel_keys,
    ("score_gumbel_keys", "reference"): lambda: reference.score_gumbel_keys,
    ("score_synthid_keys", "cpu"): lambda: cpu.score_synthid_keys,
    ("score_synthid_keys", "reference"): lambda: reference.score_synthid_keys,
}

HOST_BACKENDS = ("cpu", "reference")
GPU_BACKENDS = ("cuda", "triton")


def pairs() -> list[tuple[str, str]]:
    """Every ``(operation, backend)`` pair that exists (available here or not)."""
    return list(_TABLE)


@functools.cache
def get(op: str, backend: str) -> Callable:
    """The function of ``op`` on ``backend`` (a concrete one, not ``auto``)."""
    try:
        loader = _TABLE[(op, backend)]
    except KeyError:
        raise ValueError(f"backend: {op} has no {backend!r} implementation") from None
    try:
        return loader()
    except ImportError as e:
        raise RuntimeError(f"the {backend} backend is not available: {e}") from e


@functools.cache
def triton_importable() -> bool:
    return importlib.util.find_spec("triton") is not None


def env_backend() -> str:
    """The backend that ``TOKENMARK_BACKEND`` names for ``auto`` (unset or empty: ``"auto"``)."""
    value = os.environ.get("TOKENMARK_BACKEND") or "auto"
    if value not in BACKENDS:
        raise ValueError(f"TOKENMARK_BACKEND: expected one of {BACKENDS} or unset, got {value!r}")
    return value


def resolve(
    backend: str, on_cuda: bool, large_fp32_bias: bool = False, prefer_triton: bool = False
) -> str:
    """The concrete backend for ``backend`` (possibly ``"auto"``) and data on/off a CUDA device;
    ``prefer_triton``: the shape is one where ``auto`` measured Triton faster."""
    if backend not in BACKENDS:
        raise ValueError(f"backend: expected one of {BACKENDS}, got {backend!r}")
    if backend == "auto":
        backend = env_backend()
        if backend != "auto":
            try:
                return resolve(backend, on_cuda)
            except ValueError as e:  # the caller asked for auto: name the variable that steered it
                raise ValueError(
                    f"TOKENMARK_BACKEND={backend} (which backend='auto' follows): {e}"
                ) from None
        if not on_cuda:
            return "cpu"
        return "triton" if (large_fp32_bias or prefer_triton) and triton_importable() else "cuda"
    if on_cuda and backend in HOST_BACKENDS:
        raise ValueError(f"backend={backend!r} takes host memory; the tensors are on a CUDA device")
    if not on_cuda and backend == "cuda":
        raise ValueError("backend='cuda' needs CUDA tensors; these are in host memory")
    return backend
