"""The type stubs `_C.pyi` / `_cuda.pyi` list exactly the functions the extension modules export,
with the same argument names in the same order, optional (``| None``) exactly where the binding
accepts None, and ``bool`` exactly where the binding takes a bool.

The runtime side is read from pybind11's signature line (the first line of each function's
``__doc__``), so a renamed, added, removed or reordered argument in csrc/bindings fails here
until the stub follows.
"""

import ast
import importlib
import pathlib

import pytest
import tokenmark

PKG = pathlib.Path(tokenmark.__file__).parent


def _split_top_level(s: str) -> list[str]:
    parts, depth, cur = [], 0, []
    for ch in s:
        if ch in "([":
            depth += 1
        elif ch in ")]":
            depth -= 1
        if ch == "," and depth == 0:
            parts.append("".join(cur).strip())
            cur = []
        else:
            cur.append(ch)
    if "".join(cur).strip():
        parts.append("".join(cur).strip())
    return parts


def _runtime_signatures(module) -> dict[str, list[tuple[str, str]]]:
    """name -> [(argument, annotation)] from pybind11's docstring signature lines."""
    out = {}
    for name in dir(module):
        if name.startswith("_"):
            continue
        fn = getattr(module, name)
        if isinstance(fn, type):  # a class: its constructor and call, as `Class.method`
            for method in ("__init__", "__call__"):
                if method not in vars(fn):  # defined by the binding, not inherited
                    continue
                out[f"{name}.{method}"] = _parse_signature(getattr(fn, method), method)[1:]
        elif callable(fn):
            out[name] = _parse_signature(fn, name)
    return out


def _parse_signature(fn, name: str) -> list[tuple[str, str]]:
    first = fn.__doc__.splitlines()[0]
    assert first.startswith(name + "("), first
    inner = first[len(name) + 1 : first.rindex(") ->")]
    args = []
    for part in _split_top_level(inner):
        arg, _, annotation = part.partition(":")
        args.append((arg.strip(), annotation.strip()))
    return args


def _stub_signatures(path: pathlib.Path) -> dict[str, list[tuple[str, str]]]:
    tree = ast.parse(path.read_text())
    out = {}
    for node in tree.body:
        if isinstance(node, ast.FunctionDef):
            out[node.name] = _stub_args(node)
        elif isinstance(node, ast.ClassDef):
            for item in node.body:  # the methods compared: constructor and call
                if isinstance(item, ast.FunctionDef) and item.name in ("__init__", "__call__"):
                    out[f"{node.name}.{item.name}"] = _stub_args(item)[1:]  # without self
    return out


def _stub_args(node: ast.FunctionDef) -> list[tuple[str, str]]:
    assert not node.args.defaults and not node.args.kwonlyargs, node.name
    return [(a.arg, ast.unparse(a.annotation) if a.annotation else "") for a in node.args.args]


def _load(name: str):
    try:
        return importlib.import_module(f"tokenmark.{name}")
    except ModuleNotFoundError:  # not built; a module that is built but fails to load fails
        pytest.skip(f"tokenmark.{name} is not built in this install")


@pytest.mark.parametrize("module_name", ["_C", "_cuda"])
def test_stub_matches_module(module_name):
    module = _load(module_name)
    runtime = _runtime_signatures(module)
    stub = _stub_signatures(PKG / f"{module_name}.pyi")
    assert sorted(stub) == sorted(runtime), "functions differ between the module and its stub"
    for name, args in runtime.items():
        stub_args = stub[name]
        assert [a for a, _ in stub_args] == [a for a, _ in args], name
        for (arg, rt), (_, st) in zip(args, stub_args, strict=True):
            assert ("None" in rt) == ("None" in st), f"{name}({arg}): {rt!r} vs stub {st!r}"
            assert (rt == "bool") == (st == "bool"), f"{name}({arg}): {rt!r} vs stub {st!r}"


def test_signature_parser_sees_every_argument():
    # A check of the test itself: a known signature parses into its 9 arguments, the optional
    # one recognised as such.
    from tokenmark import _C

    args = _runtime_signatures(_C)["score_kgw"]
    assert [a for a, _ in args] == [
        "tokens",
        "offsets",
        "prefix",
        "key",
        "threshold",
        "width",
        "seeding",
        "dedup",
        "want_flags",
    ]
    assert "None" in dict(args)["prefix"]
