"""The Triton backend: one module per scheme over the kernels in ``tokenmark.kernels``."""
