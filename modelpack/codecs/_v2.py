"""The Open Inference Protocol (KServe V2): requests and responses as tensors, JSON or binary.

``parse_v2_request`` reads a REST body (JSON, or the binary extension's JSON header and raw
tail) into a ``V2Request`` whose inputs are decoded tensors (``v2_tensor``, which the gRPC
service calls too): arrays of their datatype, checked against their shape, with integers that
are whole and in range. ``encode_v2_response`` writes the outputs back, each as JSON data or
raw bytes as the request asked. What tensors mean to a model (columns, arrays) is
``_v2_model``'s business; nothing here knows a signature, and nothing knows HTTP.
"""

from __future__ import annotations

import base64
import binascii
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import orjson

from modelpack.codecs._json import loads
from modelpack.codecs._v2_binary import from_raw, raw_bytes, split_body
from modelpack.errors import MalformedInput, clip, short_repr

__all__ = [
    "CONTENT_TYPES",
    "DATATYPES",
    "INPUT_CONTENT_TYPES",
    "RESERVED_PARAMETERS",
    "RequestedOutput",
    "V2Output",
    "V2Request",
    "V2Tensor",
    "base64_elements",
    "datatype_of",
    "encode_v2_response",
    "json_elements",
    "parse_v2_request",
    "request_from_parts",
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
CONTENT_TYPES = ("pd", "np", "dict", "str")
"""Request-level ``parameters.content_type`` values: what the inputs become together."""
RESERVED_PARAMETERS = frozenset({"content_type", "headers", "binary_data_output"})
"""Request ``parameters`` that steer the protocol; every other one is an MLflow param."""

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


@dataclass(frozen=True)
class RequestedOutput:
    """An entry of the request's ``outputs``: which output, and whether as binary data."""

    name: str
    binary: bool | None = None
    """``parameters.binary_data``; None: the request's ``binary_data_output``."""


@dataclass(frozen=True)
class V2Request:
    """An inference request, decoded."""

    inputs: list[V2Tensor]
    id: str | None = None
    content_type: str | None = None
    params: dict[str, Any] = field(default_factory=dict)
    """Request parameters other than ``RESERVED_PARAMETERS``: the MLflow params."""
    outputs: list[RequestedOutput] | None = None
    binary_output: bool = False
    """``parameters.binary_data_output``: outputs not listed in ``outputs`` come as binary."""


@dataclass(frozen=True)
class V2Output:
    """One output tensor, ready to write: its elements in row-major order."""

    name: str
    datatype: str
    shape: tuple[int, ...]
    values: np.ndarray
    """A flat array of the datatype's dtype; for BYTES an object array of ``str`` or ``bytes``."""
    content_type: str | None = None


def datatype_of(dtype: np.dtype) -> str | None:
    """The V2 datatype of a numpy dtype (text, bytes and objects are BYTES); None if none fits."""
    if dtype.kind in "OUS":
        return "BYTES"
    for name, candidate in DATATYPES.items():
        if candidate == dtype and name != "BYTES":
            return name
    return None


# -- requests ------------------------------------------------------------------------------------


def parse_v2_request(body: bytes, header_length: int | None = None) -> V2Request:
    """A REST infer body as a ``V2Request``; ``header_length`` is the value of the
    ``Inference-Header-Content-Length`` header when the body uses the binary extension.

    Raises ``MalformedInput`` (400) for anything that is not a valid V2 request.
    """
    tail: memoryview | None = None
    header: bytes | memoryview = body
    if header_length is not None:
        header, tail = split_body(body, header_length)
    value = loads(bytes(header))
    if not isinstance(value, dict):
        raise MalformedInput(f"a V2 inference request is a JSON object, got {_kind(value)}")
    unknown = sorted(clip(str(k), 30) for k in value if k not in _REQUEST_KEYS)
    if unknown:
        raise MalformedInput(
            f"unknown fields {unknown[:5]} in the request; a V2 request has {sorted(_REQUEST_KEYS)}"
        )
    parameters = _parameters(value.get("parameters"), "the request's 'parameters'")
    inputs = value.get("inputs")
    if not isinstance(inputs, list) or not inputs:
        raise MalformedInput("'inputs' must be a list of one or more input tensors")
    offset = 0
    tensors = []
    for i, item in enumerate(inputs):
        tensor, used = _input(item, i, tail, offset)
        tensors.append(tensor)
        offset += used
    if tail is not None and offset != len(tail):
        raise MalformedInput(
            f"the binary data after the JSON header has {len(tail)} bytes, but the inputs' "
            f"binary_data_size add up to {offset}"
        )
    request_id = value.get("id")
    if request_id is not None and not isinstance(request_id, str):
        raise MalformedInput(f"'id' must be a string, got {_kind(request_id)}")
    return request_from_parts(tensors, parameters, _outputs(value.get("outputs")), request_id)


_REQUEST_KEYS = frozenset({"id", "parameters", "inputs", "outputs"})
_INPUT_KEYS = frozenset({"name", "shape", "datatype", "parameters", "data"})


def request_from_parts(
    inputs: list[V2Tensor],
    parameters: Mapping[str, Any],
    outputs: list[RequestedOutput] | None,
    request_id: str | None,
) -> V2Request:
    """A ``V2Request`` from decoded inputs and the request's parameters (REST and gRPC)."""
    content_type = parameters.get("content_type")
    if content_type is not None and content_type not in CONTENT_TYPES:
        raise MalformedInput(
            f"unknown request content_type {short_repr(content_type)}; use one of "
            f"{list(CONTENT_TYPES)}"
        )
    binary = parameters.get("binary_data_output", False)
    if not isinstance(binary, bool):
        raise MalformedInput(f"'binary_data_output' must be true or false, got {_kind(binary)}")
    names = [t.name for t in inputs]
    if len(set(names)) != len(names):
        dupes = sorted({n for n in names if names.count(n) > 1})
        raise MalformedInput(f"inputs {[clip(n, 40) for n in dupes[:5]]} are sent more than once")
    params = {k: v for k, v in parameters.items() if k not in RESERVED_PARAMETERS}
    return V2Request(inputs, request_id, content_type, params, outputs, binary)


def _parameters(value: Any, where: str) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise MalformedInput(f"{where} must be an object, got {_kind(value)}")
    return value


def _input(item: Any, position: int, tail: memoryview | None, offset: int) -> tuple[V2Tensor, int]:
    """Input ``position`` of the request, and how many bytes of the binary tail it took."""
    if not isinstance(item, dict):
        raise MalformedInput(f"input {position} must be an object, got {_kind(item)}")
    name = item.get("name")
    if not isinstance(name, str) or not name:
        raise MalformedInput(f"input {position} has no 'name' (a non-empty string)")
    label = clip(name, 40)
    unknown = sorted(clip(str(k), 30) for k in item if k not in _INPUT_KEYS)
    if unknown:
        raise MalformedInput(f"input '{label}': unknown fields {unknown[:5]}")
    parameters = _parameters(item.get("parameters"), f"input '{label}': 'parameters'")
    size = parameters.get("binary_data_size")
    if size is None:
        if "data" not in item:
            raise MalformedInput(f"input '{label}' has neither 'data' nor a binary_data_size")
        tensor = v2_tensor(
            name, item.get("datatype"), item.get("shape"), data=item["data"], parameters=parameters
        )
        return tensor, 0
    if "data" in item:
        raise MalformedInput(f"input '{label}' has both 'data' and a binary_data_size")
    if tail is None:
        raise MalformedInput(
            f"input '{label}' has a binary_data_size, but the request has no "
            "Inference-Header-Content-Length header (binary data needs it)"
        )
    if type(size) is not int or size < 0:
        raise MalformedInput(f"input '{label}': binary_data_size must be a non-negative integer")
    if offset + size > len(tail):
        raise MalformedInput(
            f"input '{label}': binary_data_size {size} goes beyond the {len(tail)} bytes of "
            "binary data"
        )
    raw = tail[offset : offset + size]
    tensor = v2_tensor(
        name, item.get("datatype"), item.get("shape"), raw=raw, parameters=parameters
    )
    return tensor, size


def _outputs(value: Any) -> list[RequestedOutput] | None:
    if value is None:
        return None
    if not isinstance(value, list):
        raise MalformedInput(f"'outputs' must be a list, got {_kind(value)}")
    out = []
    for i, item in enumerate(value):
        if not isinstance(item, dict) or not isinstance(item.get("name"), str):
            raise MalformedInput(f"output {i} must be an object with a 'name'")
        parameters = _parameters(item.get("parameters"), f"output {i}: 'parameters'")
        binary = parameters.get("binary_data")
        if binary is not None and not isinstance(binary, bool):
            raise MalformedInput(f"output {i}: 'binary_data' must be true or false")
        out.append(RequestedOutput(item["name"], binary))
    return out


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


# -- responses -----------------------------------------------------------------------------------


def encode_v2_response(
    outputs: Sequence[V2Output],
    binary: Sequence[bool],
    *,
    model_name: str,
    model_version: str | None = None,
    request_id: str | None = None,
    content_type: str | None = None,
) -> tuple[bytes, int | None]:
    """The REST response body, and the JSON header's length when any output is binary (the
    ``Inference-Header-Content-Length`` to send; None for a plain JSON body).

    ``binary[i]`` says whether output ``i`` goes as raw bytes after the JSON header.
    """
    head: dict[str, Any] = {"model_name": model_name}
    if model_version is not None:
        head["model_version"] = model_version
    if request_id is not None:
        head["id"] = request_id
    if content_type is not None:
        head["parameters"] = {"content_type": content_type}
    described = []
    tails = []
    for output, as_binary in zip(outputs, binary, strict=True):
        entry: dict[str, Any] = {
            "name": output.name,
            "shape": list(output.shape),
            "datatype": output.datatype,
        }
        parameters: dict[str, Any] = {}
        if output.content_type is not None:
            parameters["content_type"] = output.content_type
        if as_binary:
            raw = raw_bytes(output.values)
            tails.append(raw)
            parameters["binary_data_size"] = len(raw)
        if parameters:
            entry["parameters"] = parameters
        if not as_binary:
            entry["data"] = _json_data(output)
        described.append(entry)
    head["outputs"] = described
    text = orjson.dumps(head, option=orjson.OPT_SERIALIZE_NUMPY)
    if not tails:
        return text, None
    return b"".join([text, *tails]), len(text)


def _json_data(output: V2Output) -> Any:
    values = output.values
    if output.datatype == "BYTES":
        return [
            base64.b64encode(v).decode("ascii") if isinstance(v, bytes) else v
            for v in values.tolist()
        ]
    if values.dtype == np.float16:
        return values.astype(np.float32)  # orjson writes float16 as its exact float32 value
    return np.ascontiguousarray(values)


# -- messages ------------------------------------------------------------------------------------


def _describe(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list | dict):
        return "a list" if isinstance(value, list) else "an object"
    return f"{type(value).__name__} {short_repr(value)}"


def _kind(value: Any) -> str:
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
    return "null" if value is None else type(value).__name__
