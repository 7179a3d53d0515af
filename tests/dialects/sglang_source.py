"""SGLang 0.5.23's own watermark detector, loaded from its wheel for the tests.

SGLang's detector package (``sglang/srt/sampling/watermarking/detector.py`` and ``config.py``)
imports only the standard library and msgspec (``core.py``, the CPU selector, adds torch), but
``import sglang`` pulls in the whole engine. This reads the three files straight from the wheel
(``TOKENMARK_SGLANG_WHEEL``: the .whl path) and runs them unchanged as a stand-alone package, as
SGLang's README says the detector may be used.
"""

from __future__ import annotations

import os
import sys
import types
import zipfile

PREFIX = "sglang/srt/sampling/watermarking/"
PACKAGE = "_sglang_watermarking"


def wheel_path() -> str | None:
    path = os.environ.get("TOKENMARK_SGLANG_WHEEL")
    return path if path and os.path.exists(path) else None


def load(path: str) -> types.SimpleNamespace:
    """SGLang's ``config``, ``detector`` and ``core`` modules from the wheel at ``path`` (needs
    msgspec; ``core`` needs torch)."""
    pkg = types.ModuleType(PACKAGE)
    pkg.__path__ = []
    sys.modules[PACKAGE] = pkg
    mods = {}
    with zipfile.ZipFile(path) as whl:
        for name in ("config", "detector", "core"):
            mod = types.ModuleType(f"{PACKAGE}.{name}")
            mod.__package__ = PACKAGE
            mod.__file__ = f"{path}!{PREFIX}{name}.py"
            sys.modules[mod.__name__] = mod
            code = compile(whl.read(f"{PREFIX}{name}.py").decode(), mod.__file__, "exec")
            exec(code, mod.__dict__)
            mods[name] = mod
    return types.SimpleNamespace(**mods)
