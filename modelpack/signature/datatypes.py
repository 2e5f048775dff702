"""Value types of signatures: the scalar ``DataType``s and the Array, Object, Map and Any types,
with their MLflow JSON form."""

from __future__ import annotations

import datetime as _dt
from collections.abc import Mapping
from dataclasses import dataclass
from enum import Enum
from typing import Any, Union

import numpy as np

from modelpack.errors import SchemaError

__all__ = [
    "AnyType",
    "Array",
    "DataType",
    "Map",
    "Object",
    "Property",
    "ValueType",
    "require_key",
    "type_from_dict",
    "type_name",
]


class DataType(Enum):
    """Scalar column types, named as in MLflow."""

    boolean = 1
    integer = 2
    long = 3
    float = 4
    double = 5
    string = 6
    binary = 7
    datetime = 8

    def __repr__(self) -> str:
        return self.name

    def to_numpy(self) -> np.dtype:
        return np.dtype(_NUMPY[self])

    def to_pandas(self) -> np.dtype:
        return np.dtype(_PANDAS[self])

    def to_python(self) -> type:
        return _PYTHON[self]

    def to_dict(self) -> dict[str, Any]:
        return {"type": self.name}


_NUMPY = {
    DataType.boolean: "bool",
    DataType.integer: "int32",
    DataType.long: "int64",
    DataType.float: "float32",
    DataType.double: "float64",
    DataType.string: "str",
    DataType.binary: "bytes",
    DataType.datetime: "datetime64[ns]",
}
_PANDAS = {**_NUMPY, DataType.string: "object", DataType.binary: "object"}
_PYTHON: dict[DataType, type] = {
    DataType.boolean: bool,
    DataType.integer: int,
    DataType.long: int,
    DataType.float: float,
    DataType.double: float,
    DataType.string: str,
    DataType.binary: bytes,
    DataType.datetime: _dt.datetime,
}


@dataclass(frozen=True)
class Array:
    """A list of ``dtype`` items."""

    dtype: ValueType

    def to_dict(self) -> dict[str, Any]:
        return {"type": "array", "items": self.dtype.to_dict()}


@dataclass(frozen=True)
class Property:
    """One named property of an :class:`Object`."""

    name: str
    dtype: ValueType
    required: bool = True

    def to_dict(self) -> dict[str, Any]:
        return {self.name: {**self.dtype.to_dict(), "required": self.required}}


@dataclass(frozen=True)
class Object:
    """A dict with known properties."""

    properties: tuple[Property, ...]

    def __post_init__(self) -> None:
        names = [p.name for p in self.properties]
        if not names:
            raise SchemaError("an object type needs at least one property")
        if len(set(names)) != len(names):
            raise SchemaError(f"duplicate property names in object type: {sorted(names)}")
        object.__setattr__(self, "properties", tuple(sorted(self.properties, key=lambda p: p.name)))

    def to_dict(self) -> dict[str, Any]:
        props: dict[str, Any] = {}
        for prop in self.properties:
            props.update(prop.to_dict())
        return {"type": "object", "properties": props}


@dataclass(frozen=True)
class Map:
    """A dict with string keys and ``value_type`` values."""

    value_type: ValueType

    def to_dict(self) -> dict[str, Any]:
        return {"type": "map", "values": self.value_type.to_dict()}


@dataclass(frozen=True)
class AnyType:
    """Anything, None included; never validated."""

    def to_dict(self) -> dict[str, Any]:
        return {"type": "any"}


ValueType = Union[DataType, Array, Object, Map, AnyType]  # noqa: UP007 - runtime alias on 3.10


def type_name(dtype: ValueType) -> str:
    """Short human name of a type, for messages: ``double``, ``array<string>``."""
    if isinstance(dtype, DataType):
        return dtype.name
    if isinstance(dtype, Array):
        return f"array<{type_name(dtype.dtype)}>"
    if isinstance(dtype, Map):
        return f"map<{type_name(dtype.value_type)}>"
    if isinstance(dtype, Object):
        return "object"
    return "any"


def type_from_dict(d: Mapping[str, Any]) -> ValueType:
    kind = d.get("type")
    if kind == "array":
        return Array(type_from_dict(require_key(d, "items")))
    if kind == "object":
        props = require_key(d, "properties")
        return Object(
            tuple(
                Property(name, type_from_dict(spec), bool(spec.get("required", True)))
                for name, spec in props.items()
            )
        )
    if kind == "map":
        return Map(type_from_dict(require_key(d, "values")))
    if kind == "any":
        return AnyType()
    try:
        return DataType[str(kind)]
    except KeyError:
        raise SchemaError(f"unknown data type {kind!r}") from None


def require_key(d: Mapping[str, Any], key: str) -> Any:
    if key not in d:
        raise SchemaError(f"schema element {dict(d)!r} lacks {key!r}")
    return d[key]
