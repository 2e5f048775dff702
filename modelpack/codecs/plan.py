"""Input plans: what the codecs need to know about a signature, worked out once at load time.

An ``InputPlan`` turns column-wise lists of JSON or CSV values into arrays of the signature's types
(the "pre-cast" MLflow's server does, which is why JSON integers are accepted for ``double``
columns over HTTP), and builds DataFrames column by column. Building the plan once per model keeps
that work out of each request.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable, Hashable, Sequence
from typing import Any

import numpy as np
import pandas as pd

from modelpack.errors import MalformedInput, SignatureMismatch
from modelpack.schema import (
    ColSpec,
    DataType,
    ParamSchema,
    Schema,
    TensorSpec,
)

__all__ = ["InputPlan", "cast_values"]

Cast = Callable[[Sequence[Any], str], Any]
"""Converts one column's values (a list, or a 1-d array); the ``str`` names it in messages."""


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _describe(value: Any) -> str:
    return f"{type(value).__name__} {_short(value)}"


def _mismatch(name: str, expected: str, found: str) -> SignatureMismatch:
    return SignatureMismatch(f"column '{name}': expected {expected}, got {found}")


def _first_bad(values: Sequence[Any], ok: Callable[[Any], bool]) -> str:
    for row, value in enumerate(values):
        if not ok(value):
            return f"{_describe(value)} (row {row})"
    return "values of mixed types"


def _is_number(value: Any) -> bool:
    if isinstance(value, bool | int | float | np.number):
        return True
    try:
        float(value)
    except (TypeError, ValueError, OverflowError):
        return False
    return not isinstance(value, list | dict)


def _object_array(values: Sequence[Any]) -> np.ndarray:
    """A 1-d object array holding the values as they are (lists stay cells, not a 2nd axis)."""
    if isinstance(values, np.ndarray) and values.dtype == object and values.ndim == 1:
        return values
    out = np.empty(len(values), dtype=object)
    for i, value in enumerate(values):
        out[i] = value
    return out


def _one_dim(arr: np.ndarray, values: Sequence[Any], name: str, expected: str) -> np.ndarray:
    if arr.ndim != 1:
        raise _mismatch(name, expected, _first_bad(values, lambda v: not isinstance(v, list)))
    return arr


def _float_cast(target: np.dtype) -> Cast:
    label = "float" if target == np.float32 else "double"

    def cast(values: Sequence[Any], name: str) -> np.ndarray:
        try:
            arr = np.asarray(values, dtype=target)
        except (TypeError, ValueError, OverflowError):
            raise _mismatch(name, label, _first_bad(values, _is_number)) from None
        return _one_dim(arr, values, name, label)

    return cast


def _int_cast(target: np.dtype) -> Cast:
    label = "integer" if target == np.int32 else "long"
    info = np.iinfo(target)

    def bad(name: str, row: int, value: Any, why: str = "") -> SignatureMismatch:
        return _mismatch(name, label, f"{_describe(value)} (row {row}){why}")

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
            arr = _object_array(values)
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
        return _object_array(values)  # keep None as missing, as enforcement expects
    raise _mismatch(
        name, "boolean", _first_bad(values, lambda v: isinstance(v, bool | np.bool_) or v is None)
    )


def _string_cast(values: Sequence[Any], name: str) -> np.ndarray:
    return _object_array(values)


def _binary_cast(values: Sequence[Any], name: str) -> np.ndarray:
    out = np.empty(len(values), dtype=object)
    for row, value in enumerate(values):
        if value is None or isinstance(value, bytes):
            out[row] = value
            continue
        if not isinstance(value, str):
            raise _mismatch(name, "binary (base64 text)", f"{_describe(value)} (row {row})")
        try:
            out[row] = base64.b64decode(value, validate=False)
        except (binascii.Error, ValueError):
            raise _mismatch(
                name, "binary (base64 text)", f"text that is not base64 (row {row})"
            ) from None
    return out


def _datetime_cast(values: Sequence[Any], name: str) -> np.ndarray:
    series = pd.Series(_object_array(values), dtype=object)
    try:
        parsed = pd.to_datetime(series)
    except (TypeError, ValueError, OverflowError) as exc:
        raise _mismatch(name, "datetime", _one_line(exc)) from None
    if isinstance(parsed.dtype, pd.DatetimeTZDtype):
        raise _mismatch(name, "datetime", f"{parsed.dtype}; only timezone-naive values")
    return parsed.astype("datetime64[ns]").to_numpy()


