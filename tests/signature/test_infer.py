"""Signature inference: MLflow's results for the same examples, and what inference refuses."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest

from modelpack.signature.infer import infer_schema, infer_signature
from modelpack.signature.schema import ColSpec, DataType, Schema, TensorSpec


def _every_dtype_frame() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "b": [True, False],
            "i8": np.array([1, 2], dtype="int8"),
            "i16": np.array([1, 2], dtype="int16"),
            "i32": np.array([1, 2], dtype="int32"),
            "i64": [1, 2],
            "u8": np.array([1, 2], dtype="uint8"),
            "u16": np.array([1, 2], dtype="uint16"),
            "u32": np.array([1, 2], dtype="uint32"),
            "f16": np.array([1, 2], dtype="float16"),
            "f32": np.array([1, 2], dtype="float32"),
            "f64": [1.0, None],
            "s": ["a", "b"],
            "o": pd.Series(["x", None], dtype=object),
            "by": [b"a", b"b"],
            "dt": pd.to_datetime(["2020-01-01", "2021-01-01"]),
            "lst": [[1, 2], [3]],
            "dct": [{"a": 1}, {"a": 2, "b": "x"}],
        }
    )


EXAMPLES = {
    "frame with every dtype": lambda: (_every_dtype_frame(), None, None),
    "named series": lambda: (pd.Series([1.5, 2.5], name="x"), None, None),
    "float ndarray": lambda: (np.zeros((3, 4)), np.zeros(3), None),
    "int32 3-d ndarray": lambda: (np.zeros((2, 3, 5), dtype=np.int32), None, None),
    "string ndarray": lambda: (np.array(["a", "bc"]), None, None),
    "dict of ndarrays": lambda: (
        {"a": np.zeros((2, 3)), "b": np.ones(2, dtype=np.int64)},
        None,
        None,
    ),
    "dict of scalars": lambda: ({"a": 1, "b": "x", "c": 2.5}, None, None),
    "list of strings": lambda: (["test_input"], ["test_output"], None),
    "list of dicts": lambda: ([{"a": 1, "b": "x"}, {"a": 2}], None, None),
    "params of every kind": lambda: (
        pd.DataFrame({"x": [1.0]}),
        None,
        {
            "k": 1,
            "alpha": 0.5,
            "name": "n",
            "flag": True,
            "when": dt.datetime(2024, 1, 2, 3, 4, 5),
            "ids": [1, 2, 3],
            "words": ["a", "b"],
        },
    ),
}


@pytest.mark.mlflow
@pytest.mark.parametrize("case", sorted(EXAMPLES))
def test_inferred_signature_json_equals_mlflows(case: str) -> None:
    from mlflow.models import infer_signature as mlflow_infer

    model_input, model_output, params = EXAMPLES[case]()
    ours = infer_signature(model_input, model_output, params).to_dict()
    theirs = mlflow_infer(model_input, model_output, params).to_dict()
    assert ours == theirs


def test_a_frame_gives_one_named_column_per_frame_column() -> None:
    schema = infer_schema(pd.DataFrame({"a": [1.5], "b": ["x"], "c": [True]}))
    assert schema == Schema(
        [
            ColSpec(DataType.double, "a"),
            ColSpec(DataType.string, "b"),
            ColSpec(DataType.boolean, "c"),
        ]
    )


def test_an_ndarray_gives_a_tensor_with_a_free_first_axis() -> None:
    schema = infer_schema(np.zeros((4, 3), dtype=np.float32))
    assert schema == Schema([TensorSpec(np.dtype(np.float32), (-1, 3))])


def test_outputs_are_inferred_and_params_only_when_given() -> None:
    signature = infer_signature(pd.DataFrame({"x": [1.0]}), np.array([2.0]))
    assert signature.outputs == Schema([TensorSpec(np.dtype(np.float64), (-1,))])
    assert signature.params is None
