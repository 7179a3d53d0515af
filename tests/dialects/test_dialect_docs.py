"""The layer rule for dialects (their docstring examples run in tests/spec/test_docs.py)."""

import ast
from pathlib import Path


def test_dialects_never_import_backends():
    """A dialect composes the ops, the bottom layer and the schemes' results, never a backend."""
    root = Path(__file__).parents[2] / "python" / "tokenmark" / "dialects"
    for path in root.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module:
                assert "backends" not in node.module.split("."), f"{path.name}: {node.module}"
