"""Value types: names, MLflow JSON, and the checks made when they are built."""

from __future__ import annotations

import pytest

from modelpack.errors import SchemaError
from modelpack.signature.datatypes import (
    AnyType,
    Array,
    DataType,
    Map,
    Object,
    Property,
    type_from_dict,
    type_name,
)


def test_object_properties_are_sorted() -> None:
    obj = Object((Property("z", DataType.long), Property("a", AnyType(), required=False)))
    assert list(obj.to_dict()["properties"]) == ["a", "z"]


@pytest.mark.parametrize(
    "dtype",
    [
        DataType.long,
        Array(DataType.string),
        Map(Array(DataType.double)),
        Object((Property("a", DataType.long), Property("b", AnyType(), required=False))),
        AnyType(),
    ],
    ids=type_name,
)
def test_json_round_trip(dtype) -> None:
    assert type_from_dict(dtype.to_dict()) == dtype


def test_type_names_for_messages() -> None:
    assert type_name(Array(Map(DataType.double))) == "array<map<double>>"


def test_objects_need_distinct_properties() -> None:
    with pytest.raises(SchemaError, match="duplicate property names"):
        Object((Property("a", DataType.long), Property("a", DataType.string)))
