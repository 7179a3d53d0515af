"""vLLM 0.33.0's own watermark detector, loaded from its wheel for the tests.

``pip install --no-deps vllm==0.33.0`` does not import on a CPU machine without vLLM's
dependencies (``vllm.config`` pulls in cbor2 and much else), so this reads the six files the
detector needs straight from the wheel (``TOKENMARK_VLLM_WHEEL``: the .whl path) and runs them
unchanged, with stand-ins for the three imports that only generation or logging use:
``vllm.config.utils.config`` (a class decorator; identity here), ``vllm.logger.init_logger``
(the standard logging) and ``vllm.v1.worker.gpu.sample.gumbel.gumbel_sample`` (the GPU sampler,
never called by detection). Where pydantic is missing (the GPU image), ``pydantic`` gets a
stand-in too: the config module uses only its ``Field`` and ``model_validator`` on the
``WatermarkConfig`` class, which detection never builds; the stand-in's ``Field`` gives the
default and its ``model_validator`` leaves the method as it is (``pydantic_stand_in`` says so).
"""

from __future__ import annotations

import logging
import os
import sys
import types
import zipfile

FILES = [
    "vllm/config/watermarking.py",
    "vllm/v1/watermarking/detector.py",
    "vllm/v1/watermarking/prfs/base.py",
    "vllm/v1/watermarking/prfs/philox.py",
    "vllm/v1/watermarking/prfs/__init__.py",
    "vllm/v1/watermarking/watermarker.py",
    "vllm/v1/watermarking/gumbel.py",
]


def wheel_path() -> str | None:
    path = os.environ.get("TOKENMARK_VLLM_WHEEL")
    return path if path and os.path.exists(path) else None


def _pydantic_stand_in() -> types.ModuleType | None:
    """A ``pydantic`` with what vllm/config/watermarking.py imports, where pydantic is missing."""
    try:
        import pydantic  # noqa: F401
    except ImportError:
        m = types.ModuleType("pydantic")
        m.Field = lambda default=None, **_: default
        m.model_validator = lambda **_: lambda fn: fn
        return m
    return None


def load(path: str) -> types.SimpleNamespace:
    """vLLM's ``PhiloxPRF``, ``GumbelWatermarkDetector``, ``DualKeyGumbelWatermarkDetector``,
    ``derive_watermark_key`` and ``WatermarkConfig`` from the wheel at ``path``."""
    stand_in = _pydantic_stand_in()
    missing = object()
    before = sys.modules.get("pydantic", missing)  # None too: what made the import fail
    saved = {k: v for k, v in sys.modules.items() if k == "vllm" or k.startswith("vllm.")}
    for k in saved:
        del sys.modules[k]

    def package(name):
        m = types.ModuleType(name)
        m.__path__ = []
        sys.modules[name] = m
        return m

    try:
        for name in ["vllm", "vllm.config", "vllm.v1", "vllm.v1.watermarking",
                     "vllm.v1.watermarking.prfs", "vllm.v1.worker", "vllm.v1.worker.gpu",
                     "vllm.v1.worker.gpu.sample"]:  # fmt: skip
            package(name)
        utils = types.ModuleType("vllm.config.utils")
        utils.config = lambda cls: cls
        logger = types.ModuleType("vllm.logger")
        logger.init_logger = logging.getLogger
        gumbel_gpu = types.ModuleType("vllm.v1.worker.gpu.sample.gumbel")

        def gumbel_sample(*args, **kwargs):
            raise RuntimeError("vLLM's GPU sampler is not loaded in the tests")

        gumbel_gpu.gumbel_sample = gumbel_sample
        for m in (utils, logger, gumbel_gpu, stand_in):
            if m is not None:
                sys.modules[m.__name__] = m
        loaded = {}
        with zipfile.ZipFile(path) as whl:
            for f in FILES:
                name = f[:-3].replace("/", ".").removesuffix(".__init__")
                mod = sys.modules.get(name) if f.endswith("__init__.py") else None
                if mod is None:
                    mod = types.ModuleType(name)
                    sys.modules[name] = mod
                mod.__file__ = f"{path}!{f}"
                exec(compile(whl.read(f).decode(), mod.__file__, "exec"), mod.__dict__)
                loaded[name] = mod
        g = loaded["vllm.v1.watermarking.gumbel"]
        return types.SimpleNamespace(
            PhiloxPRF=loaded["vllm.v1.watermarking.prfs.philox"].PhiloxPRF,
            GumbelWatermarkDetector=g.GumbelWatermarkDetector,
            DualKeyGumbelWatermarkDetector=g.DualKeyGumbelWatermarkDetector,
            GumbelWatermarker=g.GumbelWatermarker,
            derive_watermark_key=loaded["vllm.config.watermarking"].derive_watermark_key,
            pydantic_stand_in=stand_in is not None,
        )
    finally:
        if stand_in is not None:
            sys.modules.pop("pydantic", None)
            if before is not missing:
                sys.modules["pydantic"] = before
        for k in [k for k in sys.modules if k == "vllm" or k.startswith("vllm.")]:
            del sys.modules[k]
        sys.modules.update(saved)
