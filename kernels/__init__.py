"""Triton kernels of tokenmark (``@triton.jit`` only); the torch-facing wrappers live in
``tokenmark.backends.triton`` (one module per scheme)."""
