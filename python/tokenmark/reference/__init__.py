"""The numpy reference: the executable specification of the PRF and every scheme (no torch)."""

from . import kgw, prf

__all__ = ["kgw", "prf"]
