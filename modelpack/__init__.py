"""modelpack: package models in MLflow's MLmodel format, load them behind one interface, serve."""

from __future__ import annotations

__version__ = "0.1.0"

from modelpack.errors import ModelpackError
from modelpack.infer import infer_signature
from modelpack.model import Model
from modelpack.packaging import save_model
from modelpack.pyfunc import PyFuncModel, PythonModel, PythonModelContext, load_model
from modelpack.schema import (
    ColSpec,
    DataType,
    ModelSignature,
    ParamSchema,
    ParamSpec,
    Schema,
    TensorSpec,
)
from modelpack.settings import Settings

__all__ = [
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
]
