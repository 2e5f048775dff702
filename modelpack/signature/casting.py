"""The casting rulebook: which values convert to a signature's types, and how a refusal is worded.

One rulebook, two entry points, MLflow's decisions in both (this module holds the first and
names everything; ``_series`` the second, ``_cells`` single values and params, ``_wording`` the
refusals):

- ``cast_values`` (``cast_for``): raw values, as lists read from JSON or CSV. This is the
  "pre-cast" MLflow's server applies before enforcement (JSON integers are fine for ``double``
  columns, CSV text is parsed), made strict where pandas' ``astype`` would silently wrap,
  truncate or turn anything into ``True``.
- ``cast_series``: a typed pandas column, as the Python API receives it. This is MLflow's
  enforcement: safe upcasts only, integers into doubles only when no value can change, nullable
  pandas dtypes, datetimes, and a look at every cell of array, object and map columns.

``passthrough_dtype`` ties them: a column in the dtype the raw entry produces passes the typed
entry unchanged, so enforcement can skip frames the codecs built. Every refusal is a
``SignatureMismatch`` made by ``mismatch``: ``column 'pH': expected double, got str 'acidic'
(row 3)``.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import warnings
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from modelpack.errors import SignatureMismatch, one_line
from modelpack.signature._cells import cell_problem, convert_scalar, validate_param
from modelpack.signature._series import cast_series, passthrough_dtype
from modelpack.signature._wording import (
    MISSING_HINT,
    NAIVE_ONLY,
    describe,
    mismatch,
)
from modelpack.signature.datatypes import DataType

if TYPE_CHECKING:
    from modelpack.signature.schema import ColSpec, TensorSpec

__all__ = [
    "Cast",
    "cast_for",
    "cast_series",
    "cast_values",
    "cell_problem",
    "convert_scalar",
    "describe",
    "mismatch",
    "no_overflow",
    "object_array",
    "passthrough_dtype",
    "text_dtype",
    "validate_param",
]

Cast = Callable[[Sequence[Any], str], Any]
"""Converts one column's values (a list, or a 1-d array); the ``str`` names it in messages."""


# -- raw values (JSON, CSV) ----------------------------------------------------------------------


def cast_values(values: Sequence[Any], spec: ColSpec | TensorSpec | None, name: str) -> Any:
    """One column's values converted to a spec's type (``name`` is used in error messages).

    Scalar column types give 1-d arrays; array, object, map and any columns give object arrays
    whose cells enforcement checks later; without a spec the values are kept as they are.
    """
    return cast_for(spec)(values, name)


def cast_for(spec: ColSpec | TensorSpec | None) -> Cast:
    """The cast of one spec's column, to look up once and apply to many requests."""
    if spec is None:
        return _keep
    kind = spec.type  # a numpy dtype for a tensor spec, a DataType (or nested type) for a column
    if isinstance(kind, np.dtype):
        return _tensor_cast(kind)
    if isinstance(kind, DataType):
        return _RAW_CASTS[kind]
    return _keep


def object_array(values: Sequence[Any]) -> np.ndarray:
    """A 1-d object array holding the values as they are (lists stay cells, not a 2nd axis)."""
    if isinstance(values, np.ndarray) and values.dtype == object and values.ndim == 1:
        return values
    out = np.empty(len(values), dtype=object)
    for i, value in enumerate(values):
        out[i] = value
    return out


def _keep(values: Sequence[Any], name: str) -> np.ndarray:
    return object_array(values)


def _first_bad(values: Sequence[Any], ok: Callable[[Any], bool]) -> tuple[str, int | None]:
    """The first value ``ok`` refuses, described, and its row."""
    for row, value in enumerate(values):
        if not ok(value):
            return describe(value), row
    return "values of mixed types", None


def _is_number_or_none(value: Any) -> bool:
    if value is None or isinstance(value, bool | int | float | np.number):
        return True
    try:
        float(value)
    except (TypeError, ValueError, OverflowError):
        return False
    return not isinstance(value, list | dict)


def _one_dim(arr: np.ndarray, values: Sequence[Any], name: str, expected: str) -> np.ndarray:
    if arr.ndim != 1:
        raise mismatch(name, expected, *_first_bad(values, lambda v: not isinstance(v, list)))
    return arr


def _float_cast(target: DataType) -> Cast:
    dtype = target.to_numpy()

    def cast(values: Sequence[Any], name: str) -> np.ndarray:
        try:
            with no_overflow(dtype):
                arr = np.asarray(values, dtype=dtype)
        except (TypeError, ValueError, OverflowError, FloatingPointError):
            found, row = _first_bad(values, _is_number_or_none)
            if row is not None:
                raise mismatch(name, target.name, found, row) from None
            found, row = _first_bad(values, lambda v: _fits_dtype(v, dtype))
            raise mismatch(name, target.name, found, row, "out of range") from None
        return _one_dim(arr, values, name, target.name)

    return cast


def no_overflow(dtype: np.dtype) -> contextlib.AbstractContextManager[Any]:
    """Overflow raises instead of giving inf (1e39 as float32); float64 cannot overflow from
    Python numbers or text, and skips the cost (~3 us a column)."""
    if dtype.kind == "f" and dtype.itemsize < 8:
        return np.errstate(over="raise")
    return contextlib.nullcontext()


