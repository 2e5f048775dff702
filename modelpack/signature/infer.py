"""Signature inference from example data, with MLflow's results."""

from __future__ import annotations

import datetime as _dt
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from modelpack.errors import SchemaError
from modelpack.signature.datatypes import ValueType
from modelpack.signature.schema import (
    AnyType,
    Array,
    ColSpec,
    DataType,
    ModelSignature,
    Object,
    ParamSchema,
    ParamSpec,
    Property,
    Schema,
    TensorSpec,
)

__all__ = ["infer_params_schema", "infer_schema", "infer_signature", "numpy_to_datatype"]


def infer_signature(
    model_input: Any = None, model_output: Any = None, params: Mapping[str, Any] | None = None
) -> ModelSignature:
    """Infer a signature from example inputs, outputs and params, as MLflow's does."""
    return ModelSignature(
        inputs=infer_schema(model_input) if model_input is not None else None,
        outputs=infer_schema(model_output) if model_output is not None else None,
        params=infer_params_schema(params) if params else None,
    )


def infer_schema(data: Any) -> Schema:
    """The schema of one example value."""
    if isinstance(data, pd.DataFrame):
        return Schema(
            ColSpec(_infer_column(data[col], str(col)), str(col), not data[col].isna().any())
            for col in data.columns
        )
    if isinstance(data, pd.Series):
        name = None if data.name is None else str(data.name)
        return Schema([ColSpec(_infer_column(data, name or "0"), name, True)])
    if isinstance(data, np.ndarray):
        return Schema([TensorSpec(_clean_dtype(data.dtype), (-1, *data.shape[1:]))])
    if isinstance(data, Mapping):
        if data and all(isinstance(v, np.ndarray) for v in data.values()):
            return Schema(
                TensorSpec(_clean_dtype(v.dtype), (-1, *v.shape[1:]), str(k))
                for k, v in data.items()
            )
        return Schema(
            ColSpec(_infer_value(v, str(k)), str(k), v is not None) for k, v in data.items()
        )
    if isinstance(data, list):
        if not data:
            return Schema([ColSpec(DataType.string)])
        if all(isinstance(x, Mapping) for x in data):
            merged = _merge_objects([_infer_value(x, "input") for x in data])
            return Schema(ColSpec(p.dtype, p.name, p.required) for p in merged.properties)
        return Schema([ColSpec(_common([_infer_value(x, "input") for x in data], "input"))])
    return Schema([ColSpec(_infer_value(data, "input"))])


def infer_params_schema(params: Mapping[str, Any]) -> ParamSchema:
    """A params schema whose defaults are the given values."""
    specs = []
    for name, value in params.items():
        if isinstance(value, list | np.ndarray):
            items = list(value)
            dtype = _common([_infer_value(v, name) for v in items], name) if items else None
            if not isinstance(dtype, DataType):
                raise SchemaError(f"param '{name}': lists of scalars only, got {value!r}")
            specs.append(ParamSpec(name, dtype, items, (-1,)))
        else:
            dtype = _infer_value(value, name)
            if not isinstance(dtype, DataType | Object):
                raise SchemaError(f"param '{name}': unsupported value {value!r}")
            specs.append(ParamSpec(name, dtype, value, None))
    return ParamSchema(specs)


def _clean_dtype(dtype: np.dtype) -> np.dtype:
    if dtype.kind == "U":
        return np.dtype(str)
    if dtype.kind == "S":
        return np.dtype(bytes)
    return dtype


def numpy_to_datatype(dtype: np.dtype, where: str) -> DataType:
    """MLflow's mapping from a numpy dtype to a column type."""
    kind, size = dtype.kind, dtype.itemsize
    if kind == "b":
        return DataType.boolean
    if kind == "i":
        return DataType.integer if size <= 4 else DataType.long
    if kind == "u":
        if size <= 2:
            return DataType.integer
        if size <= 4:
            return DataType.long
    if kind == "f":
        return DataType.float if size <= 4 else DataType.double
    if kind == "U":
        return DataType.string
    if kind == "S":
        return DataType.binary
    if kind == "M":
        return DataType.datetime
    raise SchemaError(f"{where}: numpy type {dtype} has no column type")


