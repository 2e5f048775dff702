"""Schema enforcement: MLflow's decisions, with messages that name the column and the row.

``enforce_input`` turns model input into what the schema promises (a DataFrame with the schema's
columns in order and types, an ndarray, or a dict of ndarrays) or raises ``SignatureMismatch``.
``enforce_params`` does the same for inference params. Neither ever echoes the whole input.
"""

from __future__ import annotations

import datetime as _dt
import decimal
import logging
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from modelpack.datatypes import ValueType, type_name
from modelpack.enforce_tensors import enforce_tensors
from modelpack.errors import InvalidParams, ModelpackError, SignatureMismatch, one_line, short_repr
from modelpack.frames import with_pandas_layout
from modelpack.schema import (
    AnyType,
    Array,
    ColSpec,
    DataType,
    Map,
    Object,
    ParamSchema,
    ParamSpec,
    Schema,
)

__all__ = ["enforce_input", "enforce_params", "validate_param"]

_log = logging.getLogger(__name__)
_MISSING_HINT = (
    " The column holds missing values, which integer columns cannot represent: declare it as"
    " double in the signature, or fill the missing values."
)


def _short(value: Any) -> str:
    return short_repr(value.item() if isinstance(value, np.generic) else value)


def enforce_input(data: Any, schema: Schema) -> Any:
    """Check and convert ``data`` against an input schema."""
    try:
        if schema.is_tensor_spec():
            return enforce_tensors(data, schema)
        return _enforce_columns(_to_frame(data, schema), schema)
    except ModelpackError:
        raise
    except (TypeError, ValueError, OverflowError) as exc:
        # Kept on purpose: enforcement hands the caller's objects, of any shape and content, to
        # pandas and numpy, and these three are how they refuse them (often from C, with no frame
        # that would tell their refusal apart from our own code). That is bad input, a 400.
        # Anything else (KeyError, AttributeError, ...) is a bug of ours and stays a 500.
        raise SignatureMismatch(
            f"the input ({type(data).__name__}) does not fit the model's signature: {one_line(exc)}"
        ) from exc


# ---------------------------------------------------------------------------------------------
# column schemas


def _to_frame(data: Any, schema: Schema) -> pd.DataFrame:
    if isinstance(data, pd.DataFrame):
        return data
    if isinstance(data, pd.Series):
        return data.to_frame()
    nested = any(isinstance(s.type, Array | Object | Map) for s in schema.inputs)
    if isinstance(data, Mapping):
        if nested or all(not isinstance(v, list | np.ndarray) for v in data.values()):
            return pd.DataFrame([data])
        try:
            return pd.DataFrame(
                {
                    k: list(v) if isinstance(v, np.ndarray) and v.ndim > 1 else v
                    for k, v in data.items()
                }
            )
        except ValueError as exc:
            raise SignatureMismatch(
                f"the model has a column-based signature and expects a DataFrame; "
                f"the dict given cannot be one: {exc}"
            ) from None
    if isinstance(data, np.ndarray):
        if data.ndim > 2:
            raise SignatureMismatch(
                f"the model has a column-based signature; got a {data.ndim}-d array"
            )
        return pd.DataFrame(data)
    if isinstance(data, list):
        if nested and len(schema.inputs) == 1 and not all(isinstance(x, Mapping) for x in data):
            return pd.DataFrame({schema.inputs[0].name or 0: data})
        return pd.DataFrame(data)
    if isinstance(data, str | bytes | int | float | bool | _dt.date | np.generic):
        return pd.DataFrame([[data]])
    raise SignatureMismatch(
        f"the model has a column-based signature and expects a DataFrame, got {type(data).__name__}"
    )


def _ready_dtypes(schema: Schema) -> tuple[list[str], list[np.dtype]] | None:
    """Column names and dtypes of a frame that already fits ``schema`` exactly, or None when
    no frame can skip the checks (array, object or map columns need a look at every cell).

    Worked out once per schema and kept on it: the server asks for every request."""
    cached = schema.__dict__.get("_ready_dtypes", False)
    if cached is not False:
        return cached
    names: list[str] = []
    dtypes: list[np.dtype] = []
    ready: tuple[list[str], list[np.dtype]] | None = (names, dtypes)
    for spec in schema.inputs:
        if spec.name is None or not isinstance(spec, ColSpec):
            ready = None
            break
        if isinstance(spec.type, DataType):
            dtypes.append(spec.type.to_pandas())
        elif isinstance(spec.type, AnyType):
            dtypes.append(np.dtype(object))  # other dtypes take the checked path, and pass
        else:
            ready = None
            break
        names.append(spec.name)
    schema.__dict__["_ready_dtypes"] = ready
    return ready


def _already_fits(df: pd.DataFrame, schema: Schema) -> bool:
    ready = _ready_dtypes(schema)
    if ready is None:
        return False
    names, dtypes = ready
    if len(df.columns) != len(names) or list(df.columns) != names:
        return False
    return all(actual == dtype for actual, dtype in zip(df.dtypes.tolist(), dtypes, strict=True))


