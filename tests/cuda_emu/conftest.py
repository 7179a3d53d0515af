"""Fixtures of the CUDA host-emulation tests: the emulated kernel libraries, built once per
session with the host compiler (skipped, with that reason, only where there is none)."""

from __future__ import annotations

import ctypes
from collections.abc import Callable

import pytest

from cuda_emu import cuda_emu_build


@pytest.fixture(scope="session")
def emu_build(tmp_path_factory) -> Callable[[str], ctypes.CDLL]:
    if cuda_emu_build.compiler() is None:
        pytest.skip("no host C++ compiler to build the CUDA emulation")
    out = tmp_path_factory.mktemp("cuda_emu")
    built: dict[str, ctypes.CDLL] = {}

    def get(entry: str) -> ctypes.CDLL:
        if entry not in built:
            lib = cuda_emu_build.build(entry, out)
            lib.emu_message.restype = ctypes.c_char_p
            built[entry] = lib
        return built[entry]

    return get
