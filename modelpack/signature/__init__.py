"""Signatures: what a model takes and returns, and the rules that hold input to them.

``datatypes`` and ``schema`` are MLflow's signature model (column and tensor specs, params), with
MLflow's JSON; ``infer`` derives a signature from examples; ``casting`` is the one rulebook for
converting values to a signature's types and wording refusals; ``enforce`` applies it to model
input (``_tensors`` for tensor signatures); ``frames`` lays frames out in memory as MLflow does.

Reading a signature needs numpy only; what works on data (``enforce``, ``infer``) imports pandas
and is imported on first use (``modelpack._lazy``).
"""

from __future__ import annotations

import typing

from modelpack._lazy import attach as _attach
from modelpack.signature.datatypes import AnyType, Array, DataType, Map, Object, Property
from modelpack.signature.schema import (
    ColSpec,
    ModelSignature,
    ParamSchema,
    ParamSpec,
    Schema,
    TensorSpec,
)

if typing.TYPE_CHECKING:
    from modelpack.signature.enforce import enforce_input, enforce_params
    from modelpack.signature.infer import infer_schema, infer_signature

__all__ = [
    "AnyType",
    "Array",
    "ColSpec",
    "DataType",
    "Map",
    "ModelSignature",
    "Object",
    "ParamSchema",
    "ParamSpec",
    "Property",
    "Schema",
    "TensorSpec",
    "enforce_input",
    "enforce_params",
    "infer_schema",
    "infer_signature",
]

__getattr__, __dir__ = _attach(
    __name__,
    {
        "enforce_input": "modelpack.signature.enforce",
        "enforce_params": "modelpack.signature.enforce",
        "infer_schema": "modelpack.signature.infer",
        "infer_signature": "modelpack.signature.infer",
    },
)
