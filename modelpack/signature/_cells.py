"""The casting rulebook for single values: a cell of an array, object or map column, a scalar,
and an inference param (``validate_param``)."""

from __future__ import annotations

import datetime as _dt
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from modelpack.errors import InvalidParams, short_repr
from modelpack.signature.datatypes import (
    AnyType,
    Array,
    DataType,
    Map,
    Object,
    ValueType,
    type_name,
)

if TYPE_CHECKING:
    from modelpack.signature.schema import ParamSpec
from modelpack.signature._wording import FLOATS, INTEGERS, describe, shown

__all__ = ["cell_problem", "convert_scalar", "validate_param"]

# -- cells and scalars ---------------------------------------------------------------------------


def cell_problem(cell: Any, dtype: ValueType) -> str | None:
    """Why ``cell`` does not fit ``dtype``: None when it fits, ``""`` when the cell itself has the
    wrong type, else what inside it does not fit (``item 2 is str 'x'``)."""
    if isinstance(dtype, AnyType):
        return None
    if isinstance(dtype, Array):
        if not isinstance(cell, list | np.ndarray | tuple):
            return ""
        for i, item in enumerate(cell):
            problem = cell_problem(item, dtype.dtype)
            if problem is not None:
                return _inside(f"item {i}", item, problem)
        return None
    if isinstance(dtype, Object):
        if not isinstance(cell, Mapping):
            return ""
        missing = {p.name for p in dtype.properties if p.required and p.name not in cell}
        if missing:
            return f"required properties {sorted(missing)} are missing"
        unknown = set(cell) - {p.name for p in dtype.properties}
        if unknown:
            return f"properties {sorted(map(str, unknown))[:10]} are not in the schema"
        for prop in dtype.properties:
            if prop.name in cell and cell[prop.name] is not None:
                problem = cell_problem(cell[prop.name], prop.dtype)
                if problem is not None:
                    return _inside(f"property '{prop.name}'", cell[prop.name], problem)
        return None
    if isinstance(dtype, Map):
        if not isinstance(cell, Mapping):
            return ""
        for key, value in cell.items():
            if not isinstance(key, str):
                return f"key {describe(key)} is not a string"
            problem = cell_problem(value, dtype.value_type)
            if problem is not None:
                return _inside(f"key {short_repr(key)}", value, problem)
        return None
    try:
        convert_scalar(dtype, cell)
    except (TypeError, ValueError):
        return ""
    return None


def _inside(where: str, value: Any, problem: str) -> str:
    return f"{where} is {describe(value)}" if problem == "" else f"{where}: {problem}"


def convert_scalar(dtype: DataType, value: Any) -> Any:
    """One value (a param, or a scalar inside a cell) as ``dtype``'s Python type; TypeError or
    ValueError when it is not one. No lossy conversions: ``1.5`` is not a long."""
    if isinstance(value, np.generic):
        value = value.item()
    if dtype == DataType.boolean:
        if isinstance(value, bool):
            return value
    elif dtype in INTEGERS:
        if isinstance(value, int) and not isinstance(value, bool):
            if dtype == DataType.integer and not -(2**31) <= value < 2**31:
                raise ValueError("out of range")
            return value
    elif dtype in FLOATS:
        if isinstance(value, int | float) and not isinstance(value, bool):
            return float(value)
    elif dtype == DataType.string:
        if isinstance(value, str):
            return value
    elif dtype == DataType.binary:
        if isinstance(value, bytes):
            return value
    elif dtype == DataType.datetime:
        if isinstance(value, _dt.datetime):
            return value
        if isinstance(value, _dt.date | str | np.datetime64 | pd.Timestamp):
            return pd.Timestamp(np.datetime64(value)).to_pydatetime()
    raise TypeError(f"expected {dtype.name}")


# -- params --------------------------------------------------------------------------------------


def validate_param(spec: ParamSpec, value: Any, what: str) -> Any:
    """``value`` converted to the param's type, or InvalidParams naming the param."""
    if value is None:
        return None
    expected = type_name(spec.dtype) if spec.shape is None else f"list of {type_name(spec.dtype)}"
    try:
        if spec.shape is not None:
            if not isinstance(value, list | tuple | np.ndarray):
                raise TypeError
            return [_convert_param(spec.dtype, v) for v in value]
        return _convert_param(spec.dtype, value)
    except (TypeError, ValueError):
        raise InvalidParams(
            f"param '{spec.name}': {what} {shown(value)} of type "
            f"{type(value).__name__} is not a valid {expected}"
        ) from None


def _convert_param(dtype: DataType | Object, value: Any) -> Any:
    if isinstance(dtype, Object):
        problem = cell_problem(value, dtype)
        if problem is not None:
            raise ValueError(problem)
        return value
    return convert_scalar(dtype, value)
