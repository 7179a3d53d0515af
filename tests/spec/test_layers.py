"""The import rules of GUIDE section 1, read from the source: each layer imports only the layers
below it, a backend never imports a sibling backend, and module-level imports form no cycle."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[2] / "python" / "tokenmark"
BOTTOM = {"_key", "_inputs", "_tokenizers", "_validate", "stats", "reference"}
EXTENSIONS = {"_C", "_cuda", "kernels"}
SCHEMES = {"_scheme", "kgw", "gumbel", "synthid", "ginsew"}
RANK = {"bottom": 0, "backends": 1, "ops": 2, "schemes": 3, "top": 4}


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(["tokenmark", *parts])


def _layer(mod: str) -> str:
    parts = mod.split(".")[1:]
    head = parts[0] if parts else "__init__"
    if head in BOTTOM or head in EXTENSIONS:
        return "bottom"
    if head == "backends":
        return "backends"
    if head == "ops":
        return "ops"
    if head in SCHEMES:
        return "schemes"
    return "top"  # integrations, suspect, cli, demo, evaluation, the package itself


def _resolve(mod: str, is_pkg: bool, node: ast.ImportFrom) -> list[str]:
    if node.level == 0:
        base = node.module or ""
        if not base.startswith("tokenmark"):
            return []
    else:
        pkg = mod.split(".") if is_pkg else mod.split(".")[:-1]
        pkg = pkg[: len(pkg) - (node.level - 1)]
        base = ".".join(pkg + ([node.module] if node.module else []))
    if node.module:
        return [base]
    return [f"{base}.{a.name}" for a in node.names]  # `from . import x`: x is a module


def _imports(path: Path) -> list[tuple[str, bool]]:
    """(imported tokenmark module, at module level?) for every import in ``path``."""
    mod, is_pkg = _module_name(path), path.name == "__init__.py"
    tree = ast.parse(path.read_text())
    top_level = {id(n) for n in tree.body}
    for n in tree.body:  # imports guarded by try/except at module level are module level too
        if isinstance(n, ast.Try):
            top_level |= {id(m) for m in n.body}
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            names = _resolve(mod, is_pkg, node)
        elif isinstance(node, ast.Import):
            names = [a.name for a in node.names if a.name.startswith("tokenmark")]
        else:
            continue
        out += [(name, id(node) in top_level) for name in names]
    return out


FILES = sorted(ROOT.rglob("*.py"))


def _backend_of(mod: str) -> str | None:
    """``cpu``, ``reference``, ``cuda``, ``triton`` for a backend module, else None."""
    parts = mod.split(".")
    if len(parts) >= 3 and parts[1] == "backends" and not parts[2].startswith("_"):
        return parts[2]
    return None


@pytest.mark.parametrize("path", FILES, ids=lambda p: str(p.relative_to(ROOT)))
def test_layer_rules(path):
    mod = _module_name(path)
    layer = _layer(mod)
    for target, module_level in _imports(path):
        t_layer = _layer(target)
        if t_layer == "top" and layer == "schemes" and not module_level:
            continue  # the one upward edge: logits_processor() imports its integration lazily
        assert RANK[t_layer] <= RANK[layer], f"{mod} ({layer}) imports {target} ({t_layer})"
        if layer == "bottom":
            assert t_layer == "bottom", f"{mod} imports {target}"
        if layer == "backends" and mod != "tokenmark.backends":
            own, other = _backend_of(mod), _backend_of(target)
            assert other in (None, own), f"backend {mod} imports a sibling backend {target}"
        if layer == "schemes" and t_layer == "schemes":
            leaf = target.split(".")[1]
            assert leaf == "_scheme", f"scheme {mod} imports another scheme {target}"


def test_no_module_level_cycle():
    graph: dict[str, set[str]] = {}
    for path in FILES:
        mod = _module_name(path)
        graph[mod] = {t for t, top in _imports(path) if top and t != mod}
    known = set(graph)

    def owner(t: str) -> str | None:  # `from .x import name` names a module or its attribute
        while t and t not in known:
            t = t.rpartition(".")[0]
        return t or None

    state: dict[str, int] = {}

    def visit(m: str, stack: list[str]) -> None:
        state[m] = 1
        for t in graph[m]:
            o = owner(t)
            if o is None or o == m or m.startswith(o + "."):
                continue  # a package's own __init__ is loaded before its modules anyway
            if state.get(o) == 1:
                cycle = stack[stack.index(o) :] + [o] if o in stack else [m, o]
                raise AssertionError("import cycle: " + " -> ".join(cycle))
            if o not in state:
                visit(o, [*stack, o])
        state[m] = 2

    for m in graph:
        if m not in state:
            visit(m, [m])


def test_rules_can_fail(tmp_path, monkeypatch):
    """The checker sees a violation: a bottom module importing ops."""
    fake = ROOT / "_validate.py"
    src = fake.read_text() + "\nfrom . import ops\n"
    monkeypatch.setattr(Path, "read_text", lambda self: src if self == fake else _read(self))
    with pytest.raises(AssertionError, match="imports tokenmark.ops"):
        test_layer_rules(fake)


_read = Path.read_text
