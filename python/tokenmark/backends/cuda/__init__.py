"""The CUDA backend: one module per scheme over the ``tokenmark._cuda`` extension."""
