"""Builds CUDA kernel sources as host C++ against the emulation header (include/tm_emu.h) and
loads them with ctypes: how CI, which has no GPU, runs the device code.

The files of csrc/cuda are compiled unchanged except for the launch syntax, rewritten in copies:
``k<<<g, b, s, st>>>(...)`` becomes ``::tm_emu::kernel(k, g, b, s, st)(...)``. Each entry file
(``*_emu.cpp`` here, rewritten the same way) includes the kernel file it tests and exports plain
C functions on host pointers.
"""

from __future__ import annotations

import ctypes
import hashlib
import os
import re
import shutil
import subprocess
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
CUDA_DIR = ROOT / "csrc" / "cuda"
INCLUDE = ROOT / "csrc" / "include" / "tokenmark"
# The logits dtype codes the launchers take (LogitsDtype, csrc/include/tokenmark/types.h).
DTYPE_CODES = {"float32": 0, "float16": 1, "bfloat16": 2}
LAUNCH = re.compile(r"([A-Za-z_][\w:.]*(?:<[^<>;]*>)?)\s*<<<(.*?)>>>\s*\(", re.S)
# The flags the CUDA build gives the kernels' float arithmetic: no fused multiply-add.
FLAGS = ["-std=c++20", "-O1", "-ffp-contract=off", "-fPIC", "-shared", "-w"]


def compiler() -> str | None:
    """The host C++ compiler ($CXX, else c++/g++/clang++ on PATH), or None."""
    for name in (os.environ.get("CXX"), "c++", "g++", "clang++"):
        if name and shutil.which(name):
            return shutil.which(name)
    return None


def ptr(a) -> ctypes.c_void_p:
    """A host numpy array's data as a pointer argument of the emulated entry points (None: null)."""
    return ctypes.c_void_p(0 if a is None else a.ctypes.data)


def rewrite_launches(source: str) -> str:
    """``k<<<cfg>>>(`` -> ``::tm_emu::kernel(k, cfg)(``; nothing else changes."""
    return LAUNCH.sub(lambda m: f"::tm_emu::kernel({m.group(1)}, {m.group(2)})(", source)


def build(entry: str, out_dir: Path) -> ctypes.CDLL:
    """Compiles ``entry`` (a file here, which includes the kernel files it tests) against the
    rewritten copies of every csrc/cuda file into a shared library in ``out_dir`` (reused when
    no input changed)."""
    cxx = compiler()
    if cxx is None:
        raise RuntimeError("no C++ compiler found ($CXX, c++, g++, clang++)")
    gen = out_dir / "gen"
    gen.mkdir(parents=True, exist_ok=True)
    digest = hashlib.sha256(" ".join([cxx, *FLAGS]).encode())
    sources = [*sorted(CUDA_DIR.iterdir()), HERE / entry]
    for path in sources:
        text = rewrite_launches(path.read_text())
        (gen / path.name).write_text(text)
        digest.update(text.encode())
    for path in [*sorted((HERE / "include").iterdir()), *sorted(INCLUDE.iterdir())]:
        digest.update(path.read_bytes())
    lib = out_dir / f"{Path(entry).stem}_{digest.hexdigest()[:16]}.so"
    if not lib.exists():
        cmd = [cxx, *FLAGS, f"-I{gen}", f"-I{HERE / 'include'}", f"-I{ROOT / 'csrc' / 'include'}",
               str(gen / entry), "-o", str(lib)]  # fmt: skip
        done = subprocess.run(cmd, capture_output=True, text=True)
        if done.returncode != 0:
            raise RuntimeError(f"emulation build of {entry} failed:\n{done.stderr[-4000:]}")
    return ctypes.CDLL(str(lib))
