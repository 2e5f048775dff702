"""The layers of docs/architecture.md, checked on the source: no arrow up, no cycle, each module
importable alone, no web framework below serving, no flavor library imported at import time."""

from __future__ import annotations

import ast
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "modelpack"

# Lower layers first. A module may import its own layer and the layers below it, never above.
# (docs/architecture.md draws the same table.)
LAYERS = [
    {
        "modelpack.errors",
        "modelpack.settings",
        "modelpack._version",
        "modelpack._logs",
        "modelpack._lazy",
    },
    {"modelpack.signature", "modelpack.uris"},
    {"modelpack.format"},
    {"modelpack.flavors"},
    {"modelpack.pyfunc", "modelpack.codecs"},
    {"modelpack.engine", "modelpack.info"},
    {"modelpack.serving", "modelpack.batch", "modelpack.docker", "modelpack.envs"},
    {"modelpack.cli", "modelpack.__main__", "modelpack"},
]
# Narrower rules on top of the layers.
ONLY = {"modelpack.codecs": {"modelpack.errors", "modelpack.settings", "modelpack.signature"}}
WEB = ("starlette", "uvicorn", "grpc", "prometheus_client")
HEAVY = ("sklearn", "xgboost", "torch", "skops", "mlflow", "pyspark", "cryptography", "pyarrow")


def _modules() -> dict[str, Path]:
    out = {}
    for file in sorted(PACKAGE.rglob("*.py")):
        parts = file.relative_to(PACKAGE.parent).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        out[name] = file
    return out


MODULES = _modules()


def _group(module: str) -> str:
    """The entry of LAYERS a module belongs to (its subpackage, or the module itself)."""
    for layer in LAYERS:
        for group in layer:
            if module == group or (group != "modelpack" and module.startswith(group + ".")):
                return group
    return "modelpack" if module == "modelpack" else module


def _layer(group: str) -> int:
    for number, layer in enumerate(LAYERS):
        if group in layer:
            return number
    raise AssertionError(f"{group} is in no layer of LAYERS (add it, and to the docs)")


def _imports(file: Path) -> list[tuple[str, bool]]:
    """(imported module, at module level) for each import, TYPE_CHECKING blocks left out."""
    tree = ast.parse(file.read_text())
    found: list[tuple[str, bool]] = []

    def visit(node: ast.AST, top: bool) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and "TYPE_CHECKING" in ast.unparse(child.test):
                continue  # annotations only: no import at run time
            if isinstance(child, ast.Import):
                found.extend((alias.name, top) for alias in child.names)
            elif isinstance(child, ast.ImportFrom) and child.module and child.level == 0:
                found.append((child.module, top))
                found.extend(
                    (f"{child.module}.{alias.name}", top)
                    for alias in child.names
                    if f"{child.module}.{alias.name}" in MODULES
                )
            inner = top and not isinstance(
                child, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda
            )
            visit(child, inner)

    visit(tree, True)
    return found


def test_every_module_is_in_a_layer() -> None:
    for name in MODULES:
        _layer(_group(name))


def test_no_module_imports_a_layer_above_its_own() -> None:
    upward = []
    for name, file in MODULES.items():
        here = _group(name)
        for target, _ in _imports(file):
            if not target.startswith("modelpack"):
                continue
            there = _group(target)
            if there == here:
                continue
            if _layer(there) > _layer(here) or (here in ONLY and there not in ONLY[here]):
                upward.append(f"{name} -> {target}")
    assert upward == []


def test_no_import_cycle_between_modules() -> None:
    graph: dict[str, set[str]] = defaultdict(set)
    for name, file in MODULES.items():
        for target, top in _imports(file):
            if top and target in MODULES and target != name:
                graph[name].add(target)
    cycles = [c for c in _strongly_connected(graph) if len(c) > 1]
    assert cycles == []


def _strongly_connected(graph: dict[str, set[str]]) -> list[list[str]]:
    """Tarjan's algorithm: the strongly connected components of ``graph``."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    out: list[list[str]] = []

    def connect(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(graph.get(node, ())):
            if nxt not in index:
                connect(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                top = stack.pop()
                on_stack.discard(top)
                component.append(top)
                if top == node:
                    break
            out.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            connect(node)
    return out


def test_only_serving_speaks_http_and_no_flavor_library_loads_at_import() -> None:
    found = []
    for name, file in MODULES.items():
        for target, top in _imports(file):
            root = target.split(".")[0]
            if root in WEB and not name.startswith("modelpack.serving"):
                found.append(f"{name} imports {target}")
            if root in HEAVY and top:
                found.append(f"{name} imports {target} at import time")
    assert found == []


@pytest.mark.slow
def test_each_module_imports_alone() -> None:
    """In a fresh interpreter, each module imported first (modelpack's modules dropped from
    sys.modules in between) imports: no order-dependent import, no hidden cycle."""
    script = (
        "import importlib, sys\n"
        f"names = {sorted(set(MODULES) - {'modelpack.__main__'})!r}\n"
        "failed = []\n"
        "for name in names:\n"
        "    for key in [k for k in sys.modules if k.split('.')[0] == 'modelpack']:\n"
        "        del sys.modules[key]\n"
        "    try:\n"
        "        importlib.import_module(name)\n"
        "    except Exception as exc:\n"
        "        failed.append(f'{name}: {type(exc).__name__}: {exc}')\n"
        "print('\\n'.join(failed))\n"
        "sys.exit(1 if failed else 0)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stdout + result.stderr
