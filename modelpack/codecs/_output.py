"""Model output -> JSON bytes, as MLflow's server shapes it, but always valid JSON.

ndarray -> nested lists; DataFrame -> a list of row objects ("records"); Series -> the records of
a one-column frame (an unnamed one is keyed ``"0"``); numpy scalars -> numbers; datetimes -> ISO
8601 text; bytes -> base64 text; NaN and infinity -> ``null`` (MLflow writes bare ``NaN``).

Two text styles (``Settings.json_style``). ``compact`` (the default) is orjson's: no spaces, and
float32 values as the shortest text that reads back as the same float32 (``236.2208``).
``mlflow`` is the text MLflow writes, byte for byte: the standard library's ``json`` with
``", "`` and ``": "``, float32 values widened to double (``236.22079467773438``), bare ``NaN``
and ``Infinity``, bytes as MIME base64. Both read back to the same float32 values; only the
``mlflow`` text reads back to MLflow's float64 values, for golden files kept from MLflow.
"""

from __future__ import annotations

import base64
import datetime as _dt
import decimal
import json
from typing import Any

import numpy as np
import orjson
import pandas as pd

from modelpack.errors import InvalidOutput, one_line

__all__ = ["encode_predictions", "jsonable"]

_OPTIONS = orjson.OPT_SERIALIZE_NUMPY | orjson.OPT_NON_STR_KEYS


def encode_predictions(predictions: Any, *, bare: bool = False, style: str = "compact") -> bytes:
    """The response body for a model's output: ``{"predictions": ...}``, or the bare value.

    ``style`` is ``"compact"`` or ``"mlflow"`` (see the module docstring). Raises
    ``InvalidOutput`` (500) when the output holds something JSON cannot carry.
    """
    try:
        if style == "mlflow":
            value = _mlflow_jsonable(predictions)
            text = json.dumps(value if bare else {"predictions": value}, cls=_MlflowEncoder)
            return text.encode("utf-8")
        value = jsonable(predictions)
        return orjson.dumps(
            value if bare else {"predictions": value}, default=_default, option=_OPTIONS
        )
    except (orjson.JSONEncodeError, TypeError, ValueError, OverflowError) as exc:
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


def _mlflow_jsonable(predictions: Any) -> Any:
    """MLflow's top-level reshaping (``_get_jsonable_obj`` with records)."""
    if isinstance(predictions, np.ndarray):
        return predictions.tolist()
    if isinstance(predictions, pd.DataFrame):
        return predictions.to_dict(orient="records")
    if isinstance(predictions, pd.Series):
        return pd.DataFrame(predictions).to_dict(orient="records")
    return predictions


class _MlflowEncoder(json.JSONEncoder):
    """What MLflow's ``NumpyEncoder`` writes for values the standard library cannot."""

    def default(self, o: Any) -> Any:
        converted = _mlflow_convert(o)
        return super().default(o) if converted is o else converted


def _mlflow_convert(o: Any) -> Any:
    """``o`` as MLflow's encoder converts it, or ``o`` itself when it has no rule for it."""
    if isinstance(o, np.ndarray):
        if o.dtype == object:
            return [_mlflow_convert(x) for x in o.tolist()]
        if o.dtype.kind == "S":
            return [_mime_base64(x) for x in o.tolist()]
        return o.tolist()
    if isinstance(o, np.generic):
        return o.item()
    if isinstance(o, bytes | bytearray):
        return _mime_base64(bytes(o))
    if isinstance(o, np.datetime64):
        return str(np.datetime_as_string(o))
    if isinstance(o, pd.Timestamp | _dt.date | _dt.time):
        return o.isoformat()
    if hasattr(o, "model_dump"):
        return o.model_dump()
    return o


def _mime_base64(value: bytes) -> str:
    return base64.encodebytes(value).decode("ascii")


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