def _int_cast(target: DataType) -> Cast:
    dtype = target.to_numpy()
    info = np.iinfo(dtype)

    def bad(name: str, row: int, value: Any, why: str = "") -> SignatureMismatch:
        return mismatch(name, target.name, describe(value), row, why)

    def check(name: str, row: int, value: Any) -> None:
        number = value
        if isinstance(value, str):
            try:
                number = _text_to_number(value)
            except ValueError:
                raise bad(name, row, value) from None
        if number is None or (isinstance(number, float | np.floating) and not np.isfinite(number)):
            raise bad(name, row, value, MISSING_HINT)
        if isinstance(number, list | dict) or not isinstance(number, int | float | np.number):
            raise bad(name, row, value)
        if number != int(number):
            raise bad(name, row, value)
        if not info.min <= int(number) <= info.max:
            raise bad(name, row, value, "out of range")

    def cast(values: Sequence[Any], name: str) -> np.ndarray:
        try:
            arr = np.asarray(values)
        except (TypeError, ValueError, OverflowError):
            arr = object_array(values)
        arr = _one_dim(arr, values, name, target.name)
        if arr.dtype.kind in "iu" and arr.size:
            if arr.min() < info.min or arr.max() > info.max:
                row = int(np.argmax((arr < info.min) | (arr > info.max)))
                raise bad(name, row, values[row], "out of range")
            return arr.astype(dtype, copy=False)
        if arr.dtype.kind in "iub":
            return arr.astype(dtype, copy=False)
        if arr.dtype.kind == "f":
            ok = np.isfinite(arr)
            ok[ok] = arr[ok] == np.floor(arr[ok])
            ok &= (arr >= info.min) & (arr < float(info.max) + 1)  # max rounds up to 2**63
            if ok.all():
                return arr.astype(dtype)
        # Text, None, numbers beyond 64 bits or mixed types: find the first offending value.
        for row, value in enumerate(values):
            check(name, row, value)
        return np.array(
            [int(_text_to_number(v)) if isinstance(v, str) else int(v) for v in values], dtype
        )

    return cast


def _text_to_number(text: str) -> int | float:
    """A number from text (CSV cells): exact for integers, which floats would round."""
    try:
        return int(text)
    except ValueError:
        return float(text)


def _bool_cast(values: Sequence[Any], name: str) -> np.ndarray:
    if all(isinstance(v, bool | np.bool_) for v in values):
        return np.asarray(values, dtype=bool)
    if all(isinstance(v, bool | np.bool_) or v is None for v in values):
        return object_array(values)  # keep None as missing, as enforcement expects
    raise mismatch(
        name, "boolean", *_first_bad(values, lambda v: isinstance(v, bool | np.bool_) or v is None)
    )


def _binary_cast(values: Sequence[Any], name: str) -> np.ndarray:
    out = np.empty(len(values), dtype=object)
    for row, value in enumerate(values):
        if value is None or isinstance(value, bytes):
            out[row] = value
            continue
        if not isinstance(value, str):
            raise mismatch(name, "binary", describe(value), row, "send binary as base64 text")
        try:
            out[row] = base64.b64decode(value, validate=False)
        except (binascii.Error, ValueError):
            raise mismatch(name, "binary", describe(value), row, "not valid base64") from None
    return out


def _datetime_cast(values: Sequence[Any], name: str) -> np.ndarray:
    try:
        return _naive_datetimes(values)
    except _Aware as exc:
        raise mismatch(name, "datetime", str(exc), reason=NAIVE_ONLY) from None
    except (TypeError, ValueError, OverflowError) as exc:
        whole = exc
    for row, value in enumerate(values):  # the first value that fails on its own
        try:
            _naive_datetimes([value])
        except (TypeError, ValueError, OverflowError) as exc:
            why = NAIVE_ONLY if isinstance(exc, _Aware) else ""
            raise mismatch(name, "datetime", describe(value), row, why) from None
    raise mismatch(name, "datetime", "values of mixed formats", reason=one_line(whole))


class _Aware(ValueError):
    """Datetimes with a timezone (the message is their dtype)."""


def _naive_datetimes(values: Sequence[Any]) -> np.ndarray:
    with warnings.catch_warnings():
        # Text of no single format is parsed value by value, as on MLflow's server; pandas
        # warns each time.
        warnings.filterwarnings("ignore", "Could not infer format", UserWarning)
        parsed = pd.to_datetime(pd.Series(object_array(values), dtype=object))
    if isinstance(parsed.dtype, pd.DatetimeTZDtype):
        raise _Aware(str(parsed.dtype))
    return parsed.astype("datetime64[ns]").to_numpy()


def _tensor_cast(dtype: np.dtype) -> Cast:
    """A column of a tensor signature: cast to its dtype unless the cells are arrays."""

    def cast(values: Sequence[Any], name: str) -> Any:
        if any(isinstance(v, list) for v in values):
            return object_array(values)  # enforcement stacks the cells into a tensor
        try:
            with no_overflow(dtype):
                return np.asarray(values, dtype=dtype)
        except (TypeError, ValueError, OverflowError, FloatingPointError):
            raise mismatch(
                name, str(dtype), *_first_bad(values, lambda v: _fits_dtype(v, dtype))
            ) from None

    return cast


def _fits_dtype(value: Any, dtype: np.dtype) -> bool:
    try:
        with no_overflow(dtype):
            np.asarray([value], dtype=dtype)
    except (TypeError, ValueError, OverflowError, FloatingPointError):
        return False
    return True


_RAW_CASTS: dict[DataType, Cast] = {
    DataType.boolean: _bool_cast,
    DataType.integer: _int_cast(DataType.integer),
    DataType.long: _int_cast(DataType.long),
    DataType.float: _float_cast(DataType.float),
    DataType.double: _float_cast(DataType.double),
    DataType.string: _keep,
    DataType.binary: _binary_cast,
    DataType.datetime: _datetime_cast,
}


def text_dtype(dtype: DataType) -> np.dtype | None:
    """The dtype a text reader (CSV) parses a column of ``dtype`` into; None when the text is kept
    and cast after reading (strings, base64, datetimes)."""
    numpy = dtype.to_numpy()
    return numpy if numpy.kind in "biuf" else None
