"""Tensor-schema enforcement: shapes and dtypes checked exactly, as MLflow does.

Tensors are never converted (a float64 array does not become float32), except lists and the
columns of a DataFrame, which have no dtype of their own and take the spec's.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from modelpack.errors import SignatureMismatch, shape_text
from modelpack.signature.schema import Schema, TensorSpec

__all__ = ["enforce_tensors"]


def enforce_tensors(data: Any, schema: Schema) -> Any:
    """An ndarray (unnamed schema) or a dict of ndarrays (named) that fits the tensor schema."""
    specs: list[TensorSpec] = schema.inputs  # type: ignore[assignment]
    if not schema.has_input_names():
        spec = specs[0]
        if isinstance(data, pd.DataFrame):
            data = _frame_to_tensor(data, spec, "input")
        elif isinstance(data, list):
            data = _list_to_tensor(data, spec, "input")
        elif isinstance(data, Mapping) and len(data) == 1:
            data = next(iter(data.values()))
        if not isinstance(data, np.ndarray):
            raise SignatureMismatch(
                f"the model has a tensor-based signature and expects a numpy array, "
                f"got {type(data).__name__}"
            )
        return _check_tensor(data, spec, "input")
    if isinstance(data, pd.DataFrame):
        data = {
            s.name: _frame_to_tensor(data[[s.name]], s, str(s.name))
            for s in specs
            if s.name in data.columns
        }
    if not isinstance(data, Mapping):
        raise SignatureMismatch(
            f"the model has named tensor inputs {schema.input_names()} and expects a dict "
            f"of numpy arrays, got {type(data).__name__}"
        )
    missing = [s.name for s in specs if s.name not in data]
    if missing:
        raise SignatureMismatch(f"Model is missing inputs {missing}.")
    out = {}
    for s in specs:
        value = data[s.name]
        if isinstance(value, list):
            value = _list_to_tensor(value, s, str(s.name))
        if not isinstance(value, np.ndarray):
            raise SignatureMismatch(
                f"input '{s.name}': expected a numpy array, got {type(value).__name__}"
            )
        out[s.name] = _check_tensor(value, s, str(s.name))
    return out


def _list_to_tensor(data: list[Any], spec: TensorSpec, name: str) -> np.ndarray:
    try:
        return np.asarray(data, dtype=spec.type)
    except (TypeError, ValueError) as exc:
        raise SignatureMismatch(
            f"input '{name}': expected {spec.type} values of shape {shape_text(spec.shape)}: {exc}"
        ) from None


def _frame_to_tensor(df: pd.DataFrame, spec: TensorSpec, name: str) -> np.ndarray:
    if df.shape[1] == 1 and len(spec.shape) >= 2 and _holds_flat_rows(df.iloc[:, 0], spec):
        return _rows_to_tensor(df.iloc[:, 0], spec, name)
    if df.shape[1] == 1 and (len(spec.shape) != 2 or df.iloc[:, 0].dtype == object):
        # One column: of scalars (a 1-d tensor) or of arrays (cells stacked), as MLflow reads it.
        column = df.iloc[:, 0]
        if column.dtype == object:
            try:
                arr = np.stack([np.asarray(v) for v in column])
            except ValueError as exc:
                raise SignatureMismatch(f"input '{name}': cells of unequal shape: {exc}") from None
            return arr if arr.dtype != object else arr.astype(spec.type)
        return (
            column.to_numpy().reshape(-1, *spec.shape[1:])
            if len(spec.shape) > 1
            else column.to_numpy()
        )
    if len(spec.shape) == 2 and spec.shape[1] in (-1, df.shape[1]):
        return df.to_numpy()
    raise SignatureMismatch(
        f"input '{name}': expected shape {shape_text(spec.shape)}, got a DataFrame with "
        f"{df.shape[1]} columns"
    )


def _holds_flat_rows(column: pd.Series, spec: TensorSpec) -> bool:
    """Whether a column holds one flat array (or list) per row for a spec of fixed trailing
    dimensions: a Spark array column, or JSON lists, as MLflow reads them."""
    if column.dtype != object or len(column) == 0 or -1 in spec.shape[1:] or spec.shape[0] != -1:
        return False
    first = column.iloc[0]
    return (isinstance(first, np.ndarray) and first.ndim == 1 and first.dtype != object) or (
        isinstance(first, list) and bool(first) and np.isscalar(first[0])
    )


def _rows_to_tensor(column: pd.Series, spec: TensorSpec, name: str) -> np.ndarray:
    """MLflow's reading of such a column: the rows stacked and reshaped to the spec's shape in C
    order; list cells take the spec's dtype, ndarray cells keep theirs (checked after)."""
    try:
        arr = np.vstack(column.tolist()).reshape(spec.shape)
    except ValueError:
        arr = None
    if arr is None or len(arr) != len(column):
        raise SignatureMismatch(
            f"input '{name}': the arrays in the column do not reshape to "
            f"{shape_text(spec.shape)}: each row needs {int(np.prod(spec.shape[1:]))} values"
        )
    return arr.astype(spec.type) if isinstance(column.iloc[0], list) else arr


def _check_tensor(arr: np.ndarray, spec: TensorSpec, name: str) -> np.ndarray:
    expected = spec.shape
    ragged = spec.type.kind == "O" and expected == (-1,)
    if not ragged:
        if arr.ndim != len(expected) or any(
            e != -1 and e != a for e, a in zip(expected, arr.shape, strict=False)
        ):
            raise SignatureMismatch(
                f"input '{name}': expected shape {shape_text(expected)}, "
                f"got {shape_text(arr.shape)}"
            )
    actual = arr.dtype
    if actual.kind in "US" and spec.type.kind in "USO":
        return arr
    if actual != spec.type:
        raise SignatureMismatch(
            f"input '{name}': expected dtype {spec.type}, got {actual}. "
            "Tensor inputs are not converted: send the declared dtype."
        )
    return arr
