"""Model output -> JSON bytes, as MLflow's server shapes it, but always valid JSON.

ndarray -> nested lists; DataFrame -> a list of row objects ("records"); Series -> the records of
a one-column frame (an unnamed one is keyed ``"0"``); numpy scalars -> numbers; datetimes -> ISO
8601 text; bytes -> base64 text; NaN and infinity -> ``null`` (MLflow writes bare ``NaN``).
"""

from __future__ import annotations

import base64
import datetime as _dt
import decimal
from typing import Any

import numpy as np
import orjson
import pandas as pd

from modelpack.errors import InvalidOutput, one_line

__all__ = ["encode_predictions", "jsonable"]

_OPTIONS = orjson.OPT_SERIALIZE_NUMPY | orjson.OPT_NON_STR_KEYS


def encode_predictions(predictions: Any, *, bare: bool = False) -> bytes:
    """The response body for a model's output: ``{"predictions": ...}``, or the bare value.

    Raises ``InvalidOutput`` (500) when the output holds something JSON cannot carry.
    """
    value = jsonable(predictions)
    try:
        return orjson.dumps(
            value if bare else {"predictions": value}, default=_default, option=_OPTIONS
        )
    except (orjson.JSONEncodeError, TypeError, ValueError) as exc:
        raise InvalidOutput(
            f"the model's output cannot be encoded as JSON ({type(predictions).__name__}): "
            f"{one_line(exc)}"
        ) from None


def jsonable(predictions: Any) -> Any:
    """The top-level reshaping MLflow applies (frames and series to records); the rest as is."""
    if isinstance(predictions, pd.DataFrame):
        return _records(predictions)
    if isinstance(predictions, pd.Series):
        return _records(pd.DataFrame(predictions))
    return predictions


def _records(df: pd.DataFrame) -> list[dict[Any, Any]]:
    # Column-wise tolist() turns numpy values into Python ones in C; zipping rows from those lists
    # is several times faster than DataFrame.to_dict(orient="records").
    names = [c if isinstance(c, str) else str(c) for c in df.columns]
    columns = [df.iloc[:, i].tolist() for i in range(df.shape[1])]
    return [dict(zip(names, row, strict=True)) for row in zip(*columns, strict=True)]


def _default(obj: Any) -> Any:
    """What orjson cannot write itself."""
    if isinstance(obj, np.ndarray):
        return obj.tolist()  # object, text, float16 and non-contiguous arrays
    if isinstance(obj, bytes | bytearray | memoryview):
        return base64.b64encode(bytes(obj)).decode("ascii")
    if obj is pd.NaT or obj is pd.NA:
        return None
    if isinstance(obj, pd.Timestamp | _dt.date | _dt.time):
        return obj.isoformat()
    if isinstance(obj, pd.DataFrame | pd.Series):
        return jsonable(obj)
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, decimal.Decimal):
        return float(obj)
    if isinstance(obj, set | frozenset):
        return list(obj)
    if hasattr(obj, "model_dump"):  # pydantic models, as MLflow encodes them
        return obj.model_dump()
    if hasattr(obj, "tolist"):  # torch tensors and other array types
        return obj.tolist()
    raise TypeError(f"type {type(obj).__name__} is not JSON serializable")
