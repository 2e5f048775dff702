"""Signatures: MLflow's JSON, inference with MLflow's results, round trips."""

from __future__ import annotations

import datetime as dt
import json

import numpy as np
import pytest

from modelpack.errors import SchemaError
from modelpack.signature.schema import (
    Array,
    ColSpec,
    DataType,
    Map,
    ModelSignature,
    ParamSchema,
    ParamSpec,
    Schema,
    TensorSpec,
)

from .test_infer import EXAMPLES


@pytest.mark.mlflow
@pytest.mark.parametrize("case", sorted(EXAMPLES))
def test_mlflow_signature_json_round_trips(case: str) -> None:
    from mlflow.models import infer_signature as mlflow_infer

    model_input, model_output, params = EXAMPLES[case]()
    theirs = mlflow_infer(model_input, model_output, params).to_dict()
    assert ModelSignature.from_dict(theirs).to_dict() == theirs


def test_colspec_json() -> None:
    spec = ColSpec(Array(Map(DataType.double)), "feats", required=False)
    assert spec.to_dict() == {
        "type": "array",
        "items": {"type": "map", "values": {"type": "double"}},
        "name": "feats",
        "required": False,
    }


def test_tensor_spec_json() -> None:
    spec = TensorSpec(np.dtype("float32"), (-1, 28, 28), "image")
    assert spec.to_dict() == {
        "name": "image",
        "type": "tensor",
        "tensor-spec": {"dtype": "float32", "shape": [-1, 28, 28]},
    }


def test_param_spec_accepts_dtype_key_when_loading() -> None:
    schema = ParamSchema.from_json('[{"name": "k", "dtype": "long", "default": 3, "shape": null}]')
    assert schema.params == [ParamSpec("k", DataType.long, 3)]


def test_signature_parts_are_json_strings() -> None:
    sig = ModelSignature(Schema([ColSpec(DataType.double, "x")]))
    assert sig.to_dict() == {
        "inputs": '[{"type": "double", "name": "x", "required": true}]',
        "outputs": None,
        "params": None,
    }


@pytest.mark.parametrize(
    ("build", "message"),
    [
        (lambda: Schema([]), "a schema needs at least one element"),
        (
            lambda: Schema([ColSpec(DataType.long, "a"), ColSpec(DataType.long)]),
            "a schema's elements must be all named or all unnamed",
        ),
        (
            lambda: Schema(
                [ColSpec(DataType.long, "a"), TensorSpec(np.dtype("int64"), (-1,), "b")]
            ),
            "a schema cannot mix column specs and tensor specs",
        ),
        (
            lambda: Schema([TensorSpec(np.dtype("int64"), (-1,))] * 2),
            "a schema can hold only one unnamed tensor",
        ),
        (
            lambda: Schema([ColSpec(DataType.long, required=False)]),
            "unnamed columns cannot be optional",
        ),
        (lambda: ModelSignature(), "a signature needs at least one of inputs, outputs or params"),
        (
            lambda: ParamSpec("p", DataType.long, "x"),
            "param 'p': default 'x' of type str is not a valid long",
        ),
        (
            lambda: ParamSpec("p", DataType.binary, b"x"),
            "param 'p': binary params are not supported",
        ),
        (lambda: Schema.from_json("[{]"), "schema is not valid JSON"),
        (lambda: Schema.from_json('[{"type": "decimal"}]'), "unknown data type 'decimal'"),
    ],
)
def test_invalid_schemas_are_refused(build, message: str) -> None:
    with pytest.raises(SchemaError, match=message.replace("(", r"\(").replace(")", r"\)")):
        build()


def test_datetime_param_default_is_written_as_iso() -> None:
    spec = ParamSpec("when", DataType.datetime, "2024-01-02T03:04:05")
    assert spec.default == dt.datetime(2024, 1, 2, 3, 4, 5)
    assert json.loads(ParamSchema([spec]).to_json())[0]["default"] == "2024-01-02T03:04:05"
