"""Signatures: data types, column and tensor specs, params, and their MLflow JSON form."""

from __future__ import annotations

import datetime as _dt
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Union

import numpy as np

from modelpack.errors import SchemaError
from modelpack.signature.datatypes import (
    AnyType,
    Array,
    DataType,
    Map,
    Object,
    Property,
    ValueType,
    require_key,
    type_from_dict,
)

__all__ = [
    "AnyType",
    "Array",
    "ColSpec",
    "DataType",
    "Map",
    "ModelSignature",
    "Object",
    "ParamSchema",
    "ParamSpec",
    "Property",
    "Schema",
    "TensorSpec",
]


@dataclass(frozen=True)
class ColSpec:
    """A column: its type, an optional name, and whether it must be present."""

    type: ValueType
    name: str | None = None
    required: bool = True

    def to_dict(self) -> dict[str, Any]:
        d = self.type.to_dict()
        if self.name is not None:
            d["name"] = self.name
        d["required"] = self.required
        return d


@dataclass(frozen=True)
class TensorSpec:
    """An n-dimensional array of a numpy dtype; ``-1`` marks a variable dimension."""

    type: np.dtype
    shape: tuple[int, ...]
    name: str | None = None

    def __post_init__(self) -> None:
        dtype = np.dtype(self.type)
        if dtype.kind in "US" and dtype.itemsize > 0:
            raise SchemaError(f"sized string dtype {dtype} is not allowed in a tensor spec")
        object.__setattr__(self, "type", dtype)
        object.__setattr__(self, "shape", tuple(int(d) for d in self.shape))

    @property
    def required(self) -> bool:
        return True

    def to_dict(self) -> dict[str, Any]:
        spec = {"dtype": _dtype_name(self.type), "shape": list(self.shape)}
        if self.name is None:
            return {"type": "tensor", "tensor-spec": spec}
        return {"name": self.name, "type": "tensor", "tensor-spec": spec}


def _dtype_name(dtype: np.dtype) -> str:
    if dtype.kind == "U":
        return "str"
    if dtype.kind == "S":
        return "bytes"
    return str(dtype)


Spec = Union[ColSpec, TensorSpec]  # noqa: UP007 - runtime alias on 3.10


class Schema:
    """An ordered list of ColSpecs or of TensorSpecs, all named or all unnamed."""

    def __init__(self, inputs: Iterable[Spec]) -> None:
        self.inputs: list[Spec] = list(inputs)
        if not self.inputs:
            raise SchemaError("a schema needs at least one element")
        named = [s.name is not None for s in self.inputs]
        if any(named) and not all(named):
            raise SchemaError("a schema's elements must be all named or all unnamed")
        kinds = {type(s) for s in self.inputs}
        if len(kinds) > 1:
            raise SchemaError("a schema cannot mix column specs and tensor specs")
        if self.is_tensor_spec() and len(self.inputs) > 1 and not any(named):
            raise SchemaError("a schema can hold only one unnamed tensor")
        if not any(named) and any(not s.required for s in self.inputs):
            raise SchemaError("unnamed columns cannot be optional")
        names = self.input_names()
        if len(set(names)) != len(names):
            raise SchemaError(f"duplicate names in schema: {names}")

    def is_tensor_spec(self) -> bool:
        return isinstance(self.inputs[0], TensorSpec)

    def has_input_names(self) -> bool:
        return self.inputs[0].name is not None

    def input_names(self) -> list[str]:
        return [s.name for s in self.inputs if s.name is not None]

    def required_input_names(self) -> list[str]:
        return [s.name for s in self.inputs if s.name is not None and s.required]

    def to_dict(self) -> list[dict[str, Any]]:
        return [s.to_dict() for s in self.inputs]

    def to_json(self) -> str:
        return json.dumps(self.to_dict())

    @classmethod
    def from_json(cls, text: str) -> Schema:
        try:
            items = json.loads(text)
        except (TypeError, ValueError) as exc:
            raise SchemaError(f"schema is not valid JSON: {exc}") from None
        return cls.from_dict(items)

    @classmethod
    def from_dict(cls, items: Sequence[Mapping[str, Any]]) -> Schema:
        if not isinstance(items, list):
            raise SchemaError(f"a schema must be a JSON list, got {type(items).__name__}")
        return cls(_spec_from_dict(item) for item in items)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Schema) and self.inputs == other.inputs

    def __repr__(self) -> str:
        return f"Schema({self.to_json()})"


