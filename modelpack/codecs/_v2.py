"""The Open Inference Protocol (KServe V2): requests and responses, JSON or binary.

``parse_v2_request`` reads a REST body (JSON, or the binary extension's JSON header and raw
tail) into a ``V2Request`` whose inputs are decoded tensors (``_v2_tensors.v2_tensor``, which the
gRPC service calls too). ``encode_v2_response`` writes the outputs back, each as JSON data or
raw bytes as the request asked. What tensors mean to a model (columns, arrays) is
``_v2_model``'s business; nothing here knows a signature, and nothing knows HTTP.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import orjson

from modelpack.codecs._json import json_kind as _kind
from modelpack.codecs._json import loads
from modelpack.codecs._v2_binary import raw_bytes, split_body
from modelpack.codecs._v2_tensors import V2Tensor, v2_tensor
from modelpack.errors import MalformedInput, clip, short_repr

__all__ = [
    "CONTENT_TYPES",
    "RESERVED_PARAMETERS",
    "RequestedOutput",
    "V2Output",
    "V2Request",
    "encode_v2_response",
    "parse_v2_request",
    "request_from_parts",
]

CONTENT_TYPES = ("pd", "np", "dict", "str")
"""Request-level ``parameters.content_type`` values: what the inputs become together."""
RESERVED_PARAMETERS = frozenset({"content_type", "headers", "binary_data_output"})
"""Request ``parameters`` that steer the protocol; every other one is an MLflow param."""


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
