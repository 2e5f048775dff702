"""JSON request bodies -> model input: MLflow's envelopes and its 1.x forms.

Each input form is a small decode function, chosen from ``ENVELOPES`` by the body's key. Messages
name the problem and never echo the body.
"""

from __future__ import annotations

import json as _stdlib_json
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import orjson
import pandas as pd

from modelpack.codecs._plan import InputPlan
from modelpack.errors import MalformedInput, SignatureMismatch, clip, one_line
from modelpack.signature.casting import cast_values
from modelpack.signature.schema import ColSpec, DataType, TensorSpec

__all__ = ["ENVELOPES", "Decoded", "decode_json", "decode_value", "loads"]

_LLM_KEYS = frozenset({"messages", "prompt", "input"})
_SPLIT_KEYS = frozenset({"columns", "data", "index"})


@dataclass(frozen=True)
class Decoded:
    """A decoded request: model input, raw params, and how to shape the answer."""

    data: Any
    """What ``PyFuncModel.predict`` receives: a DataFrame, an ndarray, a dict or list of them."""
    params: Any = None
    """The body's ``params`` as sent (``PyFuncModel.predict`` checks them against the schema)."""
    bare: bool = False
    """Answer with the bare predictions instead of ``{"predictions": ...}`` (MLflow 1.x's
    ``format=`` requests, and the unwrapped chat/completions/embeddings bodies)."""


def loads(body: bytes | str) -> Any:
    """Parse JSON with orjson; fall back to the standard library only for what orjson refuses.

    The fallback accepts ``NaN``/``Infinity`` and integers beyond 64 bits, which Python clients
    send; it runs only after orjson failed, so valid bodies pay nothing for it.
    """
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        first = exc
    try:
        text = body.decode("utf-8") if isinstance(body, bytes) else body
        return _stdlib_json.loads(text)
    except (ValueError, RecursionError):
        raise MalformedInput(
            f"Invalid input: the body is not valid JSON ({one_line(first)})"
        ) from None


def decode_json(
    body: bytes | str, plan: InputPlan, *, orient: Literal["split", "records"] | None = None
) -> Decoded:
    """Decode a JSON request body into model input, using the model's plan.

    ``orient`` is MLflow 1.x's ``format=pandas-split|pandas-records`` Content-Type parameter: the
    body is then a bare split object or records list, and the answer is a bare list.
    Raises ``MalformedInput`` or ``SignatureMismatch`` (both 400).
    """
    return decode_value(loads(body), plan, orient=orient)


def decode_value(
    value: Any, plan: InputPlan, *, orient: Literal["split", "records"] | None = None
) -> Decoded:
    """``decode_json`` for a body that is already parsed."""
    return _decode(value, plan, orient)


def _decode(value: Any, plan: InputPlan, orient: str | None) -> Decoded:
    if orient == "split":
        if not isinstance(value, dict):
            raise MalformedInput(
                "with format=pandas-split the body must be an object with 'columns' and 'data' "
                f"(MLflow 1.x), got {json_kind(value)}"
            )
        return Decoded(_split(value, plan, "body"), None, bare=True)
    if orient == "records":
        return Decoded(_records(value, plan, "body"), None, bare=True)
    if isinstance(value, dict):
        keys = [k for k in value if k in ENVELOPES]
        if len(keys) == 1:
            key = keys[0]
            if plan.inputs_only:
                if key != "inputs":
                    raise MalformedInput(
                        "this model's signature comes from type hints: send the input as "
                        f'{{"inputs": ...}}, not {key}'
                    )
                return Decoded(value["inputs"], value.get("params"))
            return Decoded(ENVELOPES[key](value[key], plan, key), value.get("params"))
        if len(keys) > 1:
            raise MalformedInput(f"{_ENVELOPE_RULE}; got more than one: {keys}")
        if _LLM_KEYS.intersection(value):
            data = {k: v for k, v in value.items() if k not in plan.param_names}
            params = {k: v for k, v in value.items() if k in plan.param_names}
            return Decoded(data, params, bare=True)
        if "data" in value and _SPLIT_KEYS.issuperset(value):
            return Decoded(_split(value, plan, "body"))  # MLflow 1.x: a bare split object
        fields = [clip(str(k), 40) for k in list(value)[:10]]
        raise MalformedInput(f"{_ENVELOPE_RULE}; got an object with the fields {fields}")
    if isinstance(value, list):
        return Decoded(_records(value, plan, "body"))  # MLflow 1.x: a bare records list
    raise MalformedInput(f"{_ENVELOPE_RULE}; got {json_kind(value)}")


_ENVELOPE_RULE = (
    "The input must be a JSON object with exactly one of the fields "
    "dataframe_split, dataframe_records, instances or inputs"
)


# -- dataframe_split / dataframe_records ---------------------------------------------------------