def _enforce_columns(df: pd.DataFrame, schema: Schema) -> pd.DataFrame:
    if _already_fits(df, schema):
        # The usual request: decoded by the codecs with the schema's own types. MLflow rebuilds
        # every frame from its columns; the model gets that layout here too (see frames).
        return with_pandas_layout(df)
    specs: list[ColSpec] = schema.inputs  # type: ignore[assignment]
    if schema.has_input_names():
        if not all(isinstance(c, str) for c in df.columns):
            df = df.rename(columns=str)
        present = set(df.columns)
        missing = [s.name for s in specs if s.required and s.name not in present]
        if missing:
            extra = sorted(present - set(schema.input_names()))
            note = f" Note that there were extra inputs: {extra}." if extra else ""
            raise SignatureMismatch(f"Model is missing inputs {missing}.{note}")
        use = [s for s in specs if s.name in present]
        if len(present) > len(use):
            _log.debug(
                "dropped columns not in the signature: %s", present - set(schema.input_names())
            )
        out = {s.name: _cast_column(df[s.name], s.type, str(s.name)) for s in use}
        return pd.DataFrame(out, index=df.index)  # consolidated, as MLflow's (see frames)
    if df.shape[1] < len(specs):
        raise SignatureMismatch(
            f"the model expects {len(specs)} input column(s), got {df.shape[1]}"
        )
    out_cols = {
        df.columns[i]: _cast_column(df.iloc[:, i], spec.type, str(df.columns[i]))
        for i, spec in enumerate(specs)
    }
    return pd.DataFrame(out_cols, index=df.index)


def _mismatch(name: str, expected: str, got: Any, detail: str = "") -> SignatureMismatch:
    return SignatureMismatch(
        f"Incompatible input types for column '{name}': expected {expected}, got {got}.{detail}"
    )


def _first_row(values: pd.Series, bad: np.ndarray) -> str:
    pos = int(np.argmax(bad))
    return f" First offending value at row {pos}: {_short(values.iloc[pos])}."


def _cast_column(values: pd.Series, dtype: ValueType, name: str) -> pd.Series:
    if isinstance(dtype, AnyType):
        return values
    if not isinstance(dtype, DataType):
        for pos, cell in enumerate(values):
            problem = _cell_problem(cell, dtype)
            if problem is not None:
                raise _mismatch(name, type_name(dtype), f"{problem} (row {pos})")
        return values
    if dtype == DataType.datetime:
        return _cast_datetime(values, name)
    vdtype = values.dtype
    if isinstance(vdtype, pd.api.extensions.ExtensionDtype) and not isinstance(vdtype, np.dtype):
        values = _from_extension(values, dtype, name)
        vdtype = values.dtype
    if dtype in (DataType.string, DataType.binary):
        if vdtype.kind == "O":
            return values
        kind = "U" if dtype == DataType.string else "S"
        if vdtype.kind == kind:
            return values.astype(object)
        raise _mismatch(name, dtype.name, vdtype)
    if vdtype.kind == "O":
        if dtype == DataType.boolean:
            return values  # converting would turn None into False
        values = values.infer_objects()
        vdtype = values.dtype
        if vdtype.kind == "O":
            if dtype == DataType.double and all(
                isinstance(v, decimal.Decimal) or v is None for v in values
            ):
                return pd.to_numeric(values, errors="raise")
            bad = np.array([not isinstance(v, int | float | np.number) for v in values])
            found = type(values.iloc[int(np.argmax(bad))]).__name__ if bad.any() else "object"
            raise _mismatch(name, dtype.name, found, _first_row(values, bad) if bad.any() else "")
    target = dtype.to_numpy()
    if vdtype == target:
        return values
    if _is_upcast(vdtype, target):
        return values.astype(target)
    if vdtype.kind in "iu" and target.kind == "f" and _all_binary(values):
        return values.astype(target)  # MLflow lets 0/1 integer columns through as floats
    detail = f" Can not safely convert {vdtype} to {target}."
    if vdtype.kind == "f" and target.kind in "iu":
        arr = values.to_numpy()
        nans = np.isnan(arr)
        fractional = ~nans & (arr != np.floor(np.where(nans, 0, arr)))
        if nans.any() and not fractional.any():
            detail += _MISSING_HINT
        elif fractional.any():
            detail += _first_row(values, fractional)
    raise _mismatch(name, dtype.name, vdtype, detail)


def _is_upcast(actual: np.dtype, target: np.dtype) -> bool:
    if actual.kind == target.kind:
        return actual.itemsize <= target.itemsize
    if actual.kind == "u" and target.kind == "i":
        return actual.itemsize < target.itemsize
    if actual.kind in "iu" and target == np.float64:
        return actual.itemsize <= 6
    return False


def _all_binary(values: pd.Series) -> bool:
    arr = values.to_numpy()
    return bool(arr.size) and bool(np.isin(arr, (0, 1)).all())


