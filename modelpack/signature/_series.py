"""The casting rulebook for typed pandas columns: MLflow's enforcement (``cast_series``).

Safe upcasts only, integers into doubles only when no value can change, nullable pandas dtypes,
datetimes, and a look at every cell of array, object and map columns (``_cells``).
"""

from __future__ import annotations

import datetime as _dt
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from modelpack.errors import one_line
from modelpack.signature.datatypes import (
    AnyType,
    DataType,
    ValueType,
    type_name,
)

if TYPE_CHECKING:
    pass
from modelpack.signature._cells import cell_problem
from modelpack.signature._wording import (
    INTEGERS,
    MISSING_HINT,
    NAIVE_ONLY,
    OBJECT,
    TEXT,
    cell_text,
    describe,
    first_refused,
    mismatch,
)

__all__ = ["cast_series", "passthrough_dtype"]

# -- typed columns (pandas) ----------------------------------------------------------------------


def passthrough_dtype(dtype: ValueType) -> np.dtype | None:
    """The dtype in which a column of ``dtype`` passes ``cast_series`` as it is (the dtype
    ``cast_values`` gives it); None where no dtype is enough: array, object and map cells each
    need a look."""
    if isinstance(dtype, DataType):
        return dtype.to_pandas()
    if isinstance(dtype, AnyType):
        return OBJECT  # other dtypes pass too, after a look
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
    if values.dtype == OBJECT and dtype not in TEXT:
        values = values.infer_objects()  # first, as MLflow: all ints in objects are int64
    if isinstance(values.dtype, pd.api.extensions.ExtensionDtype) and not isinstance(
        values.dtype, np.dtype
    ):
        values = _from_extension(values, dtype, name)
    vdtype = values.dtype
    if dtype in TEXT:
        if vdtype.kind == "O":
            return values
        if vdtype.kind == ("U" if dtype == DataType.string else "S"):
            return values.astype(object)
        raise mismatch(name, dtype.name, str(vdtype))
    if vdtype == OBJECT:
        if dtype == DataType.boolean:
            return values  # converting would turn None into False
        if dtype == DataType.double:
            return _object_to_double(values, name)
        ok = _is_numeric if dtype in INTEGERS else _is_number_or_missing
        raise first_refused(values, name, dtype, ok)
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
            hint = "" if np.isfinite(arr[pos]) else MISSING_HINT
            raise mismatch(name, dtype.name, cell_text(values, pos), pos, hint)
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
        return first_refused(values, name, DataType.double, _is_numeric)
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
        if dtype not in TEXT:
            raise first_refused(values, name, dtype, _is_missing)
        return values.astype(object).where(values.notna(), None)
    numpy_dtype = getattr(values.dtype, "numpy_dtype", None)
    if numpy_dtype is None:
        raise mismatch(name, dtype.name, str(values.dtype))
    missing = values.isna().to_numpy()
    if not missing.any():
        return values.astype(numpy_dtype)
    # Missing values: judged as pandas' classic form of the column, numbers as floats with NaN
    # and booleans as objects with None (MLflow refuses them all, mlflow/mlflow#25593).
    if dtype in TEXT or (numpy_dtype.kind == "b" and dtype != DataType.boolean):
        raise mismatch(name, dtype.name, str(values.dtype))
    if numpy_dtype.kind == "b":
        return values.astype(object).where(values.notna(), None)
    if dtype in INTEGERS:
        pos = int(np.argmax(missing))
        raise mismatch(name, dtype.name, cell_text(values, pos), pos, MISSING_HINT)
    return values.astype(numpy_dtype if numpy_dtype.kind == "f" else np.dtype(np.float64))


def _datetime_series(values: pd.Series, name: str) -> pd.Series:
    vdtype = values.dtype
    if isinstance(vdtype, pd.DatetimeTZDtype):
        raise mismatch(name, "datetime", str(vdtype), reason=NAIVE_ONLY)
    if vdtype.kind == "M":
        return values.astype("datetime64[ns]")
    if vdtype.kind == "O":
        # Datetime objects are cast; strings are not parsed here (as in MLflow): the codecs
        # parse text for the declared type before enforcement.
        if not all(_is_datetime(v) for v in values):
            raise first_refused(values, name, DataType.datetime, _is_datetime)
        try:
            return values.astype("datetime64[ns]")
        except (TypeError, ValueError) as exc:
            raise mismatch(name, "datetime", str(vdtype), reason=one_line(exc)) from None
    raise mismatch(name, "datetime", str(vdtype))


def _is_datetime(value: Any) -> bool:
    return _is_missing(value) or isinstance(value, _dt.date | np.datetime64)
