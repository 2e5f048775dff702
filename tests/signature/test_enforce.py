"""Schema enforcement: one test per row of MLflow's cast matrix, tensors, params, properties."""

from __future__ import annotations

import datetime as dt
import decimal

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import pandas as hpd

from modelpack.errors import InvalidParams, SignatureMismatch
from modelpack.signature.enforce import enforce_input, enforce_params
from modelpack.signature.infer import infer_schema
from modelpack.signature.schema import (
    Array,
    ColSpec,
    DataType,
    Object,
    ParamSchema,
    ParamSpec,
    Property,
    Schema,
    TensorSpec,
)


def _col(values, dtype) -> pd.DataFrame:
    return pd.DataFrame({"x": pd.Series(values, dtype=dtype)})


def _schema(type_name: str) -> Schema:
    return Schema([ColSpec(DataType[type_name], "x")])


PREFIX = "column 'x': "
# (values, pandas dtype, schema type, result dtype when accepted or the exact error message)
MATRIX = {
    "same dtype passes": ([1.5, 2.5], "float64", "double", "float64"),
    "object to string passes unchanged": (["a", "b"], object, "string", "object"),
    "pandas str to string passes": (["a", "b"], "str", "string", "object"),
    "object to binary passes unchanged": ([b"a", b"b"], object, "binary", "object"),
    "object of ints to long is inferred": ([1, 2], object, "long", "int64"),
    "int32 to long upcasts": ([1, 2], "int32", "long", "int64"),
    "uint32 to long upcasts": ([1, 2], "uint32", "long", "int64"),
    "int8 to double upcasts": ([1, 2], "int8", "double", "float64"),
    "uint32 to double upcasts": ([1, 2], "uint32", "double", "float64"),
    "int64 to double is refused": (
        [1, 2],
        "int64",
        "double",
        PREFIX + "expected double, got int64; int64 does not convert safely to float64",
    ),
    "int64 of 0 and 1 to double is cast": ([0, 1], "int64", "double", "float64"),
    "int64 of 0 and 1 to float is cast": ([0, 1], "int64", "float", "float32"),
    "int64 to integer is refused": (
        [1, 2],
        "int64",
        "integer",
        PREFIX + "expected integer, got int64; int64 does not convert safely to int32",
    ),
    "uint32 to integer is refused": (
        [1, 2],
        "uint32",
        "integer",
        PREFIX + "expected integer, got uint32; uint32 does not convert safely to int32",
    ),
    "float32 to double upcasts": ([1.5, 2.5], "float32", "double", "float64"),
    "double to float is refused": (
        [1.5, 2.5],
        "float64",
        "float",
        PREFIX + "expected float, got float64; float64 does not convert safely to float32",
    ),
    "int8 to float is refused": (
        [1, 2],
        "int8",
        "float",
        PREFIX + "expected float, got int8; int8 does not convert safely to float32",
    ),
    "float to long is refused with the row": (
        [1.0, 1.5],
        "float64",
        "long",
        PREFIX + "expected long, got float64 1.5 (row 1)",
    ),
    "integral floats with NaN to long get the missing-values hint": (
        [1.0, None],
        "float64",
        "long",
        PREFIX + "expected long, got float64 nan (row 1); integer columns cannot hold missing or"
        " infinite values: declare the column as double in the signature, or fill the missing"
        " values",
    ),
    "datetime64[s] to datetime is cast to ns": (
        pd.to_datetime(["2020-01-01"]).astype("datetime64[s]"),
        None,
        "datetime",
        "datetime64[ns]",
    ),
    "timezone-aware datetime is refused": (
        pd.to_datetime(["2020-01-01"]).tz_localize("UTC"),
        "datetime64[ns, UTC]",
        "datetime",
        PREFIX + "expected datetime, got datetime64[ns, UTC]; only timezone-naive datetimes are"
        " supported",
    ),
    "object of datetimes to datetime is cast": (
        [dt.datetime(2020, 1, 1)],
        object,
        "datetime",
        "datetime64[ns]",
    ),
    "object of strings to datetime is refused": (
        ["2020-01-01"],
        object,
        "datetime",
        PREFIX + "expected datetime, got str '2020-01-01' (row 0)",
    ),
    "object to boolean is left as object": ([True, None], object, "boolean", "object"),
    "decimals to double go through to_numeric": (
        [decimal.Decimal("1.5")],
        object,
        "double",
        "float64",
    ),
    "strings to double are refused with the row": (
        [1.0, "a"],
        object,
        "double",
        PREFIX + "expected double, got str 'a' (row 1)",
    ),
    "int64 to string is refused": (
        [1, 2],
        "int64",
        "string",
        PREFIX + "expected string, got int64",
    ),
    "bool to long is refused": (
        [True, False],
        "bool",
        "long",
        PREFIX + "expected long, got bool; bool does not convert safely to int64",
    ),
}
# Where we decide differently from MLflow 3.17 on purpose: nullable Int64 columns without
# missing values are plain integers, and with missing values may become doubles (MLflow #25593).
NULLABLE = {
    "nullable Int64 to long": ([1, 2], "Int64", "long", "int64"),
    "nullable Int64 with NA to double": ([1, None], "Int64", "double", "float64"),
    "nullable Int64 with NA to long is refused": (
        [1, None],
        "Int64",
        "long",
        PREFIX + "expected long, got Int64 <NA> (row 1); integer columns cannot hold missing or"
        " infinite values: declare the column as double in the signature, or fill the missing"
        " values",
    ),
}