def _split(value: Any, plan: InputPlan, where: str) -> pd.DataFrame:
    if not isinstance(value, dict):
        raise MalformedInput(
            f"{where}: the split format is an object with 'columns' and 'data', "
            f"got {json_kind(value)}"
        )
    if "data" not in value or not _SPLIT_KEYS.issuperset(value):
        extra = sorted(clip(str(k), 40) for k in value if k not in _SPLIT_KEYS)[:10]
        raise MalformedInput(
            f"{where}: the split format has a 'data' field and optionally 'columns' and "
            f"'index'" + (f"; unexpected fields {extra}" if extra else "; 'data' is missing")
        )
    rows, columns, index = value["data"], value.get("columns"), value.get("index")
    if not isinstance(rows, list):
        raise MalformedInput(f"{where}: 'data' must be a list of rows, got {json_kind(rows)}")
    if columns is not None and not isinstance(columns, list):
        raise MalformedInput(f"{where}: 'columns' must be a list, got {json_kind(columns)}")
    if plan.input_schema is None:
        _check_rows(rows, where)
        return _pandas(lambda: pd.DataFrame(data=rows, columns=columns, index=index), where)
    if columns is not None and not all(isinstance(c, Hashable) for c in columns):
        raise MalformedInput(f"{where}: column names must be strings or numbers")
    width = len(columns) if columns is not None else _width(rows)
    names: list[Any] = list(columns) if columns is not None else list(range(width))
    if rows and not all(type(r) is list and len(r) == width for r in rows):
        if width == 1 and not any(isinstance(r, list) for r in rows):
            rows = [[r] for r in rows]  # pandas reads a flat list as one column
        else:
            raise MalformedInput(f"{where}: {_bad_row(rows, width)}")
    matrix = plan.matrix(names, rows, index)  # numbers for float columns: one 2-d conversion
    if matrix is not None:
        return plan.frame_from_matrix(names, matrix, index)
    cols: Sequence[Sequence[Any]] = list(zip(*rows, strict=True)) if rows else [[]] * width
    return plan.frame(names, cols, index)


def _width(rows: list[Any]) -> int:
    first = rows[0] if rows else None
    return len(first) if isinstance(first, list) else (1 if rows else 0)


def _bad_row(rows: list[Any], width: int) -> str:
    for i, row in enumerate(rows):
        if type(row) is not list:
            return f"row {i} is {json_kind(row)}, not a list of values"
        if len(row) != width:
            return f"row {i} has {len(row)} values, but there are {width} columns"
    return "rows of different lengths"


def _records(value: Any, plan: InputPlan, where: str) -> pd.DataFrame:
    if not isinstance(value, list):
        raise MalformedInput(
            f"{where}: the records format is a list of objects (one per row), "
            f"got {json_kind(value)}"
        )
    _check_rows(value, where)
    if plan.input_schema is None:
        return _pandas(lambda: pd.DataFrame(data=value), where)
    if not value or not all(type(r) is dict for r in value):
        if value and type(value[0]) is list:
            return _split({"data": value}, plan, where)
        if any(type(r) is dict for r in value):
            bad = next(i for i, r in enumerate(value) if type(r) is not dict)
            raise MalformedInput(f"{where}: record {bad} is {json_kind(value[bad])}, not an object")
        return plan.cast_frame(_pandas(lambda: pd.DataFrame(data=value), where))
    first = value[0].keys()
    if all(r.keys() == first for r in value):
        names = list(first)
        cols = [[r[n] for r in value] for n in names]
    else:  # keys differ between records: a missing value becomes None (NaN), as in pandas
        names = list(dict.fromkeys(k for r in value for k in r))
        cols = [[r.get(n) for r in value] for n in names]
    return plan.frame(names, cols)


def _check_rows(rows: list[Any], where: str) -> None:
    """Rows given as lists are all lists of one length (pandas would pad short rows with NaN,
    a deprecated behaviour that warns on every request)."""
    if not rows or not any(type(r) is list for r in rows):
        return
    width = len(rows[0]) if type(rows[0]) is list else -1
    for i, row in enumerate(rows):
        if type(row) is not list:
            raise MalformedInput(f"{where}: row {i} is {json_kind(row)}, but other rows are lists")
        if len(row) != width:
            raise MalformedInput(f"{where}: row {i} has {len(row)} values, but row 0 has {width}")


def _pandas(build: Callable[[], pd.DataFrame], where: str) -> pd.DataFrame:
    try:
        return build()
    except (
        TypeError,
        ValueError,
        KeyError,
        IndexError,
        AssertionError,
        pd.errors.InvalidIndexError,  # unhashable column labels: {"columns": [[]]}
    ) as exc:
        raise MalformedInput(
            f"{where}: the data is not a valid DataFrame representation: {one_line(exc)}"
        ) from None


# -- inputs / instances (TensorFlow Serving's forms) ---------------------------------------------