def _infer_column(col: pd.Series, name: str) -> ValueType:
    dtype = col.dtype
    if isinstance(dtype, pd.StringDtype):
        return DataType.string
    if isinstance(dtype, pd.DatetimeTZDtype):
        raise SchemaError(f"column '{name}': timezone-aware datetimes are not supported")
    if isinstance(dtype, pd.api.extensions.ExtensionDtype) and not isinstance(dtype, np.dtype):
        # Nullable Int64, Float64 and boolean: infer from their numpy counterpart.
        numpy_dtype = getattr(dtype, "numpy_dtype", None)
        if numpy_dtype is None:
            raise SchemaError(f"column '{name}': unsupported pandas type {dtype}")
        return numpy_to_datatype(np.dtype(numpy_dtype), f"column '{name}'")
    if dtype.kind != "O":
        return numpy_to_datatype(dtype, f"column '{name}'")
    values = [v for v in col if not _is_missing(v)]
    if not values:
        return DataType.string
    return _common([_infer_value(v, name) for v in values], name)


def _is_missing(value: Any) -> bool:
    if value is None:
        return True
    return isinstance(value, float) and np.isnan(value)


def _infer_value(value: Any, name: str) -> ValueType:
    if isinstance(value, bool | np.bool_):
        return DataType.boolean
    if isinstance(value, int | np.integer):
        if isinstance(value, np.integer):
            return numpy_to_datatype(np.dtype(type(value)), f"'{name}'")
        return DataType.long
    if isinstance(value, float | np.floating):
        if isinstance(value, np.floating):
            return numpy_to_datatype(np.dtype(type(value)), f"'{name}'")
        return DataType.double
    if isinstance(value, str):
        return DataType.string
    if isinstance(value, bytes | bytearray):
        return DataType.binary
    if isinstance(value, _dt.datetime | _dt.date | np.datetime64 | pd.Timestamp):
        return DataType.datetime
    if isinstance(value, list | np.ndarray | tuple):
        items = list(value)
        if not items:
            return Array(AnyType())
        return Array(_common([_infer_value(v, name) for v in items if v is not None], name))
    if isinstance(value, Mapping):
        if not value:
            raise SchemaError(f"'{name}': cannot infer a type from an empty dict")
        if not all(isinstance(k, str) for k in value):
            raise SchemaError(f"'{name}': dict keys must be strings")
        return Object(
            tuple(
                Property(k, _infer_value(v, k) if v is not None else AnyType(), v is not None)
                for k, v in value.items()
            )
        )
    if value is None:
        return AnyType()
    raise SchemaError(f"'{name}': cannot infer a type from {type(value).__name__}")


def _common(types: Sequence[ValueType], name: str) -> ValueType:
    """One type for many values: equal types, or objects merged, else an error."""
    if not types:
        return AnyType()
    if all(isinstance(t, Object) for t in types):
        return _merge_objects([t for t in types if isinstance(t, Object)])
    if all(isinstance(t, Array) for t in types):
        inner = [
            t.dtype for t in types if isinstance(t, Array) and not isinstance(t.dtype, AnyType)
        ]
        return Array(_common(inner, name) if inner else AnyType())
    distinct = [t for i, t in enumerate(types) if t not in types[:i]]
    if len(distinct) == 1:
        return distinct[0]
    if set(distinct) <= {DataType.long, DataType.double}:
        return DataType.double
    names = sorted({type(t).__name__ if not isinstance(t, DataType) else t.name for t in distinct})
    raise SchemaError(f"'{name}': values of different types {names} cannot share one type")


def _merge_objects(objects: list[Any]) -> Object:
    by_name: dict[str, list[Property]] = {}
    for obj in objects:
        if not isinstance(obj, Object):
            raise SchemaError("expected a list of dicts")
        for prop in obj.properties:
            by_name.setdefault(prop.name, []).append(prop)
    props = []
    for name, found in by_name.items():
        concrete = [p.dtype for p in found if not isinstance(p.dtype, AnyType)]
        dtype = _common(concrete, name) if concrete else AnyType()
        required = len(found) == len(objects) and all(p.required for p in found)
        props.append(Property(name, dtype, required))
    return Object(tuple(props))