def _spec_from_dict(item: Mapping[str, Any]) -> Spec:
    if not isinstance(item, Mapping):
        raise SchemaError(f"schema elements must be objects, got {item!r}")
    if item.get("type") == "tensor":
        spec = require_key(item, "tensor-spec")
        return TensorSpec(np.dtype(spec["dtype"]), tuple(spec["shape"]), item.get("name"))
    return ColSpec(type_from_dict(item), item.get("name"), bool(item.get("required", True)))


@dataclass(frozen=True)
class ParamSpec:
    """One inference parameter: name, type, default value and shape (None or ``(-1,)``)."""

    name: str
    dtype: DataType | Object
    default: Any
    shape: tuple[int, ...] | None = None

    def __post_init__(self) -> None:
        if self.dtype == DataType.binary:
            raise SchemaError(f"param '{self.name}': binary params are not supported")
        if self.shape is not None:
            object.__setattr__(self, "shape", tuple(self.shape))
            if self.shape != (-1,):
                raise SchemaError(f"param '{self.name}': shape must be null or [-1]")

        # casting imports pandas: only models with params pay for it when MLmodel is read
        from modelpack.signature.casting import validate_param

        object.__setattr__(self, "default", validate_param(self, self.default, "default"))

    def to_dict(self) -> dict[str, Any]:
        default = self.default
        if isinstance(default, _dt.datetime | _dt.date):
            default = default.isoformat()
        elif isinstance(default, list):
            default = [v.isoformat() if isinstance(v, _dt.datetime) else v for v in default]
        d: dict[str, Any] = {
            "name": self.name,
            "default": default,
            "shape": list(self.shape) if self.shape is not None else None,
        }
        d.update(self.dtype.to_dict())
        return d

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> ParamSpec:
        kind = d.get("type", d.get("dtype"))
        dtype = type_from_dict({**d, "type": kind})
        if not isinstance(dtype, DataType | Object):
            raise SchemaError(f"param '{d.get('name')}': unsupported type {kind!r}")
        shape = d.get("shape")
        return cls(str(d["name"]), dtype, d.get("default"), tuple(shape) if shape else None)


class ParamSchema:
    """The ordered params a model accepts at predict time."""

    def __init__(self, params: Iterable[ParamSpec]) -> None:
        self.params: list[ParamSpec] = list(params)
        names = [p.name for p in self.params]
        if len(set(names)) != len(names):
            raise SchemaError(f"duplicate param names: {names}")

    def to_dict(self) -> list[dict[str, Any]]:
        return [p.to_dict() for p in self.params]

    def to_json(self) -> str:
        return json.dumps(self.to_dict())

    @classmethod
    def from_json(cls, text: str) -> ParamSchema:
        return cls(ParamSpec.from_dict(d) for d in json.loads(text))

    def __eq__(self, other: object) -> bool:
        return isinstance(other, ParamSchema) and self.params == other.params

    def __repr__(self) -> str:
        return f"ParamSchema({self.to_json()})"


@dataclass
class ModelSignature:
    """Inputs, outputs and params of a model, stored in MLmodel as three JSON strings."""

    inputs: Schema | None = None
    outputs: Schema | None = None
    params: ParamSchema | None = field(default=None)

    def __post_init__(self) -> None:
        if self.inputs is None and self.outputs is None and self.params is None:
            raise SchemaError("a signature needs at least one of inputs, outputs or params")

    def to_dict(self) -> dict[str, str | None]:
        return {
            "inputs": self.inputs.to_json() if self.inputs is not None else None,
            "outputs": self.outputs.to_json() if self.outputs is not None else None,
            "params": self.params.to_json() if self.params is not None else None,
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> ModelSignature:
        def part(key: str, parse: Any) -> Any:
            value = d.get(key)
            if value is None:
                return None
            if isinstance(value, str):
                return parse(value)
            return parse(json.dumps(value))

        return cls(
            inputs=part("inputs", Schema.from_json),
            outputs=part("outputs", Schema.from_json),
            params=part("params", ParamSchema.from_json),
        )