def _inputs(value: Any, plan: InputPlan, where: str) -> Any:
    """Columnar input: a dict of columns, a list (one tensor or one column), or a scalar."""
    if plan.input_schema is not None:
        if len(plan.specs) == 1 and isinstance(value, list) and not _has_dict(value):
            value = {next(iter(plan.specs)): value}  # a list for the one named column
        elif not plan.named and isinstance(value, dict):
            raise MalformedInput(
                f"{where}: this model's signature has one unnamed input, which is an array or a "
                "single value, not an object of named inputs"
            )
    first = plan.input_schema.inputs[0] if plan.input_schema is not None else None
    if isinstance(value, dict) and plan.named and not plan.tensor and _flat_columns(value):
        # Columns of scalars for a column signature: the frame enforcement would build anyway.
        return plan.frame(list(value), list(value.values()))
    if isinstance(value, dict):
        return {k: _convert(v, plan.spec(k), str(k)) for k, v in value.items()}
    if isinstance(value, list) and value and all(type(x) is dict for x in value):
        return [{k: _convert(v, plan.spec(k), str(k)) for k, v in r.items()} for r in value]
    return _convert(value, None if plan.named else first, where)


def _instances(value: Any, plan: InputPlan, where: str) -> Any:
    """Row input: a list of objects is turned into columns; anything else is read as inputs."""
    if not (isinstance(value, list) and value and type(value[0]) is dict):
        return _inputs(value, plan, where)
    columns: dict[Any, list[Any]] = {}
    for i, item in enumerate(value):
        if type(item) is not dict:
            raise MalformedInput(f"{where}: item {i} is {json_kind(item)}, not an object")
        for k, v in item.items():
            columns.setdefault(k, []).append(v)
    if plan.named and not plan.tensor and _flat_columns(columns):
        return plan.frame(list(columns), list(columns.values()))
    out = {k: _instance_column(vs, plan.spec(k), str(k)) for k, vs in columns.items()}
    checked = [
        k
        for k in out
        if not plan.named
        or (
            isinstance(plan.spec(k), ColSpec)
            and plan.specs[k].required
            and isinstance(plan.specs[k].type, DataType)
        )
    ]
    if len({len(out[k]) for k in checked}) > 1:
        raise MalformedInput(
            f"{where}: the length of values for each input/column name are not the same"
        )
    return out


def _instance_column(values: list[Any], spec: ColSpec | TensorSpec | None, name: str) -> Any:
    if isinstance(spec, ColSpec) and not isinstance(spec.type, DataType):
        return cast_values(values, spec, name)  # cells (arrays, objects, maps) stay cells
    return _convert(values, spec, name)


def _convert(value: Any, spec: ColSpec | TensorSpec | None, name: str) -> Any:
    """One input's value converted to its spec's type (MLflow's ``convert_data_type``)."""
    if isinstance(spec, ColSpec) and not isinstance(spec.type, DataType):
        return value  # arrays, objects, maps and any are checked by enforcement
    if (isinstance(spec, ColSpec) and spec.type == DataType.datetime) or _is_flat(value, spec):
        if isinstance(value, list):
            return cast_values(value, spec, name)
        return cast_values([value], spec, name)[0]
    dtype = spec.type if isinstance(spec, TensorSpec) else None
    if isinstance(spec, ColSpec) and isinstance(spec.type, DataType):
        dtype = spec.type.to_numpy() if spec.type != DataType.string else np.dtype(object)
    try:
        with np.errstate(over="ignore"):  # beyond float32's range: inf, as numpy casts it
            return np.asarray(value, dtype=dtype)
    except (TypeError, ValueError, OverflowError) as exc:
        label = str(dtype) if dtype is not None else "an array"
        raise SignatureMismatch(
            f"input '{name}': cannot be read as {label}: {one_line(exc)}"
        ) from None


def _is_flat(value: Any, spec: ColSpec | TensorSpec | None) -> bool:
    """A scalar-typed column given scalars: the column casts apply (checks, clear messages)."""
    if not isinstance(spec, ColSpec):
        return False
    if isinstance(value, list):
        return not any(isinstance(v, list | dict) for v in value)
    return not isinstance(value, dict)


def _flat_columns(columns: dict[Any, Any]) -> bool:
    """Every value a list of scalars, all of one length (and at least one column)."""
    lengths = set()
    for values in columns.values():
        if type(values) is not list or any(isinstance(v, list | dict) for v in values):
            return False
        lengths.add(len(values))
    return len(lengths) == 1


def _has_dict(values: list[Any]) -> bool:
    return any(type(v) is dict for v in values)


ENVELOPES: dict[str, Callable[[Any, InputPlan, str], Any]] = {
    "dataframe_split": _split,
    "dataframe_records": _records,
    "instances": _instances,
    "inputs": _inputs,
}
"""The input forms of ``POST /invocations``, by envelope key: each reads the key's value."""


# -- messages ------------------------------------------------------------------------------------


def json_kind(value: Any) -> str:
    """What a decoded JSON value is, in words (``an object``, ``a list``, ...)."""
    if isinstance(value, dict):
        return "an object"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if value is None:
        return "null"
    return type(value).__name__
