"""Triton kernels of tokenmark (``@triton.jit`` only); the torch-facing wrappers live in
``tokenmark._triton_ops``."""
