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
