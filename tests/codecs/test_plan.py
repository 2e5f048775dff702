"""Input plans: a model's schemas prepared once, columns cast by the rulebook, frames built."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from winedata import WINE_COLUMNS

import modelpack
from modelpack.codecs import InputPlan
from modelpack.errors import MalformedInput, SignatureMismatch
from modelpack.format import write_manifest
from modelpack.signature.frames import has_pandas_layout
from modelpack.signature.schema import (
    Array,
    ColSpec,
    DataType,
    ParamSchema,
    ParamSpec,
    Schema,
    TensorSpec,
)

NAMED = Schema(
    [
        ColSpec(DataType.double, "x"),
        ColSpec(DataType.long, "n"),
        ColSpec(DataType.string, "s"),
        ColSpec(Array(DataType.long), "ids"),
    ]
)
UNNAMED = Schema([ColSpec(DataType.double), ColSpec(DataType.long)])
TENSOR = Schema([TensorSpec(np.dtype(np.float32), (-1, 2))])


class _Echo(modelpack.PythonModel):
    def predict(self, context, model_input, params=None):
        return model_input


# -- what a plan knows about a model -------------------------------------------------------------


def test_for_model_reads_a_loaded_package(sklearn_package: Path) -> None:
    model = modelpack.load_model(sklearn_package)
    plan = InputPlan.for_model(model)
    assert plan.input_schema is model.input_schema
    assert (plan.named, plan.tensor, plan.inputs_only) == (True, False, False)
    assert list(plan.specs) == WINE_COLUMNS
    assert plan.matrix_dtype == np.float64  # every wine column is a double: one 2-d conversion
    assert plan.param_names == frozenset()


def test_for_model_reads_the_type_hint_flag(tmp_path: Path) -> None:
    path = tmp_path / "hinted"
    modelpack.save_model(_Echo(), path, signature=modelpack.ModelSignature(inputs=NAMED))
    descriptor = modelpack.Model.load(path)
    descriptor.extra["is_signature_from_type_hint"] = True
    descriptor.save(path)
    write_manifest(path)  # the package was edited on purpose
    plan = InputPlan.for_model(modelpack.load_model(path))
    assert plan.inputs_only


def test_params_schema_gives_the_param_names() -> None:
    params = ParamSchema([ParamSpec("k", DataType.long, 3), ParamSpec("t", DataType.double, 0.5)])
    assert InputPlan(NAMED, params).param_names == frozenset({"k", "t"})


F32 = np.dtype(np.float32)
F64 = np.dtype(np.float64)


@pytest.mark.parametrize(
    ("schema", "named", "tensor", "matrix_dtype"),
    [
        (None, False, False, None),
        (NAMED, True, False, None),
        (UNNAMED, False, False, None),
        (TENSOR, False, True, F32),
        (Schema([ColSpec(DataType.double, "a"), ColSpec(DataType.double, "b")]), True, False, F64),
        (Schema([ColSpec(DataType.float, "a"), ColSpec(DataType.float, "b")]), True, False, F32),
        (Schema([ColSpec(DataType.float, "a"), ColSpec(DataType.double, "b")]), True, False, None),
        (Schema([TensorSpec(F64, (-1,), "a"), TensorSpec(F64, (-1,), "b")]), True, True, F64),
        (Schema([TensorSpec(F64, (-1,), "a"), TensorSpec(F32, (-1,), "b")]), True, True, None),
        (Schema([TensorSpec(np.dtype(np.int64), (-1, 2))]), False, True, None),
    ],
)
def test_flags(
    schema: Schema | None, named: bool, tensor: bool, matrix_dtype: np.dtype | None
) -> None:
    plan = InputPlan(schema)
    assert (plan.named, plan.tensor, plan.matrix_dtype) == (named, tensor, matrix_dtype)


def test_spec_looks_up_names_only() -> None:
    plan = InputPlan(NAMED)
    assert plan.spec("x") == ColSpec(DataType.double, "x")
    assert plan.spec("nope") is None
    assert plan.spec(0) is None
    assert InputPlan(UNNAMED).spec("0") is None


# -- column casts --------------------------------------------------------------------------------


def test_named_columns_take_their_specs_type() -> None:
    plan = InputPlan(NAMED)
    assert plan.cast_column("x", 5, [1, 2.5]).dtype == np.float64
    assert plan.cast_column("n", 0, [1, 2]).dtype == np.int64
    cells = plan.cast_column("ids", 0, [[1, 2], [3]])
    assert cells.dtype == object and cells.tolist() == [[1, 2], [3]]  # checked by enforcement


def test_a_column_not_in_the_schema_is_kept_as_objects() -> None:
    out = InputPlan(NAMED).cast_column("extra", 0, [1, "a"])
    assert out.dtype == object and out.tolist() == [1, "a"]


def test_a_cast_error_names_the_column_and_row() -> None:
    with pytest.raises(SignatureMismatch) as info:
        InputPlan(NAMED).cast_column("n", 0, [1, "seven"])
    assert info.value.message == "column 'n': expected long, got str 'seven' (row 1)"
    assert (info.value.column, info.value.row) == ("n", 1)


def test_unnamed_columns_are_cast_by_position_and_beyond_it_left_to_pandas() -> None:
    plan = InputPlan(UNNAMED)
    assert plan.cast_column("a", 0, [1, 2]).dtype == np.float64
    assert plan.cast_column("b", 1, [1, 2]).dtype == np.int64
    assert plan.cast_column("c", 2, [1, 2]) is None
    assert InputPlan().cast_column("a", 0, [1, 2]) is None


def test_every_column_of_a_tensor_signature_takes_the_tensor_dtype() -> None:
    plan = InputPlan(TENSOR)
    assert plan.cast_column("a", 0, [1, 2]).dtype == np.float32
    assert plan.cast_column("b", 7, [3, 4]).dtype == np.float32


# -- frames --------------------------------------------------------------------------------------


def test_a_frame_gets_the_schema_types_and_keeps_text_as_objects() -> None:
    df = InputPlan(NAMED).frame(["s", "x", "n"], [["a", "b"], [1, 2.5], [3, 4]])
    assert list(df.columns) == ["s", "x", "n"]
    assert df.dtypes.tolist() == [np.dtype(object), np.dtype(np.float64), np.dtype(np.int64)]
    assert df["s"].tolist() == ["a", "b"]


def test_columns_of_one_numeric_dtype_are_one_block_in_pandas_layout() -> None:
    plan = InputPlan(Schema([ColSpec(DataType.double, "a"), ColSpec(DataType.double, "b")]))
    df = plan.frame(["a", "b"], [[1.0, 2.0], [3, 4]])
    assert df.to_numpy().tolist() == [[1.0, 3.0], [2.0, 4.0]]
    assert len(df._mgr.blocks) == 1 and has_pandas_layout(df)


def test_a_matrix_becomes_a_frame_of_its_rows() -> None:
    plan = InputPlan(Schema([ColSpec(DataType.double, "a"), ColSpec(DataType.double, "b")]))
    df = plan.frame_from_matrix(["a", "b"], np.array([[1.0, 2.0], [3.0, 4.0]]), [7, 9])
    assert df.to_dict("index") == {7: {"a": 1.0, "b": 2.0}, 9: {"a": 3.0, "b": 4.0}}
    assert has_pandas_layout(df)


def test_without_a_schema_pandas_infers_each_column() -> None:
    df = InputPlan().frame(["a", "b", "c"], [[1, 2], [1.5, None], [[1], [2, 3]]])
    assert df.dtypes.tolist() == [np.dtype(np.int64), np.dtype(np.float64), np.dtype(object)]
    assert df["c"].tolist() == [[1], [2, 3]]


def test_an_index_is_kept_and_nested_labels_become_objects() -> None:
    df = InputPlan(NAMED).frame(["x"], [[1.0, 2.0]], index=[[0, 1], "b"])
    assert df.index.tolist() == [[0, 1], "b"]


@pytest.mark.parametrize(
    ("names", "columns", "index", "message"),
    [
        (["x", "x"], [[1], [2]], None, "duplicate column names ['x']"),
        (
            ["x", "n"],
            [[1.0, 2.0], [1]],
            None,
            "columns have different lengths ([1, 2]); every row needs a value for every column",
        ),
        (["x"], [[1.0, 2.0]], [0], "the index has 1 entries but the data has 2 rows"),
        (["x"], [[1.0]], "0", "'index' must be a list, got str"),
    ],
)
def test_tables_that_cannot_be_built(
    names: list[str], columns: list[list[object]], index: object, message: str
) -> None:
    with pytest.raises(MalformedInput) as info:
        InputPlan(NAMED).frame(names, columns, index)  # type: ignore[arg-type]
    assert info.value.message == message


def test_cast_frame_casts_an_existing_frame_by_position() -> None:
    frame = pd.DataFrame({"a": [1, 2], "b": [3, 4], "c": ["x", "y"]}, index=[5, 6])
    df = InputPlan(UNNAMED).cast_frame(frame)
    # beyond the unnamed schema's two columns, pandas' own dtype stays
    assert df.dtypes.tolist() == [np.dtype(np.float64), np.dtype(np.int64), frame["c"].dtype]
    assert df.index.tolist() == [5, 6]


def test_cast_frame_without_a_schema_returns_the_frame_itself() -> None:
    frame = pd.DataFrame({"a": [1]})
    assert InputPlan().cast_frame(frame) is frame


def test_column_indexes_are_built_once_per_name_list() -> None:
    plan = InputPlan(NAMED)
    first = plan.columns_index(["x", "n"])
    assert plan.columns_index(["x", "n"]) is first
    assert first.dtype == object and first.tolist() == ["x", "n"]
    for i in range(20):  # the cache is bounded: odd requests do not grow it without end
        plan.columns_index([f"c{i}"])
    assert plan.columns_index([f"c{19}"]) is not plan.columns_index([f"c{19}"])
