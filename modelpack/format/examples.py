"""Input examples: ``input_example.json`` and ``serving_input_example.json``, as MLflow writes."""

from __future__ import annotations

import base64
import datetime as _dt
import json
import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from modelpack.errors import InvalidArgument, InvalidModel

__all__ = [
    "INPUT_EXAMPLE_FILE",
    "SERVING_EXAMPLE_FILE",
    "example_data",
    "load_input_example",
    "to_jsonable",
    "write_example",
]

INPUT_EXAMPLE_FILE = "input_example.json"
SERVING_EXAMPLE_FILE = "serving_input_example.json"
_LLM_KEYS = ("messages", "prompt", "input")


def to_jsonable(value: Any) -> Any:
    """Plain JSON values: numpy scalars and arrays unpacked, NaN and infinity as None,
    datetimes as ISO strings, bytes as base64."""
    if isinstance(value, float | np.floating):
        f = float(value)
        return None if math.isnan(f) or math.isinf(f) else f
    if isinstance(value, bool | np.bool_):
        return bool(value)
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.ndarray):
        return (
            [to_jsonable(v) for v in value.tolist()]
            if value.dtype.kind in "fOMSc"
            else value.tolist()
        )
    if isinstance(value, Mapping):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [to_jsonable(v) for v in value]
    if isinstance(value, pd.Timestamp | _dt.datetime | _dt.date | _dt.time):
        return value.isoformat()
    if isinstance(value, np.datetime64):
        return str(value)
    if isinstance(value, bytes | bytearray):
        return base64.b64encode(bytes(value)).decode("ascii")
    if value is pd.NaT:
        return None
    return value


def _frame_split(df: pd.DataFrame) -> dict[str, Any]:
    data = [to_jsonable(list(row)) for row in df.itertuples(index=False, name=None)]
    if isinstance(df.columns, pd.RangeIndex) and df.columns.start == 0 and df.columns.step == 1:
        return {"data": data}
    return {"columns": [str(c) for c in df.columns], "data": data}


def example_data(example: Any) -> tuple[Any, Mapping[str, Any] | None]:
    """Split a ``(data, params)`` example into its parts."""
    if isinstance(example, tuple):
        if len(example) != 2 or not isinstance(example[1], Mapping):
            raise InvalidArgument("an input example tuple must be (data, params_dict)")
        return example[0], example[1]
    return example, None


def write_example(path: Path, example: Any) -> dict[str, Any]:
    """Write both example files; returns ``saved_input_example_info`` for MLmodel."""
    data, params = example_data(example)
    info: dict[str, Any] = {"artifact_path": INPUT_EXAMPLE_FILE}
    if isinstance(data, pd.Series):
        data = data.to_frame()
    if isinstance(data, pd.DataFrame):
        raw = _frame_split(data)
        info["type"] = "dataframe"
        info["pandas_orient"] = "split" if "columns" in raw else "values"
        serving: dict[str, Any] = {"dataframe_split": raw}
    elif isinstance(data, np.ndarray) or (
        isinstance(data, Mapping) and data and all(isinstance(v, np.ndarray) for v in data.values())
    ):
        raw = to_jsonable(data)
        info["type"] = "ndarray"
        serving = {"inputs": raw}
    else:
        raw = to_jsonable(data)
        info["type"] = "json_object"
        unwrapped = isinstance(raw, dict) and any(k in raw for k in _LLM_KEYS)
        serving = dict(raw) if unwrapped else {"inputs": raw}
    if params is not None:
        raw = {"inputs": raw, "params": to_jsonable(params)}
        serving["params"] = to_jsonable(params)
        info["params"] = "true"
    (path / INPUT_EXAMPLE_FILE).write_text(json.dumps(raw), encoding="utf-8")
    (path / SERVING_EXAMPLE_FILE).write_text(json.dumps(serving, indent=2), encoding="utf-8")
    info["serving_input_path"] = SERVING_EXAMPLE_FILE
    return info


def load_input_example(path: Path, info: Mapping[str, Any] | None) -> Any:
    """The example as model input (a DataFrame, an ndarray, a dict, ...), or None."""
    if not info:
        return None
    file = path / str(info.get("artifact_path", INPUT_EXAMPLE_FILE))
    try:
        raw = json.loads(file.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise InvalidModel(f"cannot read the input example {file}: {exc}") from None
    if info.get("params") == "true" and isinstance(raw, dict):
        raw = raw.get("inputs")
    kind = info.get("type")
    if kind == "dataframe":
        return pd.DataFrame(raw["data"], columns=raw.get("columns"))
    if kind == "ndarray":
        if isinstance(raw, dict):
            return {k: np.asarray(v) for k, v in raw.items()}
        return np.asarray(raw)
    return raw
