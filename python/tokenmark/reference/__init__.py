"""The numpy reference: the executable specification of the PRF and every scheme (no torch)."""

from . import gumbel, kgw, prf, sglang, synthid, synthid_text, torch_mt, vllm

__all__ = ["gumbel", "kgw", "prf", "sglang", "synthid", "synthid_text", "torch_mt", "vllm"]
