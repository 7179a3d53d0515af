"""The dialects' docstring examples run and say what they show; the layer rule for dialects."""

import ast
import doctest
import importlib
from pathlib import Path

import pytest

MODULES = [
    "tokenmark.reference.torch_mt",
    "tokenmark.dialects.transformers_kgw",
    "tokenmark.dialects.synthid_text",
    "tokenmark.dialects.vllm",
    "tokenmark.dialects.tgi",
    "tokenmark.dialects._from_config",
    "tokenmark.dialects.unigram",
    "tokenmark.dialects.sglang",
    "tokenmark.ops.sglang",
    "tokenmark.ops.vllm",
    "tokenmark.ops.synthid_text",
    "tokenmark.ops.torch_mt",
]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name):
    result = doctest.testmod(importlib.import_module(name), optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0 and result.failed == 0


def test_dialects_never_import_backends():
    """A dialect composes the ops, the bottom layer and the schemes' results, never a backend."""
    root = Path(__file__).parents[2] / "python" / "tokenmark" / "dialects"
    for path in root.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module:
                assert "backends" not in node.module.split("."), f"{path.name}: {node.module}"
