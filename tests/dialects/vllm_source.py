"""vLLM 0.33.0's own watermark detector, loaded from its wheel for the tests.

``pip install --no-deps vllm==0.33.0`` does not import on a CPU machine without vLLM's
dependencies (``vllm.config`` pulls in cbor2 and much else), so this reads the six files the
detector needs straight from the wheel (``TOKENMARK_VLLM_WHEEL``: the .whl path) and runs them
unchanged, with stand-ins for the three imports that only generation or logging use:
``vllm.config.utils.config`` (a class decorator; identity here), ``vllm.logger.init_logger``
(the standard logging) and ``vllm.v1.worker.gpu.sample.gumbel.gumbel_sample`` (the GPU sampler,
never called by detection).
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


def load(path: str) -> types.SimpleNamespace:
    """vLLM's ``PhiloxPRF``, ``GumbelWatermarkDetector``, ``DualKeyGumbelWatermarkDetector``,
    ``derive_watermark_key`` and ``WatermarkConfig`` from the wheel at ``path``."""
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
        for m in (utils, logger, gumbel_gpu):
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
        )
    finally:
        for k in [k for k in sys.modules if k == "vllm" or k.startswith("vllm.")]:
            del sys.modules[k]
        sys.modules.update(saved)