def _keep(values: Sequence[Any], name: str) -> np.ndarray:
    return _object_array(values)


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
            return _object_array(values)  # enforcement stacks the cells into a tensor
        try:
            return np.asarray(values, dtype=dtype)
        except (TypeError, ValueError, OverflowError):
            raise _mismatch(
                name, str(dtype), _first_bad(values, lambda v: _fits(v, dtype))
            ) from None

    return cast


def _fits(value: Any, dtype: np.dtype) -> bool:
    try:
        np.asarray([value], dtype=dtype)
    except (TypeError, ValueError, OverflowError):
        return False
    return True


def cast_values(values: Sequence[Any], spec: ColSpec | TensorSpec | None, name: str) -> Any:
    """One column's values converted to a spec's type (``name`` is used in error messages).

    Scalar column types give 1-d arrays; array, object, map and any columns give object arrays
    whose cells enforcement checks later; without a spec the values go through ``np.asarray``.
    """
    return _cast_for(spec)(values, name)


def _cast_for(spec: ColSpec | TensorSpec | None) -> Cast:
    if spec is None:
        return _keep
    if isinstance(spec, TensorSpec):
        return _tensor_cast(spec.type)
    if isinstance(spec.type, DataType):
        return _DATA_CASTS[spec.type]
    return _keep


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return text if len(text) <= 200 else text[:197] + "..."


