"""Column casts: JSON or CSV values -> arrays of a signature's types, with messages that name the
column, the offending value and its row.

These are the "pre-cast" MLflow's server applies before enforcement (which is why JSON integers are
accepted for ``double`` columns over HTTP), made strict where pandas' ``astype`` would silently
wrap, truncate or turn anything into ``True``.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import pandas as pd

from modelpack.errors import SignatureMismatch, one_line, short_repr
from modelpack.schema import ColSpec, DataType, TensorSpec

__all__ = ["Cast", "cast_for", "cast_values", "object_array"]

Cast = Callable[[Sequence[Any], str], Any]
"""Converts one column's values (a list, or a 1-d array); the ``str`` names it in messages."""


def _describe(value: Any) -> str:
    return f"{type(value).__name__} {short_repr(value)}"


def _mismatch(
    name: str, expected: str, found: str, row: int | None = None, why: str = ""
) -> SignatureMismatch:
    where = f" (row {row})" if row is not None else ""
    return SignatureMismatch(
        f"column '{name}': expected {expected}, got {found}{where}{why}",
        column=name,
        row=row,
        reason=f"expected {expected}, got {found}{why}",
    )


def _first_bad(values: Sequence[Any], ok: Callable[[Any], bool]) -> tuple[str, int | None]:
    """The first value ``ok`` refuses, described, and its row."""
    for row, value in enumerate(values):
        if not ok(value):
            return _describe(value), row
    return "values of mixed types", None


def _is_number(value: Any) -> bool:
    if isinstance(value, bool | int | float | np.number):
        return True
    try:
        float(value)
    except (TypeError, ValueError, OverflowError):
        return False
    return not isinstance(value, list | dict)


def object_array(values: Sequence[Any]) -> np.ndarray:
    """A 1-d object array holding the values as they are (lists stay cells, not a 2nd axis)."""
    if isinstance(values, np.ndarray) and values.dtype == object and values.ndim == 1:
        return values
    out = np.empty(len(values), dtype=object)
    for i, value in enumerate(values):
        out[i] = value
    return out


def _one_dim(arr: np.ndarray, values: Sequence[Any], name: str, expected: str) -> np.ndarray:
    if arr.ndim != 1:
        raise _mismatch(name, expected, *_first_bad(values, lambda v: not isinstance(v, list)))
    return arr


def _float_cast(target: np.dtype) -> Cast:
    label = "float" if target == np.float32 else "double"

    def cast(values: Sequence[Any], name: str) -> np.ndarray:
        try:
            with np.errstate(over="ignore"):  # beyond float32's range: inf, as numpy casts it
                arr = np.asarray(values, dtype=target)
        except (TypeError, ValueError, OverflowError):
            raise _mismatch(name, label, *_first_bad(values, _is_number)) from None
        return _one_dim(arr, values, name, label)

    return cast


def _int_cast(target: np.dtype) -> Cast:
    label = "integer" if target == np.int32 else "long"
    info = np.iinfo(target)

    def bad(name: str, row: int, value: Any, why: str = "") -> SignatureMismatch:
        return _mismatch(name, label, _describe(value), row, why)

    def check(name: str, row: int, value: Any) -> None:
        number = value
        if isinstance(value, str):
            try:
                number = _text_to_number(value)
            except ValueError:
                raise bad(name, row, value) from None
        if number is None or (isinstance(number, float | np.floating) and not np.isfinite(number)):
            raise bad(name, row, value, _MISSING)
        if isinstance(number, list | dict) or not isinstance(number, int | float | np.number):
            raise bad(name, row, value)
        if number != int(number):
            raise bad(name, row, value)
        if not info.min <= int(number) <= info.max:
            raise bad(name, row, value, ", out of range")

    def cast(values: Sequence[Any], name: str) -> np.ndarray:
        try:
            arr = np.asarray(values)
        except (TypeError, ValueError, OverflowError):
            arr = object_array(values)
        arr = _one_dim(arr, values, name, label)
        if arr.dtype.kind in "iu" and arr.size:
            if arr.min() < info.min or arr.max() > info.max:
                row = int(np.argmax((arr < info.min) | (arr > info.max)))
                raise bad(name, row, values[row], ", out of range")
            return arr.astype(target, copy=False)
        if arr.dtype.kind in "iub":
            return arr.astype(target, copy=False)
        if arr.dtype.kind == "f":
            ok = np.isfinite(arr)
            ok[ok] = arr[ok] == np.floor(arr[ok])
            ok &= (arr >= info.min) & (arr <= info.max)
            if ok.all():
                return arr.astype(target)
        # Text, None, numbers beyond 64 bits or mixed types: find the first offending value.
        for row, value in enumerate(values):
            check(name, row, value)
        return np.array(
            [int(_text_to_number(v)) if isinstance(v, str) else int(v) for v in values], target
        )

    return cast


