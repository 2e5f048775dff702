"""CSV bodies -> DataFrames typed by the signature, tensor signatures included."""

from __future__ import annotations

import base64
import io

import numpy as np
import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

from modelpack.codecs import InputPlan, csv_dtypes, decode_csv, read_csv_frames
from modelpack.codecs._csv import _read_arrow, _typed
from modelpack.errors import MalformedInput, ModelpackError, SignatureMismatch
from modelpack.signature.schema import Array, ColSpec, DataType, Schema, TensorSpec

ALL_TYPES = Schema(
    [
        ColSpec(DataType.boolean, "b"),
        ColSpec(DataType.integer, "i"),
        ColSpec(DataType.long, "l"),
        ColSpec(DataType.float, "f"),
        ColSpec(DataType.double, "d"),
        ColSpec(DataType.string, "s"),
    ]
)


def test_columns_in_any_order_get_the_signature_types() -> None:
    df = decode_csv(b"s,d,f,l,i,b\n007,1,2,3,4,True\n", InputPlan(ALL_TYPES))
    assert {c: str(t) for c, t in df.dtypes.items()} == {
        "s": "object",
        "d": "float64",
        "f": "float32",
        "l": "int64",
        "i": "int32",
        "b": "bool",
    }
    assert df["s"].tolist() == ["007"]  # text stays text, leading zeros kept


def test_tensor_signature_is_read_with_the_tensor_dtype() -> None:
    plan = InputPlan(Schema([TensorSpec(np.dtype(np.float32), (-1, 2))]))
    df = decode_csv(b"a,b\n1,2\n3,4\n", plan)
    assert df.dtypes.tolist() == [np.dtype(np.float32)] * 2
    assert df.to_numpy().tolist() == [[1.0, 2.0], [3.0, 4.0]]


def test_without_a_schema_pandas_infers() -> None:
    df = decode_csv(b"x,y\n1,a\n", InputPlan())
    assert df["x"].dtype == np.int64


def test_datetime_binary_and_json_cells() -> None:
    schema = Schema(
        [
            ColSpec(DataType.datetime, "t"),
            ColSpec(DataType.binary, "raw"),
            ColSpec(Array(DataType.long), "arr"),
        ]
    )
    raw = base64.b64encode(b"\x00\xff").decode()
    df = decode_csv(f't,raw,arr\n2024-01-02,{raw},"[1, 2]"\n'.encode(), InputPlan(schema))
    assert df.iloc[0].tolist() == [pd.Timestamp("2024-01-02"), b"\x00\xff", [1, 2]]
    assert str(df["t"].dtype) == "datetime64[ns]"


def test_unnamed_columns_are_cast_by_position() -> None:
    plan = InputPlan(Schema([ColSpec(DataType.double), ColSpec(DataType.long)]))
    df = decode_csv(b"0,1\n1,2\n", plan)
    assert df.dtypes.tolist() == [np.dtype(np.float64), np.dtype(np.int64)]


def test_dtypes_are_prepared_once_per_plan() -> None:
    plan = InputPlan(ALL_TYPES)
    assert csv_dtypes(plan) == {
        "b": "bool",
        "i": "int32",
        "l": "int64",
        "f": "float32",
        "d": "float64",
        "s": object,
    }


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        (b"", "the CSV body is empty; send a header row and one row per input"),
        (b"  \n", "the CSV body is empty; send a header row and one row per input"),
        (
            b'd\n"1\n',
            "Failed to parse input as CSV: Error tokenizing data. C error: EOF inside string "
            "starting at row 1",
        ),
        (
            b"\xff\xfe\n",
            "Failed to parse input as CSV: 'utf-8' codec can't decode byte 0xff in position 0: "
            "invalid start byte",
        ),
    ],
)
def test_malformed_csv(payload: bytes, message: str) -> None:
    with pytest.raises(MalformedInput) as info:
        decode_csv(payload, InputPlan(ALL_TYPES))
    assert info.value.message == message


