"""modelpack: package models in MLflow's MLmodel format, load them behind one interface, serve.

The names below are imported on first use (``modelpack._lazy``): ``import modelpack`` imports
neither pandas nor any model library.
"""

from __future__ import annotations

import typing

from modelpack._lazy import attach as _attach
from modelpack._version import __version__

if typing.TYPE_CHECKING:
    from modelpack.batch import spark_udf
    from modelpack.errors import ModelpackError
    from modelpack.flavors.python_model import PythonModel, PythonModelContext
    from modelpack.format.mlmodel import Model
    from modelpack.pyfunc import PyFuncModel, load_model, save_model
    from modelpack.settings import Settings
    from modelpack.signature.datatypes import DataType
    from modelpack.signature.infer import infer_signature
    from modelpack.signature.schema import (
        ColSpec,
        ModelSignature,
        ParamSchema,
        ParamSpec,
        Schema,
        TensorSpec,
    )

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
    "spark_udf",
]

__getattr__, __dir__ = _attach(
    __name__,
    {
        "ColSpec": "modelpack.signature.schema",
        "DataType": "modelpack.signature.datatypes",
        "Model": "modelpack.format.mlmodel",
        "ModelSignature": "modelpack.signature.schema",
        "ModelpackError": "modelpack.errors",
        "ParamSchema": "modelpack.signature.schema",
        "ParamSpec": "modelpack.signature.schema",
        "PyFuncModel": "modelpack.pyfunc",
        "PythonModel": "modelpack.flavors.python_model",
        "PythonModelContext": "modelpack.flavors.python_model",
        "Schema": "modelpack.signature.schema",
        "Settings": "modelpack.settings",
        "TensorSpec": "modelpack.signature.schema",
        "infer_signature": "modelpack.signature.infer",
        "load_model": "modelpack.pyfunc",
        "save_model": "modelpack.pyfunc",
        "spark_udf": "modelpack.batch",
    },
)