def _text_to_number(text: str) -> int | float:
    """A number from text (CSV cells): exact for integers, which floats would round."""
    try:
        return int(text)
    except ValueError:
        return float(text)


_MISSING = (
    "; integer columns cannot hold missing or infinite values: declare the column as double "
    "in the signature"
)


def _bool_cast(values: Sequence[Any], name: str) -> np.ndarray:
    if all(isinstance(v, bool | np.bool_) for v in values):
        return np.asarray(values, dtype=bool)
    if all(isinstance(v, bool | np.bool_) or v is None for v in values):
        return object_array(values)  # keep None as missing, as enforcement expects
    raise _mismatch(
        name, "boolean", *_first_bad(values, lambda v: isinstance(v, bool | np.bool_) or v is None)
    )


def _string_cast(values: Sequence[Any], name: str) -> np.ndarray:
    return object_array(values)


def _binary_cast(values: Sequence[Any], name: str) -> np.ndarray:
    out = np.empty(len(values), dtype=object)
    for row, value in enumerate(values):
        if value is None or isinstance(value, bytes):
            out[row] = value
            continue
        if not isinstance(value, str):
            raise _mismatch(name, "binary (base64 text)", _describe(value), row)
        try:
            out[row] = base64.b64decode(value, validate=False)
        except (binascii.Error, ValueError):
            raise _mismatch(name, "binary (base64 text)", "text that is not base64", row) from None
    return out


def _datetime_cast(values: Sequence[Any], name: str) -> np.ndarray:
    series = pd.Series(object_array(values), dtype=object)
    try:
        parsed = pd.to_datetime(series)
    except (TypeError, ValueError, OverflowError) as exc:
        raise _mismatch(name, "datetime", one_line(exc)) from None
    if isinstance(parsed.dtype, pd.DatetimeTZDtype):
        raise _mismatch(name, "datetime", f"{parsed.dtype}; only timezone-naive values")
    return parsed.astype("datetime64[ns]").to_numpy()


def _keep(values: Sequence[Any], name: str) -> np.ndarray:
    return object_array(values)


_DATA_CASTS: dict[DataType, Cast] = {
    DataType.boolean: _bool_cast,
    DataType.integer: _int_cast(np.dtype(np.int32)),
    DataType.long: _int_cast(np.dtype(np.int64)),
    DataType.float: _float_cast(np.dtype(np.float32)),
    DataType.double: _float_cast(np.dtype(np.float64)),
    DataType.string: _string_cast,
    DataType.binary: _binary_cast,
    DataType.datetime: _datetime_cast,
}


def _tensor_cast(dtype: np.dtype) -> Cast:
    """A column of a tensor signature: cast to its dtype unless the cells are arrays."""

    def cast(values: Sequence[Any], name: str) -> Any:
        if any(isinstance(v, list) for v in values):
            return object_array(values)  # enforcement stacks the cells into a tensor
        try:
            with np.errstate(over="ignore"):  # beyond float32's range: inf, as numpy casts it
                return np.asarray(values, dtype=dtype)
        except (TypeError, ValueError, OverflowError):
            raise _mismatch(
                name, str(dtype), *_first_bad(values, lambda v: _fits(v, dtype))
            ) from None

    return cast


def _fits(value: Any, dtype: np.dtype) -> bool:
    try:
        with np.errstate(over="ignore"):
            np.asarray([value], dtype=dtype)
    except (TypeError, ValueError, OverflowError):
        return False
    return True


def cast_values(values: Sequence[Any], spec: ColSpec | TensorSpec | None, name: str) -> Any:
    """One column's values converted to a spec's type (``name`` is used in error messages).

    Scalar column types give 1-d arrays; array, object, map and any columns give object arrays
    whose cells enforcement checks later; without a spec the values go through ``np.asarray``.
    """
    return cast_for(spec)(values, name)


def cast_for(spec: ColSpec | TensorSpec | None) -> Cast:
    if spec is None:
        return _keep
    if isinstance(spec, TensorSpec):
        return _tensor_cast(spec.type)
    if isinstance(spec.type, DataType):
        return _DATA_CASTS[spec.type]
    return _keep
