"""Model output as V2 output tensors: a datatype for every kind of value a model returns.

Numbers keep their dtype (``np``); text is BYTES (``str``), bytes are BYTES (``base64``),
datetimes are ISO 8601 BYTES (``datetime``), and cells of lists or objects are BYTES holding
JSON (``pd_json``). A missing value in a BYTES column is the model's fault (``InvalidOutput``,
500): a V2 BYTES tensor has no missing values.
"""

from __future__ import annotations

import datetime as _dt
from collections.abc import Sequence

import numpy as np
import orjson
import pandas as pd

from modelpack.codecs._v2 import V2Output
from modelpack.codecs._v2_tensors import datatype_of
from modelpack.errors import InvalidOutput, clip, short_repr

__all__ = ["column_output", "tensor_output"]

_NUMBERS = {bool, int, float}


def column_output(name: str, column: pd.Series) -> V2Output:
    values = _column_values(name, column)
    return tensor_output(name, (len(values), 1), values, None)


def _column_values(name: str, column: pd.Series) -> np.ndarray:
    """A column's values as a numpy array V2 can carry (extension dtypes resolved)."""
    dtype = column.dtype
    if isinstance(dtype, np.dtype) and dtype.kind != "O":
        return column.to_numpy()
    numpy_dtype = getattr(dtype, "numpy_dtype", None)
    if numpy_dtype is not None and numpy_dtype.kind in "biuf":
        if not column.isna().any():
            return column.to_numpy(dtype=numpy_dtype)
        if numpy_dtype.kind == "f" or numpy_dtype.kind in "iu":
            return column.to_numpy(dtype=np.float64, na_value=np.nan)
    return column.to_numpy(dtype=object)


def tensor_output(
    name: str, shape: Sequence[int], values: np.ndarray, content_type: str | None
) -> V2Output:
    """An output tensor of ``values`` (flat), with the datatype and content type they need."""
    label = clip(name, 40)
    kind = values.dtype.kind
    if kind == "M":
        text = np.datetime_as_string(values.astype("datetime64[ns]"), unit="auto")
        return V2Output(name, "BYTES", tuple(shape), text.astype(object), "datetime")
    if kind in "US":
        return V2Output(name, "BYTES", tuple(shape), values.astype(object), _bytes_type(values))
    if kind == "O":
        if values.size and set(map(type, values.tolist())) <= _NUMBERS:
            return tensor_output(name, shape, np.array(values.tolist()), content_type)
        elements, how = _object_elements(values, label)
        return V2Output(name, "BYTES", tuple(shape), elements, how)
    datatype = datatype_of(values.dtype)
    if datatype is None:
        raise InvalidOutput(
            f"output '{label}': the model returned {values.dtype} values, which no V2 datatype "
            "carries"
        )
    return V2Output(name, datatype, tuple(shape), values, content_type or "np")


def _bytes_type(values: np.ndarray) -> str:
    return "base64" if values.dtype.kind == "S" else "str"


def _object_elements(values: np.ndarray, label: str) -> tuple[np.ndarray, str]:
    """Object values as BYTES elements: text, bytes, or one JSON document per cell."""
    kinds = set(map(type, values.tolist()))
    if kinds <= {str}:
        return values, "str"
    if kinds <= {bytes}:
        return values, "base64"
    if kinds <= {_dt.datetime, pd.Timestamp, _dt.date}:
        return np.array([v.isoformat() for v in values], dtype=object), "datetime"
    items = values.tolist()
    for i, value in enumerate(items):
        if value is None or value is pd.NA or (isinstance(value, float) and value != value):
            raise InvalidOutput(
                f"output '{label}': row {i} is missing ({short_repr(value)}), and a V2 BYTES "
                "tensor has no missing values; fill it in the model, or return a number column"
            )
    out = np.empty(values.shape, dtype=object)
    for i, value in enumerate(items):
        if isinstance(value, str | bytes):
            raise InvalidOutput(
                f"output '{label}': the model returned text mixed with other values (row {i})"
            )
        try:
            out[i] = orjson.dumps(value, option=orjson.OPT_SERIALIZE_NUMPY).decode("utf-8")
        except (orjson.JSONEncodeError, TypeError) as exc:
            raise InvalidOutput(
                f"output '{label}': row {i} ({type(value).__name__}) cannot be written as JSON: "
                f"{exc}"
            ) from None
    return out, "pd_json"
