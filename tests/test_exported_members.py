"""The public surface: what users import, listed, and each package's ``__all__`` kept honest."""

from __future__ import annotations

import importlib
import types

import pytest

import modelpack

# What users and the docs rely on (DESIGN.md, README): a rename here is a breaking change.
PUBLIC = {
    "modelpack": [
        "ColSpec",
        "DataType",
        "Model",
        "ModelSignature",
        "ModelpackError",
        "ParamSchema",
        "ParamSpec",
        "PyFuncModel",
        "PythonModel",
        "PythonModelContext",
        "Schema",
        "Settings",
        "TensorSpec",
        "__version__",
        "infer_signature",
        "load_model",
        "save_model",
        "spark_udf",
    ],
    "modelpack.flavors.sklearn": ["FORMATS", "SklearnFlavor", "load_model", "save_model"],
    "modelpack.flavors.xgboost": ["FORMATS", "XGBoostFlavor", "load_model", "save_model"],
    "modelpack.flavors.pytorch": ["FORMATS", "PyTorchFlavor", "load_model", "save_model"],
    "modelpack.flavors.python_model": [
        "PythonModel",
        "PythonModelContext",
        "PythonModelFlavor",
        "load_model",
        "save_model",
    ],
    "modelpack.flavors": [
        "ENTRY_POINT_GROUP",
        "Flavor",
        "Predictor",
        "SavedFlavor",
        "module_loaded",
        "registry",
        "require",
    ],
    "modelpack.pyfunc": ["PyFuncModel", "PythonModel", "PythonModelContext", "load_model"],
    "modelpack.signature": ["ColSpec", "ModelSignature", "Schema", "TensorSpec", "infer_signature"],
    "modelpack.format": ["open_package", "save_package", "verify_package", "write_manifest"],
    "modelpack.uris": ["resolve"],
    "modelpack.codecs": ["InputPlan", "decode_csv", "decode_json", "encode_predictions"],
    "modelpack.engine": ["DataPlane", "Engine"],
    "modelpack.batch": ["predict_file", "predict_spark", "spark_udf"],
    "modelpack.serving": ["create_app", "serve"],
    "modelpack.docker": ["build_docker", "write_context"],
    "modelpack.envs": ["MANAGERS", "Environment", "check_local", "exec_in", "prepare_env"],
    "modelpack.errors": ["ModelpackError", "SignatureMismatch", "PickleRefused"],
    "modelpack.settings": ["Settings"],
}


@pytest.mark.parametrize("module", sorted(PUBLIC))
def test_public_names_are_importable_and_exported(module: str) -> None:
    imported = importlib.import_module(module)
    for name in PUBLIC[module]:
        assert hasattr(imported, name), f"{module}.{name}"
        assert name in imported.__all__, f"{module}.{name} not in __all__"


PACKAGES = sorted(m for m in PUBLIC if hasattr(importlib.import_module(m), "__path__"))


@pytest.mark.parametrize("module", PACKAGES)
def test_a_package_exports_what_it_imports(module: str) -> None:
    """A package's ``__init__`` is its curated surface: whatever it takes from its modules it
    lists in ``__all__`` (ruff's RUF022 keeps ``__all__`` sorted)."""
    imported = importlib.import_module(module)
    exported = list(imported.__all__)
    public = {
        name
        for name, value in vars(imported).items()
        if not name.startswith("_")
        and name != "annotations"  # from __future__ import annotations
        and not isinstance(value, types.ModuleType)
        and getattr(value, "__module__", module).startswith("modelpack")
    }
    assert public <= set(exported) | _imported_helpers(module)


def _imported_helpers(module: str) -> set[str]:
    """Names a module takes from elsewhere for its own use (typing and the like)."""
    imported = importlib.import_module(module)
    return {
        name
        for name, value in vars(imported).items()
        if getattr(value, "__module__", "") in ("typing", "collections.abc", "dataclasses")
    }


def test_the_version_is_pyprojects() -> None:
    from pathlib import Path

    text = (Path(__file__).resolve().parents[1] / "pyproject.toml").read_text()
    assert f'version = "{modelpack.__version__}"' in text
