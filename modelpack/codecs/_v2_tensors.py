"""V2 tensors: the datatypes, and one input tensor decoded from JSON data or raw bytes.

``v2_tensor`` (which the REST codec and the gRPC service call) returns an array of the tensor's
datatype, checked against its shape: JSON elements of the right kind (integers that are whole and
in range, floats in range, ``null`` as NaN), nested lists that are regular. BYTES elements are
read by their content type afterwards (``text_elements``, ``base64_elements``, ``json_elements``).
"""

from __future__ import annotations

import base64
import binascii
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import orjson

from modelpack.codecs._v2_binary import from_raw
from modelpack.errors import MalformedInput, clip, short_repr

__all__ = [
    "DATATYPES",
    "INPUT_CONTENT_TYPES",
    "V2Tensor",
    "base64_elements",
    "datatype_of",
    "json_elements",
    "text_elements",
    "v2_tensor",
]

DATATYPES: dict[str, np.dtype] = {
    "BOOL": np.dtype(np.bool_),
    "INT8": np.dtype(np.int8),
    "INT16": np.dtype(np.int16),
    "INT32": np.dtype(np.int32),
    "INT64": np.dtype(np.int64),
    "UINT8": np.dtype(np.uint8),
    "UINT16": np.dtype(np.uint16),
    "UINT32": np.dtype(np.uint32),
    "UINT64": np.dtype(np.uint64),
    "FP16": np.dtype(np.float16),
    "FP32": np.dtype(np.float32),
    "FP64": np.dtype(np.float64),
    "BYTES": np.dtype(object),
}
"""The V2 datatypes and the numpy dtype each decodes to (BYTES: objects, ``str`` or ``bytes``)."""

INPUT_CONTENT_TYPES = ("np", "str", "base64", "datetime", "pd_json")
"""Per-input ``parameters.content_type`` values: how one input's elements are read."""
_TEXTUAL = ("str", "base64", "datetime", "pd_json")
_KINDS = {"BOOL": "booleans", "BYTES": "strings"}


@dataclass(frozen=True)
class V2Tensor:
    """One decoded input tensor."""

    name: str
    datatype: str
    shape: tuple[int, ...]
    values: np.ndarray
    """The elements, reshaped to ``shape``: an array of ``DATATYPES[datatype]``; for BYTES an
    object array of ``str`` (JSON) or ``bytes`` (binary data), until a content type reads them."""
    content_type: str | None = None


def datatype_of(dtype: np.dtype) -> str | None:
    """The V2 datatype of a numpy dtype (text, bytes and objects are BYTES); None if none fits."""
    if dtype.kind in "OUS":
        return "BYTES"
    for name, candidate in DATATYPES.items():
        if candidate == dtype and name != "BYTES":
            return name
    return None


# -- tensors -------------------------------------------------------------------------------------


def v2_tensor(
    name: str,
    datatype: Any,
    shape: Any,
    *,
    data: Any = None,
    raw: bytes | memoryview | None = None,
    parameters: Mapping[str, Any] | None = None,
) -> V2Tensor:
    """One input tensor from JSON ``data`` (flat or nested, row-major; a list, or an array
    from gRPC's typed contents) or ``raw`` bytes, checked against ``datatype`` and ``shape``."""
    label = clip(name, 40)
    if not isinstance(datatype, str) or datatype not in DATATYPES:
        raise MalformedInput(
            f"input '{label}': unknown datatype {short_repr(datatype)}; use one of "
            f"{list(DATATYPES)}"
        )
    dims = _shape(shape, label)
    count = math.prod(dims)
    dtype = DATATYPES[datatype]
    if raw is not None:
        values = from_raw(raw, dtype, count, label)
    elif isinstance(data, np.ndarray):
        values = _from_array(data, datatype, count, label)
    else:
        values = _from_json(data, datatype, count, label)
    content_type = (parameters or {}).get("content_type")
    if content_type is not None:
        if content_type not in INPUT_CONTENT_TYPES:
            raise MalformedInput(
                f"input '{label}': unknown content_type {short_repr(content_type)}; use one of "
                f"{list(INPUT_CONTENT_TYPES)}"
            )
        if content_type in _TEXTUAL and datatype != "BYTES":
            raise MalformedInput(
                f"input '{label}': content_type '{content_type}' reads BYTES, not {datatype}"
            )
    return V2Tensor(name, datatype, dims, values.reshape(dims), content_type)


def _shape(shape: Any, label: str) -> tuple[int, ...]:
    if not isinstance(shape, list) or not all(type(d) is int and d >= 0 for d in shape):
        raise MalformedInput(
            f"input '{label}': 'shape' must be a list of non-negative integers, got "
            f"{short_repr(shape)}"
        )
    return tuple(shape)


def _flatten(data: Any, label: str) -> list[Any]:
    """Nested lists flattened row-major; they must be regular (every row of one length)."""
    if not isinstance(data, list):
        return [data]  # a bare scalar, as for shape [1] or []
    if not any(isinstance(x, list) for x in data):
        return data
    level: list[Any] = data
    while level and isinstance(level[0], list):
        width = len(level[0])
        if not all(isinstance(x, list) and len(x) == width for x in level):
            raise MalformedInput(
                f"input '{label}': 'data' is ragged (nested lists of different lengths, or "
                "lists beside values)"
            )
        level = [x for row in level for x in row]
    if any(isinstance(x, list) for x in level):
        raise MalformedInput(f"input '{label}': 'data' is ragged (lists beside values)")
    return level


