"""modelpack: package models in MLflow's MLmodel format, load them behind one interface, serve."""

from __future__ import annotations

import typing

from modelpack._version import __version__
from modelpack.errors import ModelpackError
from modelpack.format.mlmodel import Model
from modelpack.pyfunc import (
    PyFuncModel,
    PythonModel,
    PythonModelContext,
    load_model,
    save_model,
)
from modelpack.settings import Settings
from modelpack.signature import (
    ColSpec,
    DataType,
    ModelSignature,
    ParamSchema,
    ParamSpec,
    Schema,
    TensorSpec,
    infer_signature,
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

if typing.TYPE_CHECKING:
    from modelpack.batch import spark_udf


def __getattr__(name: str) -> typing.Any:
    # spark_udf is imported on first use: ``import modelpack`` stays free of the batch modules
    # (and pyspark is imported only when the UDF is made).
    if name == "spark_udf":
        from modelpack.batch import spark_udf

        return spark_udf
    raise AttributeError(f"module 'modelpack' has no attribute {name!r}")