@pytest.mark.parametrize("case", list(MATRIX) + list(NULLABLE))
def test_cast_matrix(case: str) -> None:
    values, dtype, type_name, expected = {**MATRIX, **NULLABLE}[case]
    frame = _col(values, dtype)
    if expected.startswith(PREFIX):
        with pytest.raises(SignatureMismatch) as info:
            enforce_input(frame, _schema(type_name))
        assert str(info.value) == expected
    else:
        assert str(enforce_input(frame, _schema(type_name))["x"].dtype) == expected


@pytest.mark.mlflow
@pytest.mark.parametrize("case", list(MATRIX))
def test_cast_matrix_decisions_match_mlflow(case: str) -> None:
    from mlflow.models.utils import _enforce_schema
    from mlflow.types import ColSpec as MlflowColSpec
    from mlflow.types import Schema as MlflowSchema

    values, dtype, type_name, expected = MATRIX[case]
    try:
        _enforce_schema(_col(values, dtype), MlflowSchema([MlflowColSpec(type_name, "x")]))
        mlflow_accepts = True
    except Exception:
        mlflow_accepts = False
    assert mlflow_accepts == (not expected.startswith(PREFIX))


def test_missing_required_column_names_it_and_the_extras() -> None:
    schema = Schema([ColSpec(DataType.double, "a"), ColSpec(DataType.double, "b")])
    with pytest.raises(SignatureMismatch) as info:
        enforce_input(pd.DataFrame({"a": [1.0], "c": [2.0]}), schema)
    assert (
        str(info.value)
        == "Model is missing inputs ['b']. Note that there were extra inputs: ['c']."
    )


def test_extra_columns_are_dropped_and_columns_reordered() -> None:
    schema = Schema([ColSpec(DataType.double, "a"), ColSpec(DataType.double, "b")])
    out = enforce_input(pd.DataFrame({"c": ["x"], "b": [2.0], "a": [1.0]}), schema)
    assert list(out.columns) == ["a", "b"]


def test_missing_optional_column_is_skipped() -> None:
    schema = Schema([ColSpec(DataType.double, "a"), ColSpec(DataType.double, "b", required=False)])
    out = enforce_input(pd.DataFrame({"a": [1.0]}), schema)
    assert list(out.columns) == ["a"]


def test_unnamed_schema_checks_the_count() -> None:
    schema = Schema([ColSpec(DataType.double), ColSpec(DataType.double)])
    with pytest.raises(SignatureMismatch, match=r"expects 2 input column\(s\), got 1"):
        enforce_input(pd.DataFrame({"a": [1.0]}), schema)


