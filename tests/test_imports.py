"""What each entry point imports: a server's cold start is mostly imports, so each step imports
only what it needs (``modelpack._lazy``). Each check runs in a fresh interpreter."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

import modelpack

HEAVY = ("pandas", "pyarrow", "sklearn", "xgboost", "torch", "skops", "mlflow", "scipy")
WEB = ("starlette", "uvicorn", "click")


def _imported_after(code: str) -> list[str]:
    """The top-level modules among HEAVY, WEB and numpy that ``code`` leaves imported."""
    watched = (*HEAVY, *WEB, "numpy", "yaml")
    script = f"{code}\nimport sys\nprint(' '.join(m for m in {watched!r} if m in sys.modules))\n"
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    return result.stdout.split()


def test_import_modelpack_imports_no_library() -> None:
    assert _imported_after("import modelpack") == []


def test_the_public_names_still_resolve() -> None:
    for name in modelpack.__all__:
        assert getattr(modelpack, name) is not None
    assert sorted(dir(modelpack)) == sorted(set(dir(modelpack)))
    assert set(modelpack.__all__) <= set(dir(modelpack))
    with pytest.raises(AttributeError, match="module 'modelpack' has no attribute 'nothing'"):
        modelpack.nothing  # noqa: B018


def test_reading_mlmodel_imports_neither_pandas_nor_a_model_library(
    sklearn_package: Path,
) -> None:
    code = f"import modelpack\nmodelpack.Model.load({str(sklearn_package)!r})"
    assert _imported_after(code) == ["numpy", "yaml"]


def test_the_cli_imports_only_the_command_it_runs() -> None:
    code = "from modelpack.cli import main\nmain.get_command(None, 'info')"
    assert _imported_after(code) == ["click"]
