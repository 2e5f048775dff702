"""Schema enforcement: MLflow's decisions, with messages that name the column and the row.

``enforce_input`` turns model input into what the schema promises (a DataFrame with the schema's
columns in order and types, an ndarray, or a dict of ndarrays) or raises ``SignatureMismatch``.
``enforce_params`` does the same for inference params. Neither ever echoes the whole input.
"""

from __future__ import annotations

import datetime as _dt
import logging
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from modelpack._logs import log_once
from modelpack.errors import InvalidParams, ModelpackError, SignatureMismatch, one_line, short_repr
from modelpack.signature._tensors import enforce_tensors
from modelpack.signature.casting import cast_series, passthrough_dtype, validate_param
from modelpack.signature.frames import column_dtypes, with_pandas_layout
from modelpack.signature.schema import (
    Array,
    ColSpec,
    Map,
    Object,
    ParamSchema,
    Schema,
)

__all__ = ["enforce_input", "enforce_params"]

_log = logging.getLogger(__name__)
# Said once per distinct set of names (log_once): a client sends the same params every time.
_NO_PARAMS = "params %s ignored: the model declares no params"
_UNKNOWN_PARAMS = "params %s ignored: not in the model's params schema"


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
        dtype = passthrough_dtype(spec.type)
        if dtype is None:
            ready = None
            break
        dtypes.append(dtype)
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
    return all(actual == dtype for actual, dtype in zip(column_dtypes(df), dtypes, strict=True))


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
        out = {s.name: cast_series(df[s.name], s.type, str(s.name)) for s in use}
        return pd.DataFrame(out, index=df.index)  # consolidated, as MLflow's (see frames)
    if df.shape[1] < len(specs):
        raise SignatureMismatch(
            f"the model expects {len(specs)} input column(s), got {df.shape[1]}"
        )
    out_cols = {
        df.columns[i]: cast_series(df.iloc[:, i], spec.type, str(df.columns[i]))
        for i, spec in enumerate(specs)
    }
    return pd.DataFrame(out_cols, index=df.index)


# ---------------------------------------------------------------------------------------------
# params


def enforce_params(params: Mapping[str, Any] | None, schema: ParamSchema | None) -> dict[str, Any]:
    """Validate params against the schema, fill in defaults, drop unknown names."""
    if params is not None and not isinstance(params, Mapping):
        raise InvalidParams(f"params must be a dict, got {type(params).__name__}")
    given = dict(params or {})
    if schema is None:
        if given:
            log_once(_log, logging.WARNING, _NO_PARAMS, sorted(given))
        return {}
    known = {p.name for p in schema.params}
    unknown = sorted(set(given) - known)
    if unknown:
        log_once(_log, logging.WARNING, _UNKNOWN_PARAMS, unknown)
    out = {}
    for spec in schema.params:
        if spec.name in given and given[spec.name] is not None:
            out[spec.name] = validate_param(spec, given[spec.name], "value")
        else:
            out[spec.name] = spec.default
    return out
