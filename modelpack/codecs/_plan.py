"""Input plans: what the codecs need to know about a signature, worked out once at load time.

An ``InputPlan`` turns column-wise lists of JSON or CSV values into arrays of the signature's
types (by the rules of ``modelpack.signature.casting``) and builds DataFrames column by column.
Building the plan once per model keeps that work out of each request.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from typing import Any

import numpy as np
import pandas as pd

from modelpack.errors import MalformedInput, one_line
from modelpack.signature.casting import Cast, cast_for, no_overflow, object_array
from modelpack.signature.frames import frame_from_block
from modelpack.signature.schema import ColSpec, DataType, ParamSchema, Schema, TensorSpec

__all__ = ["InputPlan"]


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
        self._casts: dict[Hashable, Cast] = {n: cast_for(s) for n, s in self.specs.items()}
        self._positional: list[Cast] = [] if self.named else [cast_for(s) for s in specs]
        self.matrix_dtype = _matrix_dtype(specs, self.named, self.tensor)
        """The one float dtype every column casts to (``double`` or ``float`` columns, a float
        tensor), or None: a table of such a schema converts as one 2-d array (``matrix``)."""
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
                return object_array(values)  # not in the schema: enforcement drops it
            return cast(values, str(name))
        if self.tensor and self._positional:
            return self._positional[0](values, str(name))  # every column has the tensor's dtype
        if position < len(self._positional):
            return self._positional[position](values, str(name))
        return None  # no schema, or beyond an unnamed schema: pandas infers

    def matrix(
        self, names: Sequence[Hashable], rows: list[Any], index: Sequence[Any] | None = None
    ) -> np.ndarray | None:
        """Rows (lists of one length) as one (rows, columns) array of ``matrix_dtype``, the values
        the column casts give one by one; None where the table goes column by column instead.

        The column casts of float dtypes are ``np.asarray(values, dtype)`` (float32 with overflow
        raised); numpy converts each cell the same way in one 2-d call. Whatever they would refuse
        or read otherwise (a cell that is not a number, a cell that is a list, names not in the
        schema or given twice, an index of another length) returns None, and the column-wise
        path decides and names the problem.
        """
        dtype = self.matrix_dtype
        if dtype is None or not rows or not names or len(set(names)) != len(names):
            return None
        if self.named and not all(isinstance(n, str) and n in self.specs for n in names):
            return None
        if index is not None and (not isinstance(index, list) or len(index) != len(rows)):
            return None
        try:
            with no_overflow(dtype):
                matrix = np.array(rows, dtype=dtype)
        except (TypeError, ValueError, OverflowError, FloatingPointError):
            return None
        return matrix if matrix.shape == (len(rows), len(names)) else None

    def block_from_columns(
        self, names: Sequence[Hashable], columns: Sequence[np.ndarray]
    ) -> np.ndarray | None:
        """Numeric columns (1-d arrays of one length, as a CSV reader parsed them) as one
        (columns, rows) block of ``matrix_dtype``: ``np.asarray(column, dtype)`` for each, as
        the column casts would do; None where the columns go through ``frame`` instead."""
        dtype = self.matrix_dtype
        if dtype is None or not names or len(set(names)) != len(names):
            return None
        if self.named and not all(isinstance(n, str) and n in self.specs for n in names):
            return None
        rows = len(columns[0])
        block = np.empty((len(columns), rows), dtype=dtype)
        try:
            with no_overflow(dtype):
                for i, column in enumerate(columns):
                    if column.ndim != 1 or column.dtype.kind not in "biuf" or len(column) != rows:
                        return None
                    block[i] = column
        except FloatingPointError:
            return None
        return block

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
        """A DataFrame over a 2-d array of shape (rows, columns), in pandas' layout (``frames``)."""
        return self._frame_from_block(names, matrix.T, index)

    def frame_from_block(
        self, names: Sequence[Hashable], block: np.ndarray, index: Sequence[Any] | None = None
    ) -> pd.DataFrame:
        """A DataFrame over a 2-d array of shape (columns, rows), as ``frame`` builds it."""
        return self._frame_from_block(names, block, index)

    def _frame_from_block(
        self, names: Sequence[Hashable], block: np.ndarray, index: Sequence[Any] | None
    ) -> pd.DataFrame:
        try:
            return frame_from_block(block, self.columns_index(names), _index(index))
        except ValueError as exc:
            raise MalformedInput(f"the data is not a valid table: {one_line(exc)}") from None

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
            return self._frame_from_block(names, np.stack(arrays), idx)
        # Object arrays go in as object Series: pandas 3 would turn text into its str dtype,
        # and MLflow hands models text columns of dtype object.
        data = {
            i: pd.Series(a, dtype=object, copy=False)
            if isinstance(a, np.ndarray) and a.dtype == object
            else a
            for i, a in enumerate(arrays)
        }
        try:
            df = pd.DataFrame(data)  # copied into one block per dtype, as MLflow's frames are
            if idx is not None:
                df.index = idx
        except (TypeError, ValueError) as exc:
            raise MalformedInput(f"the data is not a valid table: {one_line(exc)}") from None
        df.columns = self.columns_index(names)
        return df


def _matrix_dtype(specs: list[ColSpec | TensorSpec], named: bool, tensor: bool) -> np.dtype | None:
    """The float dtype all columns of a schema cast to, or None (see ``InputPlan.matrix_dtype``).

    Unnamed tensor schemas cast every column with the first (only) spec; named schemas cast each
    column by its name, so every spec must agree. Integer, text and nested types are left out:
    their casts check values one by one."""
    if not specs or not (named or tensor):
        return None
    dtypes = set()
    for spec in specs if named else specs[:1]:
        if isinstance(spec, TensorSpec):
            dtypes.add(spec.type)
        elif spec.type == DataType.double:
            dtypes.add(np.dtype(np.float64))
        elif spec.type == DataType.float:
            dtypes.add(np.dtype(np.float32))
        else:
            return None
    dtype = dtypes.pop() if len(dtypes) == 1 else None
    return dtype if dtype is not None and dtype.kind == "f" else None


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
        return pd.Index(object_array(index) if _nested(index) else index)
    except (TypeError, ValueError) as exc:
        raise MalformedInput(f"'index' is not a valid index: {one_line(exc)}") from None


def _nested(values: Sequence[Any]) -> bool:
    return any(isinstance(v, list | dict) for v in values)


def _infer(values: Sequence[Any]) -> Any:
    """Values of a column without a type, inferred the way pandas infers a list."""
    if _nested(values):
        return object_array(values)
    try:
        return pd.Series(values if isinstance(values, list) else list(values))
    except (TypeError, ValueError):
        return object_array(values)