def test_dict_and_scalar_inputs_become_frames() -> None:
    schema = Schema([ColSpec(DataType.string, "q"), ColSpec(DataType.long, "k")])
    out = enforce_input({"q": "hello", "k": 3}, schema)
    assert out.to_dict("records") == [{"q": "hello", "k": 3}]


def test_array_and_object_cells_are_checked_per_row() -> None:
    schema = Schema(
        [
            ColSpec(Array(DataType.long), "ids"),
            ColSpec(Object((Property("a", DataType.string),)), "meta"),
        ]
    )
    ok = pd.DataFrame({"ids": [[1, 2]], "meta": [{"a": "x"}]})
    assert enforce_input(ok, schema) is not None
    bad = pd.DataFrame({"ids": [[1, 2], [3]], "meta": [{"a": "x"}, {"b": "y"}]})
    with pytest.raises(SignatureMismatch) as info:
        enforce_input(bad, schema)
    assert str(info.value) == (
        "column 'meta': expected object, got dict {'b': 'y'} (row 1); required properties ['a'] "
        "are missing"
    )


def test_tensor_dtype_must_match_exactly() -> None:
    schema = Schema([TensorSpec(np.dtype("float32"), (-1, 4))])
    with pytest.raises(SignatureMismatch) as info:
        enforce_input(np.zeros((2, 4)), schema)
    assert str(info.value) == (
        "input 'input': expected dtype float32, got float64. "
        "Tensor inputs are not converted: send the declared dtype."
    )


def test_tensor_shape_names_expected_and_found() -> None:
    schema = Schema([TensorSpec(np.dtype("float64"), (-1, 4))])
    with pytest.raises(SignatureMismatch) as info:
        enforce_input(np.zeros((2, 3)), schema)
    assert str(info.value) == "input 'input': expected shape (-1, 4), got (2, 3)"


def test_frame_into_a_2d_tensor_uses_its_columns() -> None:
    schema = Schema([TensorSpec(np.dtype("float64"), (-1, 2))])
    out = enforce_input(pd.DataFrame({"a": [1.0], "b": [2.0]}), schema)
    assert out.tolist() == [[1.0, 2.0]]


def test_a_column_of_flat_arrays_is_reshaped_to_the_tensor_as_mlflow_does() -> None:
    """A Spark array column (ndarray cells keep their dtype) or JSON lists (cast to the spec's):
    one flat array per row, reshaped in C order."""
    schema = Schema([TensorSpec(np.dtype("float32"), (-1, 2, 2))])
    cells = pd.DataFrame({"x": [np.arange(4, dtype=np.float32), np.arange(4, 8, dtype=np.float32)]})
    lists = pd.DataFrame({"x": [[0, 1, 2, 3], [4, 5, 6, 7]]})

    from_cells, from_lists = enforce_input(cells, schema), enforce_input(lists, schema)

    expected = np.arange(8, dtype=np.float32).reshape(2, 2, 2)
    np.testing.assert_array_equal(from_cells, expected)
    np.testing.assert_array_equal(from_lists, expected)
    assert from_cells.dtype == from_lists.dtype == np.float32


def test_a_column_of_arrays_that_do_not_fit_the_tensor_says_so() -> None:
    schema = Schema([TensorSpec(np.dtype("float64"), (-1, 3))])
    with pytest.raises(SignatureMismatch) as info:
        enforce_input(pd.DataFrame({"x": [np.zeros(4), np.zeros(4)]}), schema)
    assert str(info.value) == (
        "input 'input': the arrays in the column do not reshape to (-1, 3): each row needs 3 values"
    )


def test_named_tensors_need_every_name() -> None:
    schema = Schema(
        [TensorSpec(np.dtype("float64"), (-1,), "a"), TensorSpec(np.dtype("float64"), (-1,), "b")]
    )
    with pytest.raises(SignatureMismatch, match=r"Model is missing inputs \['b'\]"):
        enforce_input({"a": np.zeros(2)}, schema)