class InputPlan:
    """A model's input and params schemas, prepared for decoding requests.

    Build one per model (``InputPlan(input_schema, params_schema)``) and pass it to every
    ``decode_json`` / ``decode_csv`` call.
    """

    def __init__(
        self,
        input_schema: Schema | None = None,
        params_schema: ParamSchema | None = None,
        *,
        inputs_only: bool = False,
    ) -> None:
        self.input_schema = input_schema
        self.params_schema = params_schema
        self.inputs_only = inputs_only
        """The signature came from type hints: only ``{"inputs": ...}`` is read, and passed raw."""
        self.param_names = (
            frozenset(p.name for p in params_schema.params) if params_schema else (frozenset())
        )
        specs = list(input_schema.inputs) if input_schema is not None else []
        self.named = input_schema is not None and input_schema.has_input_names()
        self.tensor = input_schema is not None and input_schema.is_tensor_spec()
        self.specs: dict[str, ColSpec | TensorSpec] = (
            {str(s.name): s for s in specs} if self.named else {}
        )
        self._casts: dict[Hashable, Cast] = {n: _cast_for(s) for n, s in self.specs.items()}
        self._positional: list[Cast] = [] if self.named else [_cast_for(s) for s in specs]
        self.floats_only = self.named and all(
            isinstance(s, ColSpec) and s.type == DataType.double for s in specs
        )
        """Every column is ``double``: a split body converts as one 2-d array."""
        self._index_cache: dict[tuple[Hashable, ...], pd.Index] = {}

    @classmethod
    def for_model(cls, model: Any) -> InputPlan:
        """The plan of a ``PyFuncModel`` (its input and params schemas and MLmodel flags)."""
        metadata = getattr(model, "metadata", None)
        extra = getattr(metadata, "extra", None) or {}
        return cls(
            getattr(model, "input_schema", None),
            getattr(model, "params_schema", None),
            inputs_only=bool(extra.get("is_signature_from_type_hint")),
        )

    # -- column casts ---------------------------------------------------------------------------

    def spec(self, name: Hashable) -> ColSpec | TensorSpec | None:
        """The spec of a named input, or None (unnamed schemas, names not in the schema)."""
        return self.specs.get(name) if isinstance(name, str) else None

    def cast_column(self, name: Hashable, position: int, values: Sequence[Any]) -> Any:
        """Values of the column called ``name`` at ``position``, converted to the schema's type."""
        if self.named:
            cast = self._casts.get(name)
            if cast is None:
                return _object_array(values)  # not in the schema: enforcement drops it
            return cast(values, str(name))
        if self.tensor and self._positional:
            return self._positional[0](values, str(name))  # every column has the tensor's dtype
        if position < len(self._positional):
            return self._positional[position](values, str(name))
        return None  # no schema, or beyond an unnamed schema: pandas infers

    # -- frames ---------------------------------------------------------------------------------

    def columns_index(self, names: Sequence[Hashable]) -> pd.Index:
        """An object Index for column labels; cached because building one per request is slow."""
        key = tuple(names)
        index = self._index_cache.get(key)
        if index is None:
            index = pd.Index(list(key), dtype=object)
            if len(self._index_cache) < 16:
                self._index_cache[key] = index
        return index

    def frame(
        self,
        names: Sequence[Hashable],
        columns: Sequence[Sequence[Any]],
        index: Sequence[Any] | None = None,
    ) -> pd.DataFrame:
        """A DataFrame from column-wise values, each column cast to the schema's type."""
        if len(set(names)) != len(names):
            dupes = sorted({str(n) for n in names if list(names).count(n) > 1})
            raise MalformedInput(f"duplicate column names {dupes[:10]}")
        arrays = []
        for position, (name, values) in enumerate(zip(names, columns, strict=True)):
            arr = self.cast_column(name, position, values)
            arrays.append(_infer(values) if arr is None else arr)
        return self._assemble(names, arrays, index)

    def frame_from_matrix(
        self, names: Sequence[Hashable], matrix: np.ndarray, index: Sequence[Any] | None = None
    ) -> pd.DataFrame:
        """A DataFrame over a 2-d float array (all-double signatures)."""
        try:
            return pd.DataFrame(
                matrix, columns=self.columns_index(names), index=_index(index), copy=False
            )
        except ValueError as exc:
            raise MalformedInput(f"the data is not a valid table: {_one_line(exc)}") from None

    def cast_frame(self, df: pd.DataFrame) -> pd.DataFrame:
        """An existing DataFrame (from pandas' own readers) with columns cast to the schema."""
        if self.input_schema is None:
            return df
        names = list(df.columns)
        arrays = []
        for position, name in enumerate(names):
            column = df.iloc[:, position]
            values = column.to_numpy() if column.dtype.kind in "biuf" else column.tolist()
            arr = self.cast_column(name, position, values)
            arrays.append(column if arr is None else arr)
        return self._assemble(names, arrays, df.index)

    def _assemble(
        self, names: Sequence[Hashable], arrays: list[Any], index: Sequence[Any] | pd.Index | None
    ) -> pd.DataFrame:
        lengths = {len(a) for a in arrays}
        if len(lengths) > 1:
            raise MalformedInput(
                f"columns have different lengths ({sorted(lengths)[:5]}); every row needs a "
                "value for every column"
            )
        idx = _index(index)
        if idx is not None and lengths and len(idx) != lengths.pop():
            raise MalformedInput(
                f"the index has {len(idx)} entries but the data has {len(arrays[0])} rows"
            )
        if arrays and _same_numeric_dtype(arrays):
            # One 2-d block: ~10x faster to build than a frame from a dict of columns.
            return self.frame_from_matrix(names, np.column_stack(arrays), idx)
        # Object arrays go in as object Series: pandas 3 would turn text into its str dtype,
        # and MLflow hands models text columns of dtype object.
        data = {
            i: pd.Series(a, dtype=object, copy=False)
            if isinstance(a, np.ndarray) and a.dtype == object
            else a
            for i, a in enumerate(arrays)
        }
        try:
            df = pd.DataFrame(data, copy=False)
            if idx is not None:
                df.index = idx
        except (TypeError, ValueError) as exc:
            raise MalformedInput(f"the data is not a valid table: {_one_line(exc)}") from None
        df.columns = self.columns_index(names)
        return df


def _same_numeric_dtype(arrays: list[Any]) -> bool:
    first = arrays[0]
    if not isinstance(first, np.ndarray) or first.dtype.kind not in "biuf":
        return False
    return all(isinstance(a, np.ndarray) and a.ndim == 1 and a.dtype == first.dtype for a in arrays)


def _index(index: Sequence[Any] | pd.Index | None) -> pd.Index | None:
    if index is None or isinstance(index, pd.Index):
        return index
    if not isinstance(index, list):
        raise MalformedInput(f"'index' must be a list, got {type(index).__name__}")
    try:
        return pd.Index(_object_array(index) if _nested(index) else index)
    except (TypeError, ValueError) as exc:
        raise MalformedInput(f"'index' is not a valid index: {_one_line(exc)}") from None


def _nested(values: Sequence[Any]) -> bool:
    return any(isinstance(v, list | dict) for v in values)


def _infer(values: Sequence[Any]) -> Any:
    """Values of a column without a type, inferred the way pandas infers a list."""
    if _nested(values):
        return _object_array(values)
    try:
        return pd.Series(values if isinstance(values, list) else list(values))
    except (TypeError, ValueError):
        return _object_array(values)
