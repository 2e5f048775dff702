"""The flavor registry: entry-point discovery, lazy loading, clear errors."""

from __future__ import annotations

import sys
from importlib.metadata import EntryPoint

import pytest

from modelpack.errors import InvalidArgument, MissingDependency, UnknownFlavor
from modelpack.flavors import ENTRY_POINT_GROUP, Registry, registry, require


def _ep(name: str, value: str) -> EntryPoint:
    return EntryPoint(name, value, ENTRY_POINT_GROUP)


def test_builtin_flavors_come_from_the_entry_point_group() -> None:
    assert "sklearn" in registry().names()
    assert type(registry().get("sklearn")).__name__ == "SklearnFlavor"


def test_duplicate_names_are_an_error() -> None:
    with pytest.raises(InvalidArgument, match="two flavors are registered as 'sklearn'"):
        Registry([_ep("sklearn", "a:B"), _ep("sklearn", "c:D")])


def test_flavors_load_lazily() -> None:
    reg = Registry([_ep("ghost", "modelpack_no_such_module:Flavor")])
    assert reg.names() == ["ghost"]  # listing imports nothing
    with pytest.raises(MissingDependency, match=r"flavor .ghost. .* cannot be imported"):
        reg.get("ghost")


def test_unknown_name() -> None:
    with pytest.raises(UnknownFlavor, match="no flavor named 'nope' is installed"):
        registry().get("nope")


def test_missing_library_says_what_to_install() -> None:
    with pytest.raises(MissingDependency) as info:
        require("modelpack_no_such_library", "xgboost", "xgboost")
    assert str(info.value).startswith(
        "flavor 'xgboost' needs the xgboost package: pip install 'modelpack[xgboost]'"
    )


def test_picking_a_flavor_imports_no_model_library() -> None:
    import subprocess

    code = (
        "import sys, modelpack; from modelpack.flavors import registry\n"
        "r = registry()\n"
        "[r.get(n) for n in r.names()]\n"
        "print(sorted(m for m in ('sklearn', 'xgboost', 'torch', 'skops') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
