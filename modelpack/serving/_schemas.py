"""JSON Schemas of a signature's types: a column, a value, a tensor, the params, the output.

Pure functions from ``modelpack.signature`` types to JSON Schema dicts (2020-12, as OpenAPI 3.1
uses); ``openapi`` assembles them into the served document.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from modelpack.signature.datatypes import AnyType, Array, DataType, Map, Object, ValueType
from modelpack.signature.schema import ColSpec, ParamSchema, Schema, TensorSpec

__all__ = [
    "column_schema",
    "columns_schema",
    "element_schema",
    "outputs_schema",
    "params_schema",
    "row_schema",
    "tensor_schema",
    "value_schema",
]


def row_schema(inputs: Schema) -> dict[str, Any]:
    specs: list[ColSpec] = inputs.inputs  # type: ignore[assignment]
    return {
        "type": "object",
        "description": "One row: the signature's columns by name.",
        "required": [s.name for s in specs if s.required],
        "properties": {str(s.name): column_schema(s) for s in specs},
    }


def columns_schema(specs: Sequence[ColSpec]) -> list[dict[str, Any]]:
    return [column_schema(s) for s in specs]


def column_schema(spec: ColSpec) -> dict[str, Any]:
    schema = value_schema(spec.type)
    if not spec.required:
        schema = {"anyOf": [schema, {"type": "null"}]}
    if spec.name is not None:
        schema = {**schema, "title": str(spec.name)}
    return schema


def value_schema(dtype: ValueType) -> dict[str, Any]:
    """The JSON Schema of one value of a signature type."""
    if isinstance(dtype, DataType):
        return dict(_SCALARS[dtype])
    if isinstance(dtype, Array):
        return {"type": "array", "items": value_schema(dtype.dtype)}
    if isinstance(dtype, Object):
        return {
            "type": "object",
            "required": [p.name for p in dtype.properties if p.required],
            "properties": {p.name: value_schema(p.dtype) for p in dtype.properties},
        }
    if isinstance(dtype, Map):
        return {"type": "object", "additionalProperties": value_schema(dtype.value_type)}
    assert isinstance(dtype, AnyType)
    return {}


_SCALARS: dict[DataType, dict[str, Any]] = {
    DataType.boolean: {"type": "boolean"},
    DataType.integer: {"type": "integer", "format": "int32"},
    DataType.long: {"type": "integer", "format": "int64"},
    DataType.float: {"type": "number", "format": "float"},
    DataType.double: {"type": "number", "format": "double"},
    DataType.string: {"type": "string"},
    DataType.binary: {"type": "string", "contentEncoding": "base64"},
    DataType.datetime: {"type": "string", "format": "date-time"},
}


def tensor_schema(spec: TensorSpec, shape: Sequence[int]) -> dict[str, Any]:
    """Nested arrays of ``shape`` (-1: any length) holding ``spec``'s element type."""
    schema = dict(element_schema(spec.type))
    for size in reversed(shape):
        schema = {"type": "array", "items": schema}
        if size >= 0:
            schema |= {"minItems": size, "maxItems": size}
    if spec.name is not None:
        schema["title"] = str(spec.name)
    schema["description"] = f"tensor {spec.type} of shape {list(spec.shape)}"
    return schema


def element_schema(dtype: np.dtype) -> dict[str, Any]:
    kind = np.dtype(dtype).kind
    if kind == "b":
        return {"type": "boolean"}
    if kind in "iu":
        return {"type": "integer"}
    if kind in "fc":
        return {"type": ["number", "null"]}
    if kind == "M":
        return {"type": "string", "format": "date-time"}
    return {"type": "string"}


def params_schema(params: ParamSchema | None) -> dict[str, Any]:
    if params is None:
        return {
            "type": "object",
            "description": "This model declares no params; any sent are ignored.",
        }
    properties: dict[str, Any] = {}
    for spec in params.params:
        value = value_schema(spec.dtype)
        if spec.shape is not None:
            value = {"type": "array", "items": value}
        default = spec.to_dict()["default"]
        if default is not None:
            value["default"] = default
        properties[spec.name] = value
    return {
        "type": "object",
        "description": "Inference params; missing ones take their defaults, unknown ones are "
        "ignored.",
        "properties": properties,
    }


def outputs_schema(outputs: Schema | None) -> dict[str, Any]:
    if outputs is None:
        return {"description": "The model's answer (no output schema was saved)."}
    if outputs.is_tensor_spec():
        specs: list[TensorSpec] = outputs.inputs  # type: ignore[assignment]
        if outputs.has_input_names() and len(specs) > 1:
            return {
                "type": "object",
                "properties": {str(s.name): tensor_schema(s, s.shape) for s in specs},
            }
        return tensor_schema(specs[0], specs[0].shape)
    columns: list[ColSpec] = outputs.inputs  # type: ignore[assignment]
    record = {
        "type": "object",
        "properties": {str(s.name): value_schema(s.type) for s in columns if s.name is not None},
    }
    if len(columns) == 1:
        return {
            "type": "array",
            "description": "One value per input row (or one object per row).",
            "items": {"anyOf": [value_schema(columns[0].type), {"type": "null"}, record]},
        }
    return {"type": "array", "description": "One object per input row.", "items": record}