_MISSING = (
    "; integer columns cannot hold missing or infinite values: declare the column as double in "
    "the signature, or fill the missing values"
)


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        (b"l\n1\n\n2.5\n", "column 'l': expected long, got float64 2.5 (row 1)"),
        (b"d,l\n1\n", "column 'l': expected long, got float64 nan (row 0)" + _MISSING),
        (
            ("d,l\n" + "\n".join(f"{i},{i}" for i in range(5000)) + "\n1.5,\n").encode(),
            "column 'l': expected long, got float64 nan (row 5000)" + _MISSING,
        ),
    ],
)
def test_cells_that_break_the_signature_are_named_by_the_rulebook(
    payload: bytes, message: str
) -> None:
    """Small, middle and large bodies: one message (the casting rulebook's), with the row; the
    ``predict`` command reads files with the same reader and says the same."""
    with pytest.raises(SignatureMismatch) as info:
        decode_csv(payload, InputPlan(ALL_TYPES))
    assert info.value.message == message


def test_json_cell_that_is_not_json() -> None:
    plan = InputPlan(Schema([ColSpec(Array(DataType.long), "arr")]))
    with pytest.raises(SignatureMismatch) as info:
        decode_csv(b"arr\n[1\n", plan)
    assert info.value.message == (
        "column 'arr': expected array<long>, got str '[1' (row 0); cells of array, object and "
        "map columns hold JSON text"
    )
    assert (info.value.column, info.value.row) == ("arr", 0)


@given(st.binary(max_size=200))
def test_arbitrary_bytes_raise_only_the_codecs_errors(payload: bytes) -> None:
    try:
        decode_csv(payload, InputPlan(ALL_TYPES))
    except ModelpackError as exc:
        assert exc.status_code == 400


def test_small_bodies_read_pandas_na_strings_and_boolean_spellings() -> None:
    df = decode_csv(b"b,d,s\ntrue,NA,NA\nFALSE,,x\n", InputPlan(ALL_TYPES))
    assert df["b"].tolist() == [True, False]
    assert np.isnan(df["d"]).tolist() == [True, True]
    assert np.isnan(df["s"].iloc[0]) and df["s"].iloc[1] == "x"


tables = st.lists(
    st.tuples(
        st.booleans(),
        st.integers(min_value=-(2**31), max_value=2**31 - 1),
        st.integers(min_value=-(2**63), max_value=2**63 - 1),
        st.floats(width=32, allow_nan=False, allow_infinity=False),
        st.floats(allow_nan=False),
        st.text(st.characters(exclude_categories=("Cs",), exclude_characters="\r\x00"), max_size=6),
    ),
    min_size=1,
    max_size=10,
)


@given(tables)
def test_small_bodies_read_like_pandas_read_csv(table: list[tuple]) -> None:
    """Small bodies skip read_csv; the frame must be the one read_csv gives."""
    df = pd.DataFrame(table, columns=["b", "i", "l", "f", "d", "s"])
    body = df.to_csv(index=False).encode()
    plan = InputPlan(ALL_TYPES)
    reference = pd.read_csv(io.BytesIO(body), dtype=csv_dtypes(plan))
    pd.testing.assert_frame_equal(decode_csv(body, plan), reference, check_column_type=False)


@given(tables)
def test_large_bodies_read_like_pandas_read_csv(table: list[tuple]) -> None:
    """Large bodies go to pyarrow's reader when installed; the frame must be read_csv's, cast."""
    pytest.importorskip("pyarrow")
    df = pd.DataFrame(table * (16 * 1024 // (16 * len(table)) + 1), columns=list("bilfds"))
    body = df.to_csv(index=False).encode()
    assert len(body) > 16 * 1024
    plan = InputPlan(ALL_TYPES)
    reference = next(read_csv_frames(io.BytesIO(body), plan))[1]
    pd.testing.assert_frame_equal(decode_csv(body, plan), reference, check_exact=True)
    arrow = _read_arrow(body, plan, ",")
    if arrow is not None:  # None: a value where pyarrow could read otherwise (read_csv decides)
        pd.testing.assert_frame_equal(_typed(arrow, plan), reference, check_exact=True)


def test_a_large_body_reads_like_a_small_one() -> None:
    df = pd.DataFrame({"d": np.arange(5000) / 7, "l": np.arange(5000), "s": ["x"] * 5000})
    body = df.to_csv(index=False).encode()
    assert len(body) > 16 * 1024
    got = decode_csv(body, InputPlan(ALL_TYPES))
    assert got.dtypes.tolist() == [np.dtype(np.float64), np.dtype(np.int64), np.dtype(object)]
    pd.testing.assert_frame_equal(got, df.astype({"s": object}), check_column_type=False)
