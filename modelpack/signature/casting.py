"""The casting rulebook: which values convert to a signature's types, and how a refusal is worded.

One rulebook, two entry points, MLflow's decisions in both:

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
import datetime as _dt
import warnings
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from modelpack.errors import InvalidParams, SignatureMismatch, one_line, short_repr
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
    from modelpack.signature.schema import ColSpec, ParamSpec, TensorSpec

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

_MISSING_HINT = (
    "integer columns cannot hold missing or infinite values: declare the column as double in the "
    "signature, or fill the missing values"
)
_NAIVE_ONLY = "only timezone-naive datetimes are supported"
_INTEGERS = (DataType.integer, DataType.long)
_FLOATS = (DataType.float, DataType.double)
_TEXT = (DataType.string, DataType.binary)
_OBJECT = np.dtype(object)


# -- wording -------------------------------------------------------------------------------------


def mismatch(
    column: str, expected: str, found: str, row: int | None = None, reason: str = ""
) -> SignatureMismatch:
    """The one refusal: ``column 'x': expected double, got str 'acidic' (row 3)[; reason]``.

    ``found`` is a value (``describe``) or a dtype; ``row`` is the position in the column.
    """
    why = f"; {reason}" if reason else ""
    where = f" (row {row})" if row is not None else ""
    return SignatureMismatch(
        f"column '{column}': expected {expected}, got {found}{where}{why}",
        column=column,
        row=row,
        reason=f"expected {expected}, got {found}{why}",
    )


def describe(value: Any) -> str:
    """A value as messages show it, type and short repr: ``str 'acidic'``, ``float64 1.5``."""
    return f"{type(value).__name__} {_shown(value)}"


def _shown(value: Any) -> str:
    return short_repr(value.item() if isinstance(value, np.generic) else value)


def _cell(values: pd.Series, pos: int) -> str:
    """The value at ``pos`` of a typed column, named by the column's dtype (``Int64 <NA>``)."""
    if values.dtype == _OBJECT:
        return describe(values.iloc[pos])
    value = values.iloc[pos]
    return f"{values.dtype} {short_repr(value.item() if isinstance(value, np.generic) else value)}"


def _first_refused(
    values: pd.Series, name: str, expected: DataType, ok: Callable[[Any], bool]
) -> SignatureMismatch:
    """The refusal of the first value ``ok`` refuses, or of the column as a whole."""
    for row, value in enumerate(values):
        if not ok(value):
            hint = _MISSING_HINT if value is None and expected in _INTEGERS else ""
            return mismatch(name, expected.name, describe(value), row, hint)
    return mismatch(name, expected.name, str(values.dtype))


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
            raise bad(name, row, value, _MISSING_HINT)
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
        raise mismatch(name, "datetime", str(exc), reason=_NAIVE_ONLY) from None
    except (TypeError, ValueError, OverflowError) as exc:
        whole = exc
    for row, value in enumerate(values):  # the first value that fails on its own
        try:
            _naive_datetimes([value])
        except (TypeError, ValueError, OverflowError) as exc:
            why = _NAIVE_ONLY if isinstance(exc, _Aware) else ""
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


# -- typed columns (pandas) ----------------------------------------------------------------------


def passthrough_dtype(dtype: ValueType) -> np.dtype | None:
    """The dtype in which a column of ``dtype`` passes ``cast_series`` as it is (the dtype
    ``cast_values`` gives it); None where no dtype is enough: array, object and map cells each
    need a look."""
    if isinstance(dtype, DataType):
        return dtype.to_pandas()
    if isinstance(dtype, AnyType):
        return _OBJECT  # other dtypes pass too, after a look
    return None


def cast_series(values: pd.Series, dtype: ValueType, name: str) -> pd.Series:
    """A typed column converted to ``dtype`` as MLflow's enforcement does, or ``mismatch``."""
    if isinstance(dtype, AnyType):
        return values
    if not isinstance(dtype, DataType):
        for pos, cell in enumerate(values):
            problem = cell_problem(cell, dtype)
            if problem is not None:
                raise mismatch(name, type_name(dtype), describe(cell), pos, problem)
        return values
    if dtype == DataType.datetime:
        return _datetime_series(values, name)
    if values.dtype == _OBJECT and dtype not in _TEXT:
        values = values.infer_objects()  # first, as MLflow: all ints in objects are int64
    if isinstance(values.dtype, pd.api.extensions.ExtensionDtype) and not isinstance(
        values.dtype, np.dtype
    ):
        values = _from_extension(values, dtype, name)
    vdtype = values.dtype
    if dtype in _TEXT:
        if vdtype.kind == "O":
            return values
        if vdtype.kind == ("U" if dtype == DataType.string else "S"):
            return values.astype(object)
        raise mismatch(name, dtype.name, str(vdtype))
    if vdtype == _OBJECT:
        if dtype == DataType.boolean:
            return values  # converting would turn None into False
        if dtype == DataType.double:
            return _object_to_double(values, name)
        ok = _is_numeric if dtype in _INTEGERS else _is_number_or_missing
        raise _first_refused(values, name, dtype, ok)
    target = dtype.to_numpy()
    if vdtype == target:
        return values
    if _is_upcast(vdtype, target):
        return values.astype(target)
    if vdtype == np.int64 and target.kind == "f" and np.isin(values.to_numpy(), (0, 1)).all():
        return values.astype(target)  # MLflow lets 0/1 long columns through as floats
    if vdtype.kind == "f" and target.kind in "iu":
        arr = values.to_numpy()
        bad = ~np.isfinite(arr)
        bad[~bad] = arr[~bad] != np.floor(arr[~bad])
        if bad.any():
            pos = int(np.argmax(bad))
            hint = "" if np.isfinite(arr[pos]) else _MISSING_HINT
            raise mismatch(name, dtype.name, _cell(values, pos), pos, hint)
    raise mismatch(
        name, dtype.name, str(vdtype), reason=f"{vdtype} does not convert safely to {target}"
    )