PARAMS = ParamSchema(
    [
        ParamSpec("k", DataType.long, 3),
        ParamSpec("alpha", DataType.double, 0.5),
        ParamSpec("when", DataType.datetime, None),
        ParamSpec("ids", DataType.long, [1], (-1,)),
    ]
)


def test_params_get_defaults_and_conversions() -> None:
    out = enforce_params({"alpha": 2, "when": "2024-01-02", "unknown": 1}, PARAMS)
    assert out == {"k": 3, "alpha": 2.0, "when": dt.datetime(2024, 1, 2), "ids": [1]}


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"k": "three"}, "param 'k': value 'three' of type str is not a valid long"),
        ({"k": True}, "param 'k': value True of type bool is not a valid long"),
        ({"ids": 5}, "param 'ids': value 5 of type int is not a valid list of long"),
        (
            {"when": "not a date"},
            "param 'when': value 'not a date' of type str is not a valid datetime",
        ),
        (["k"], "params must be a dict, got list"),
    ],
)
def test_invalid_params_name_the_param(params, message: str) -> None:
    with pytest.raises(InvalidParams) as info:
        enforce_params(params, PARAMS)
    assert str(info.value) == message


def test_params_without_schema_are_dropped() -> None:
    assert enforce_params({"k": 1}, None) == {}


_DTYPES = st.sampled_from(["bool", "int32", "int64", "float32", "float64", "object"])


@st.composite
def frames(draw) -> pd.DataFrame:
    names = draw(
        st.lists(st.text("abcxyz_", min_size=1, max_size=6), min_size=1, max_size=5, unique=True)
    )
    columns = []
    for name in names:
        dtype = draw(_DTYPES)
        elements = st.text(max_size=5) if dtype == "object" else None
        columns.append(
            hpd.column(name, dtype=dtype if dtype != "object" else object, elements=elements)
        )
    return draw(hpd.data_frames(columns, index=hpd.range_indexes(min_size=1, max_size=20)))


@settings(max_examples=60, deadline=None)
@given(frames())
def test_inferred_schema_accepts_its_own_data(frame: pd.DataFrame) -> None:
    out = enforce_input(frame, infer_schema(frame))
    assert list(out.columns) == list(frame.columns)
    assert len(out) == len(frame)


@settings(max_examples=60, deadline=None)
@given(frames(), st.data())
def test_wrong_typed_column_is_refused_by_name(frame: pd.DataFrame, data) -> None:
    name = data.draw(st.sampled_from(list(frame.columns)))
    schema = infer_schema(frame)
    wrong = frame.copy()
    # Text where numbers belong; fractional floats where text or booleans belong (object
    # columns pass into boolean ones unchanged, as in MLflow, so they would not do).
    numeric = frame[name].dtype.kind in "iuf"
    wrong[name] = pd.Series(["text"] * len(frame), dtype=object) if numeric else 1.5
    with pytest.raises(SignatureMismatch) as info:
        enforce_input(wrong, schema)
    assert f"column '{name}'" in str(info.value)


def test_a_frame_that_already_fits_is_passed_through_untouched() -> None:
    frame = pd.DataFrame({"a": [1.0], "b": np.array([2], dtype="int32"), "s": ["x"]}).astype(
        {"s": object}
    )
    schema = Schema(
        [
            ColSpec(DataType.double, "a"),
            ColSpec(DataType.integer, "b"),
            ColSpec(DataType.string, "s"),
        ]
    )
    assert enforce_input(frame, schema) is frame
    # the same schema still refuses what does not fit
    with pytest.raises(SignatureMismatch, match="column 'b': expected integer, got int64"):
        enforce_input(frame.astype({"b": "int64"}), schema)


def test_inputs_pandas_cannot_shape_are_a_signature_mismatch() -> None:
    schema = Schema([ColSpec(DataType.double, "x")])
    with pytest.raises(SignatureMismatch) as info:
        enforce_input(np.array(None), schema)
    assert str(info.value) == (
        "the input (ndarray) does not fit the model's signature: Must pass 2-d input. shape=()"
    )
