"""What this installation can do: compiled backends, CUDA archs, versions."""

from __future__ import annotations

import importlib.metadata
import platform
from typing import Any


def info() -> dict[str, Any]:
    from . import _C, __version__

    out: dict[str, Any] = {
        "tokenmark": __version__,
        "python": platform.python_version(),
        "cpu": _C.info(),
    }
    try:
        from . import _cuda

        out["cuda"] = {"built": True, **_cuda.info()}
    except ImportError as e:
        out["cuda"] = {"built": False, "reason": str(e)}
    # Versions from the installed distributions' metadata: importing torch or transformers to
    # read __version__ would take seconds (`tokenmark info` should answer at once).
    for mod in ("numpy", "scipy", "torch", "triton", "transformers"):
        try:
            out[mod] = importlib.metadata.version(mod)
        except importlib.metadata.PackageNotFoundError:
            out[mod] = None
    out["cuda_device"] = None
    if out["cuda"].get("device_count"):  # only then is the torch import worth its time
        try:
            import torch

            out["cuda_device"] = torch.cuda.get_device_name() if torch.cuda.is_available() else None
        except ImportError:
            pass
    return out