def _object_to_double(values: pd.Series, name: str) -> pd.Series:
    """Mixed objects into a double column: whatever ``pd.to_numeric`` reads, as MLflow (which
    means it for Decimals, and applies it to every object column)."""
    try:
        return pd.to_numeric(values, errors="raise").astype(np.float64)
    except (TypeError, ValueError, OverflowError):
        pass
    bad = (pd.to_numeric(values, errors="coerce").isna() & values.notna()).to_numpy()
    if not bad.any():
        return _first_refused(values, name, DataType.double, _is_numeric)
    pos = int(np.argmax(bad))
    raise mismatch(name, DataType.double.name, describe(values.iloc[pos]), pos)


def _is_numeric(value: Any) -> bool:
    return isinstance(value, int | float | np.number)


def _is_number_or_missing(value: Any) -> bool:
    return _is_numeric(value) or _is_missing(value)


def _is_upcast(actual: np.dtype, target: np.dtype) -> bool:
    if actual.kind == target.kind:
        return actual.itemsize <= target.itemsize
    if actual.kind == "u" and target.kind == "i":
        return actual.itemsize < target.itemsize
    if actual.kind in "iu" and target == np.float64:
        return actual.itemsize <= 6
    return False


def _is_missing(value: Any) -> bool:
    if value is None or value is pd.NA or value is pd.NaT:
        return True
    return isinstance(value, float | np.floating) and bool(np.isnan(value))


def _from_extension(values: pd.Series, dtype: DataType, name: str) -> pd.Series:
    """A column of a pandas extension dtype (``Int64``, ``string``, ...) in numpy terms."""
    if isinstance(values.dtype, pd.StringDtype):
        if dtype not in _TEXT:
            raise _first_refused(values, name, dtype, _is_missing)
        return values.astype(object).where(values.notna(), None)
    numpy_dtype = getattr(values.dtype, "numpy_dtype", None)
    if numpy_dtype is None:
        raise mismatch(name, dtype.name, str(values.dtype))
    missing = values.isna().to_numpy()
    if not missing.any():
        return values.astype(numpy_dtype)
    # Missing values: judged as pandas' classic form of the column, numbers as floats with NaN
    # and booleans as objects with None (MLflow refuses them all, mlflow/mlflow#25593).
    if dtype in _TEXT or (numpy_dtype.kind == "b" and dtype != DataType.boolean):
        raise mismatch(name, dtype.name, str(values.dtype))
    if numpy_dtype.kind == "b":
        return values.astype(object).where(values.notna(), None)
    if dtype in _INTEGERS:
        pos = int(np.argmax(missing))
        raise mismatch(name, dtype.name, _cell(values, pos), pos, _MISSING_HINT)
    return values.astype(numpy_dtype if numpy_dtype.kind == "f" else np.dtype(np.float64))


def _datetime_series(values: pd.Series, name: str) -> pd.Series:
    vdtype = values.dtype
    if isinstance(vdtype, pd.DatetimeTZDtype):
        raise mismatch(name, "datetime", str(vdtype), reason=_NAIVE_ONLY)
    if vdtype.kind == "M":
        return values.astype("datetime64[ns]")
    if vdtype.kind == "O":
        # Datetime objects are cast; strings are not parsed here (as in MLflow): the codecs
        # parse text for the declared type before enforcement.
        if not all(_is_datetime(v) for v in values):
            raise _first_refused(values, name, DataType.datetime, _is_datetime)
        try:
            return values.astype("datetime64[ns]")
        except (TypeError, ValueError) as exc:
            raise mismatch(name, "datetime", str(vdtype), reason=one_line(exc)) from None
    raise mismatch(name, "datetime", str(vdtype))


def _is_datetime(value: Any) -> bool:
    return _is_missing(value) or isinstance(value, _dt.date | np.datetime64)


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
    elif dtype in _INTEGERS:
        if isinstance(value, int) and not isinstance(value, bool):
            if dtype == DataType.integer and not -(2**31) <= value < 2**31:
                raise ValueError("out of range")
            return value
    elif dtype in _FLOATS:
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
            f"param '{spec.name}': {what} {_shown(value)} of type "
            f"{type(value).__name__} is not a valid {expected}"
        ) from None


def _convert_param(dtype: DataType | Object, value: Any) -> Any:
    if isinstance(dtype, Object):
        problem = cell_problem(value, dtype)
        if problem is not None:
            raise ValueError(problem)
        return value
    return convert_scalar(dtype, value)
