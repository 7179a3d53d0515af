"""The examples in the docstrings run and say what they show: every module of the package with a
``>>>`` example, found by reading the sources (a new module's examples run without a list)."""

import doctest
import importlib
from pathlib import Path

import pytest

PKG = Path(__file__).parents[2] / "python" / "tokenmark"
# Their import needs the engine (tests/engines runs them where it is installed).
NEEDS_ENGINE = {"tokenmark.integrations.vllm", "tokenmark.integrations.sglang"}


def _modules_with_examples() -> list[str]:
    out = []
    for path in sorted(PKG.rglob("*.py")):
        if ">>>" in path.read_text(encoding="utf-8"):
            parts = path.relative_to(PKG).with_suffix("").parts
            out.append(".".join(("tokenmark", *parts)).removesuffix(".__init__"))
    return out


MODULES = _modules_with_examples()


def test_the_search_finds_the_modules():
    assert len(MODULES) > 40 and "tokenmark.kgw" in MODULES and "tokenmark.stats" in MODULES


@pytest.mark.parametrize("name", [m for m in MODULES if m not in NEEDS_ENGINE])
def test_docstring_examples(name, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # examples that write files write them here
    monkeypatch.setenv("TOKENMARK_KEY_DOCS", "x")  # the scan examples' key
    result = doctest.testmod(importlib.import_module(name), optionflags=doctest.ELLIPSIS)
    assert result.failed == 0
    # ray_engine's examples all skip (+SKIP): they need a Ray cluster.
    assert result.attempted > 0 or name == "tokenmark.scan.ray_engine"