def _from_extension(values: pd.Series, dtype: DataType, name: str) -> pd.Series:
    numpy_dtype = getattr(values.dtype, "numpy_dtype", None)
    if isinstance(values.dtype, pd.StringDtype):
        return values.astype(object).where(values.notna(), None)
    if numpy_dtype is None:
        raise _mismatch(name, dtype.name, values.dtype)
    if not values.isna().any():
        return values.astype(numpy_dtype)
    if dtype in (DataType.float, DataType.double):
        return values.astype(dtype.to_numpy())
    if dtype == DataType.boolean:
        return values.astype(object).where(values.notna(), None)
    bad = values.isna().to_numpy()
    raise _mismatch(
        name, dtype.name, f"{values.dtype} with missing values", _first_row(values, bad)
    )


def _cast_datetime(values: pd.Series, name: str) -> pd.Series:
    vdtype = values.dtype
    if isinstance(vdtype, pd.DatetimeTZDtype):
        raise _mismatch(name, "datetime", vdtype, " Only timezone-naive datetimes are supported.")
    if vdtype.kind == "M":
        return values.astype("datetime64[ns]")
    if vdtype.kind == "O":
        # Datetime objects are cast; strings are not parsed here (as in MLflow): the codecs
        # parse text for the declared type before enforcement.
        bad = np.array([not (v is None or isinstance(v, _dt.date | np.datetime64)) for v in values])
        if bad.any():
            found = type(values.iloc[int(np.argmax(bad))]).__name__
            raise _mismatch(name, "datetime", found, _first_row(values, bad))
        try:
            return values.astype("datetime64[ns]")
        except (TypeError, ValueError) as exc:
            raise _mismatch(name, "datetime", vdtype, f" {exc}") from None
    raise _mismatch(name, "datetime", vdtype)


def _cell_problem(cell: Any, dtype: ValueType) -> str | None:
    """Why ``cell`` does not fit ``dtype`` (None when it fits)."""
    if isinstance(dtype, AnyType):
        return None
    if isinstance(dtype, Array):
        if not isinstance(cell, list | np.ndarray | tuple):
            return type(cell).__name__
        for item in cell:
            problem = _cell_problem(item, dtype.dtype)
            if problem is not None:
                return f"array item {problem}"
        return None
    if isinstance(dtype, Object):
        if not isinstance(cell, Mapping):
            return type(cell).__name__
        missing = {p.name for p in dtype.properties if p.required and p.name not in cell}
        if missing:
            return f"an object missing required properties {sorted(missing)}"
        unknown = set(cell) - {p.name for p in dtype.properties}
        if unknown:
            return f"an object with properties not in the schema {sorted(unknown)}"
        for prop in dtype.properties:
            if prop.name in cell and cell[prop.name] is not None:
                problem = _cell_problem(cell[prop.name], prop.dtype)
                if problem is not None:
                    return f"property '{prop.name}' {problem}"
        return None
    if isinstance(dtype, Map):
        if not isinstance(cell, Mapping) or not all(isinstance(k, str) for k in cell):
            return f"{type(cell).__name__} (a map needs string keys)"
        for value in cell.values():
            problem = _cell_problem(value, dtype.value_type)
            if problem is not None:
                return problem
        return None
    try:
        _convert_scalar(dtype, cell)
    except (TypeError, ValueError):
        return f"{type(cell).__name__} {_short(cell)}"
    return None


# ---------------------------------------------------------------------------------------------
# params


def enforce_params(params: Mapping[str, Any] | None, schema: ParamSchema | None) -> dict[str, Any]:
    """Validate params against the schema, fill in defaults, drop unknown names."""
    if params is not None and not isinstance(params, Mapping):
        raise InvalidParams(f"params must be a dict, got {type(params).__name__}")
    given = dict(params or {})
    if schema is None:
        if given:
            _log.warning("params %s ignored: the model declares no params", sorted(given))
        return {}
    known = {p.name for p in schema.params}
    unknown = sorted(set(given) - known)
    if unknown:
        _log.warning("params %s ignored: not in the model's params schema", unknown)
    out = {}
    for spec in schema.params:
        if spec.name in given and given[spec.name] is not None:
            out[spec.name] = validate_param(spec, given[spec.name], "value")
        else:
            out[spec.name] = spec.default
    return out


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
            f"param '{spec.name}': {what} {_short(value)} of type {type(value).__name__} "
            f"is not a valid {expected}"
        ) from None


def _convert_param(dtype: DataType | Object, value: Any) -> Any:
    if isinstance(dtype, Object):
        problem = _cell_problem(value, dtype)
        if problem is not None:
            raise ValueError(problem)
        return value
    return _convert_scalar(dtype, value)


def _convert_scalar(dtype: DataType, value: Any) -> Any:
    if isinstance(value, np.generic):
        value = value.item()
    if dtype == DataType.boolean:
        if isinstance(value, bool):
            return value
    elif dtype in (DataType.integer, DataType.long):
        if isinstance(value, int) and not isinstance(value, bool):
            if dtype == DataType.integer and not -(2**31) <= value < 2**31:
                raise ValueError("out of range")
            return value
    elif dtype in (DataType.float, DataType.double):
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