def _from_json(data: Any, datatype: str, count: int, label: str) -> np.ndarray:
    flat = _flatten(data, label)
    if len(flat) != count:
        raise MalformedInput(
            f"input '{label}': its shape holds {count} elements, but 'data' has {len(flat)}"
        )
    kinds = set(map(type, flat))
    dtype = DATATYPES[datatype]
    if datatype == "BYTES":
        _only(flat, kinds, {str}, datatype, label)
        return _objects(flat)
    if datatype == "BOOL":
        _only(flat, kinds, {bool}, datatype, label)
        return np.array(flat, dtype=np.bool_)
    if dtype.kind == "f":
        # null is a missing value (NaN): JSON has no NaN, and MLServer reads null so too.
        _only(flat, kinds, {int, float, type(None)}, datatype, label)
        return _floats(flat, dtype, label)
    _only(flat, kinds, {int, float}, datatype, label)
    return _integers(flat, kinds, dtype, datatype, label)


def _only(flat: list[Any], kinds: set[type], allowed: set[type], datatype: str, label: str) -> None:
    if kinds <= allowed:
        return
    for position, value in enumerate(flat):
        if type(value) not in allowed:
            expected = _KINDS.get(datatype, "numbers")
            raise MalformedInput(
                f"input '{label}': {datatype} data holds {_describe(value)} at position "
                f"{position}; {datatype} takes {expected}"
            )


def _floats(flat: Sequence[Any], dtype: np.dtype, label: str) -> np.ndarray:
    try:
        with np.errstate(over="raise"):
            return np.array(flat, dtype=dtype)
    except (FloatingPointError, OverflowError):
        largest = float(np.finfo(dtype).max)
        for position, value in enumerate(flat):
            if value is not None and abs(value) > largest:
                raise MalformedInput(
                    f"input '{label}': {_describe(value)} at position {position} is beyond "
                    f"the range of {dtype}"
                ) from None
        raise


def _integers(
    flat: Sequence[Any], kinds: set[type], dtype: np.dtype, datatype: str, label: str
) -> np.ndarray:
    info = np.iinfo(dtype)
    for position, value in enumerate(flat) if float in kinds else ():
        if type(value) is float and not (math.isfinite(value) and value.is_integer()):
            # MLServer truncates 0.7 to 0 without a word; a fraction is not an integer.
            raise MalformedInput(
                f"input '{label}': {datatype} data holds the fraction {_describe(value)} at "
                f"position {position}; send whole numbers, or a floating-point datatype"
            )
    try:
        if float in kinds:
            flat = [int(v) for v in flat]
        return np.array(flat, dtype=dtype)
    except OverflowError:
        for position, value in enumerate(flat):
            if not info.min <= value <= info.max:
                raise MalformedInput(
                    f"input '{label}': {_describe(value)} at position {position} is beyond the "
                    f"range of {datatype} ({info.min} to {info.max})"
                ) from None
        raise


def _from_array(values: np.ndarray, datatype: str, count: int, label: str) -> np.ndarray:
    """Values already typed (gRPC's typed contents): the count, and the range of small ints."""
    flat = values.ravel()
    if flat.size != count:
        raise MalformedInput(
            f"input '{label}': its shape holds {count} elements, but the contents have {flat.size}"
        )
    dtype = DATATYPES[datatype]
    if datatype == "BYTES" or flat.dtype == dtype:
        return flat
    if dtype.kind in "iu" and flat.size:
        info = np.iinfo(dtype)
        bad = (flat < info.min) | (flat > info.max)
        if bad.any():
            position = int(np.argmax(bad))
            raise MalformedInput(
                f"input '{label}': {flat[position]} at position {position} is beyond the range "
                f"of {datatype} ({info.min} to {info.max})"
            )
    return flat.astype(dtype)


def _objects(values: Sequence[Any]) -> np.ndarray:
    out = np.empty(len(values), dtype=object)
    out[:] = values
    return out


# -- reading BYTES elements by content type -------------------------------------------------------


def text_elements(values: np.ndarray, label: str) -> np.ndarray:
    """BYTES elements as ``str``: text stays, bytes are read as UTF-8."""
    out = np.empty(values.shape, dtype=object)
    flat, target = values.ravel(), out.ravel()
    for i, value in enumerate(flat):
        if isinstance(value, bytes):
            try:
                value = value.decode("utf-8")
            except UnicodeDecodeError:
                raise MalformedInput(
                    f"input '{label}': BYTES element {i} is not UTF-8 text; send binary values "
                    "with content_type 'base64' to a binary column"
                ) from None
        target[i] = value
    return out


def base64_elements(values: np.ndarray, label: str) -> np.ndarray:
    """BYTES elements holding base64 text, decoded to ``bytes``."""
    out = np.empty(values.shape, dtype=object)
    flat, target = values.ravel(), out.ravel()
    for i, value in enumerate(flat):
        try:
            target[i] = base64.b64decode(value, validate=True)
        except (binascii.Error, ValueError):
            raise MalformedInput(
                f"input '{label}': BYTES element {i} is not valid base64 (content_type 'base64')"
            ) from None
    return out


def json_elements(values: np.ndarray, label: str) -> np.ndarray:
    """BYTES elements each holding a JSON document (content_type ``pd_json``), parsed."""
    out = np.empty(values.shape, dtype=object)
    flat, target = values.ravel(), out.ravel()
    for i, value in enumerate(flat):
        try:
            target[i] = orjson.loads(value)
        except orjson.JSONDecodeError:
            raise MalformedInput(
                f"input '{label}': BYTES element {i} is not a JSON document (content_type "
                "'pd_json')"
            ) from None
    return out


# -- messages ------------------------------------------------------------------------------------


def _describe(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list | dict):
        return "a list" if isinstance(value, list) else "an object"
    return f"{type(value).__name__} {short_repr(value)}"
