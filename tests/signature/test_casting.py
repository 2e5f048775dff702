"""The casting rulebook: both entry points cell by cell, the wording, and the properties that tie
the raw-values entry (JSON, CSV) to the typed-column entry (pandas, enforcement)."""

from __future__ import annotations

import datetime as dt
import decimal
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from strategies import json_scalars

from modelpack.errors import SignatureMismatch
from modelpack.signature.casting import (
    cast_series,
    cast_values,
    cell_problem,
    describe,
    mismatch,
    passthrough_dtype,
    text_dtype,
)
from modelpack.signature.schema import AnyType, Array, ColSpec, DataType, Map, Object, Property

TYPES = list(DataType)


def _grid(text: str) -> dict[tuple[str, DataType], bool]:
    """A table of ``+`` (accepted) and ``-`` (refused): rows of sources, a column per DataType."""
    header, *rows = text.strip().splitlines()
    types = [DataType[name] for name in header.split("|")[1].split()]
    grid = {}
    for row in rows:
        label, cells = row.split("|")
        marks = cells.split()
        assert len(marks) == len(types), label
        for dtype, mark in zip(types, marks, strict=True):
            grid[label.strip(), dtype] = mark == "+"
    return grid


def _accepts(cast: Callable[[], Any]) -> bool:
    try:
        cast()
    except SignatureMismatch as exc:
        _assert_one_format(exc)
        return False
    return True


def _assert_one_format(exc: SignatureMismatch) -> None:
    """``column 'x': <reason>``, with `` (row N)`` before the reason's ``; why`` when known."""
    assert exc.column is not None and exc.reason is not None
    where = f" (row {exc.row})" if exc.row is not None else ""
    found, _, why = exc.reason.partition("; ")
    assert exc.message == f"column '{exc.column}': {found}{where}" + (f"; {why}" if why else "")
    assert exc.reason.startswith("expected ")


# -- the typed entry: pandas columns, as enforcement sees them ----------------------------------

SERIES: dict[str, Callable[[], pd.Series]] = {
    "bool": lambda: pd.Series([True, False]),
    "int8": lambda: pd.Series([1, 2], dtype="int8"),
    "int8 0/1": lambda: pd.Series([0, 1], dtype="int8"),
    "int32": lambda: pd.Series([1, 2], dtype="int32"),
    "int64": lambda: pd.Series([1, 2], dtype="int64"),
    "int64 0/1": lambda: pd.Series([0, 1], dtype="int64"),
    "int64 empty": lambda: pd.Series([], dtype="int64"),
    "uint8": lambda: pd.Series([1, 2], dtype="uint8"),
    "uint32": lambda: pd.Series([1, 2], dtype="uint32"),
    "uint64 0/1": lambda: pd.Series([0, 1], dtype="uint64"),
    "float16": lambda: pd.Series([1.5, 2], dtype="float16"),
    "float32": lambda: pd.Series([1.5, 2], dtype="float32"),
    "float64": lambda: pd.Series([1.5, 2], dtype="float64"),
    "float64 integral": lambda: pd.Series([1.0, 2.0], dtype="float64"),
    "float64 NaN": lambda: pd.Series([1.0, None], dtype="float64"),
    "str": lambda: pd.Series(["a", "b"], dtype="str"),
    "object str": lambda: pd.Series(["a", "b"], dtype=object),
    "object bytes": lambda: pd.Series([b"a", b"b"], dtype=object),
    "object int": lambda: pd.Series([1, 2], dtype=object),
    "object int beyond 64 bits": lambda: pd.Series([1, 2**70], dtype=object),
    "object float, None": lambda: pd.Series([1.5, None], dtype=object),
    "object number text": lambda: pd.Series([1, "2"], dtype=object),
    "object int, text": lambda: pd.Series([1, "a"], dtype=object),
    "object decimal": lambda: pd.Series([decimal.Decimal("1.5")], dtype=object),
    "object bool, None": lambda: pd.Series([True, None], dtype=object),
    "object None": lambda: pd.Series([None, None], dtype=object),
    "object list": lambda: pd.Series([[1]], dtype=object),
    "object datetime": lambda: pd.Series([dt.datetime(2020, 1, 1)], dtype=object),
    "datetime64[ns]": lambda: pd.Series(pd.to_datetime(["2020-01-01"])).astype("datetime64[ns]"),
    "datetime64[s]": lambda: pd.Series(pd.to_datetime(["2020-01-01"])).astype("datetime64[s]"),
    "datetime64[ns, UTC]": lambda: pd.Series(pd.to_datetime(["2020-01-01"]).tz_localize("UTC")),
    "Int64": lambda: pd.Series([1, 2], dtype="Int64"),
    "Int64 NA": lambda: pd.Series([1, None], dtype="Int64"),
    "boolean": lambda: pd.Series([True, False], dtype="boolean"),
    "boolean NA": lambda: pd.Series([True, None], dtype="boolean"),
    "Float64 NA": lambda: pd.Series([1.5, None], dtype="Float64"),
    "category": lambda: pd.Series(["a", "b"], dtype="category"),
}
TYPED = _grid("""
                          | boolean integer long float double string binary datetime
bool                      | +       -       -    -     -      -      -      -
int8                      | -       +       +    -     +      -      -      -
int8 0/1                  | -       +       +    -     +      -      -      -
int32                     | -       +       +    -     +      -      -      -
int64                     | -       -       +    -     -      -      -      -
int64 0/1                 | -       -       +    +     +      -      -      -
int64 empty               | -       -       +    +     +      -      -      -
uint8                     | -       +       +    -     +      -      -      -
uint32                    | -       -       +    -     +      -      -      -
uint64 0/1                | -       -       -    -     -      -      -      -
float16                   | -       -       -    +     +      -      -      -
float32                   | -       -       -    +     +      -      -      -
float64                   | -       -       -    -     +      -      -      -
float64 integral          | -       -       -    -     +      -      -      -
float64 NaN               | -       -       -    -     +      -      -      -
str                       | -       -       -    -     -      +      +      -
object str                | -       -       -    -     -      +      +      -
object bytes              | +       -       -    -     -      +      +      -
object int                | -       -       +    -     -      +      +      -
object int beyond 64 bits | +       -       -    -     +      +      +      -
object float, None        | -       -       -    -     +      +      +      -
object number text        | +       -       -    -     +      +      +      -
object int, text          | +       -       -    -     -      +      +      -
object decimal            | +       -       -    -     +      +      +      -
object bool, None         | +       -       -    -     +      +      +      -
object None               | +       -       -    -     +      +      +      +
object list               | +       -       -    -     -      +      +      -
object datetime           | -       -       -    -     -      +      +      +
datetime64[ns]            | -       -       -    -     -      -      -      +
datetime64[s]             | -       -       -    -     -      -      -      +
datetime64[ns, UTC]       | -       -       -    -     -      -      -      -
Int64                     | -       -       +    -     -      -      -      -
Int64 NA                  | -       -       -    -     +      -      -      -
boolean                   | +       -       -    -     -      -      -      -
boolean NA                | +       -       -    -     -      -      -      -
Float64 NA                | -       -       -    -     +      -      -      -
category                  | -       -       -    -     -      -      -      -
""")
# Where we decide differently from MLflow 3.17 on purpose: a nullable column with missing values
# is judged as pandas' classic form of it (floats with NaN, objects with None); MLflow refuses
# them all (mlflow/mlflow#25593).
NOT_AS_MLFLOW = {("Int64 NA", DataType.double), ("boolean NA", DataType.boolean)}


@pytest.mark.parametrize(("source", "dtype"), list(TYPED), ids=lambda v: getattr(v, "name", v))
def test_typed_matrix(source: str, dtype: DataType) -> None:
    column = SERIES[source]()
    accepted = _accepts(lambda: cast_series(column, dtype, "x"))
    assert accepted == TYPED[source, dtype]
    if accepted:
        out = cast_series(SERIES[source](), dtype, "x")
        # Objects stay objects in boolean columns (None would become False), as in MLflow.
        kept = dtype == DataType.boolean and out.dtype == object
        assert out.dtype == passthrough_dtype(dtype) or kept


@pytest.mark.mlflow
@pytest.mark.parametrize(("source", "dtype"), list(TYPED), ids=lambda v: getattr(v, "name", v))
def test_typed_matrix_is_mlflows(source: str, dtype: DataType) -> None:
    from mlflow.models.utils import _enforce_schema
    from mlflow.types import ColSpec as MlflowColSpec
    from mlflow.types import Schema as MlflowSchema

    try:
        _enforce_schema(
            pd.DataFrame({"x": SERIES[source]()}), MlflowSchema([MlflowColSpec(dtype.name, "x")])
        )
        mlflow_accepts = True
    except Exception:
        mlflow_accepts = False
    differs = (source, dtype) in NOT_AS_MLFLOW
    assert mlflow_accepts == (TYPED[source, dtype] != differs)


# -- the raw entry: values read from JSON or CSV ------------------------------------------------

VALUES: dict[str, list[Any]] = {
    "bool": [True, False],
    "bool, None": [True, None],
    "int": [3, 7],
    "int, None": [3, None],
    "int beyond 32 bits": [2**40, 1],
    "int beyond 64 bits": [2**63, 1],
    "integral float": [1.0, 2.0],
    "float": [1.5, 2.5],
    "float, None": [1.5, None],
    "NaN": [float("nan"), 1.0],
    "integer text": ["1", "2"],
    "number text": ["1", "2.5"],
    "text": ["a", "b"],
    "date text": ["2020-01-01", "2020-01-02"],
    "datetime": [dt.datetime(2020, 1, 1)],
    "aware datetime": [dt.datetime(2020, 1, 1, tzinfo=dt.timezone.utc)],
    "bytes": [b"a"],
    "base64 text": ["AP8="],
    "list": [[1, 2]],
    "None": [None, None],
}
# JSON has no dtypes and CSV has only text: this entry is MLflow's server's pre-cast, which
# reads integers as doubles and parses text, but refuses what pandas' astype would wrap,
# truncate or turn into True.
RAW = _grid("""
                   | boolean integer long float double string binary datetime
bool               | +       +       +    +     +      +      -      -
bool, None         | +       -       -    +     +      +      -      -
int                | -       +       +    +     +      +      -      +
int, None          | -       -       -    +     +      +      -      +
int beyond 32 bits | -       -       +    +     +      +      -      +
int beyond 64 bits | -       -       -    +     +      +      -      -
integral float     | -       +       +    +     +      +      -      +
float              | -       -       -    +     +      +      -      +
float, None        | -       -       -    +     +      +      -      +
NaN                | -       -       -    +     +      +      -      +
integer text       | -       +       +    +     +      +      -      -
number text        | -       -       -    +     +      +      -      -
text               | -       -       -    -     -      +      -      -
date text          | -       -       -    -     -      +      +      +
datetime           | -       -       -    -     -      +      -      +
aware datetime     | -       -       -    -     -      +      -      -
bytes              | -       -       -    -     -      +      +      -
base64 text        | -       -       -    -     -      +      +      -
list               | -       -       -    -     -      +      -      -
None               | +       -       -    +     +      +      +      +
""")


@pytest.mark.parametrize(("source", "dtype"), list(RAW), ids=lambda v: getattr(v, "name", v))
def test_raw_matrix(source: str, dtype: DataType) -> None:
    spec = ColSpec(dtype, "x")
    accepted = _accepts(lambda: cast_values(VALUES[source], spec, "x"))
    assert accepted == RAW[source, dtype]
    if accepted:
        out = cast_values(VALUES[source], spec, "x")
        kept = dtype == DataType.boolean and None in VALUES[source]  # None stays missing
        assert out.dtype == (object if kept else passthrough_dtype(dtype))


# -- one condition, one message -----------------------------------------------------------------

SAME_MESSAGE = [
    (
        [1.0, "acidic"],
        DataType.double,
        "column 'x': expected double, got str 'acidic' (row 1)",
    ),
    ([1, "a"], DataType.long, "column 'x': expected long, got str 'a' (row 1)"),
    ([1, [2, 3]], DataType.integer, "column 'x': expected integer, got list [2, 3] (row 1)"),
    (
        [None, None],
        DataType.long,
        "column 'x': expected long, got NoneType None (row 0); integer columns cannot hold "
        "missing or infinite values: declare the column as double in the signature, or fill the "
        "missing values",
    ),
    (
        [dt.datetime(2020, 1, 1, tzinfo=dt.timezone.utc)],
        DataType.datetime,
        "column 'x': expected datetime, got datetime64[us, UTC]; only timezone-naive datetimes "
        "are supported",
    ),
]


@pytest.mark.parametrize(("values", "dtype", "message"), SAME_MESSAGE)
def test_both_entries_word_one_condition_alike(
    values: list[Any], dtype: DataType, message: str
) -> None:
    with pytest.raises(SignatureMismatch) as raw:
        cast_values(values, ColSpec(dtype, "x"), "x")
    typed_column = pd.Series(values, dtype=None if dtype == DataType.datetime else object)
    with pytest.raises(SignatureMismatch) as typed:
        cast_series(typed_column, dtype, "x")
    assert raw.value.message == typed.value.message == message
    assert (raw.value.column, raw.value.row) == (typed.value.column, typed.value.row)


def test_mismatch_carries_the_place_apart_from_the_reason() -> None:
    exc = mismatch("pH", "double", "str 'acidic'", 3, "a hint")
    assert exc.message == "column 'pH': expected double, got str 'acidic' (row 3); a hint"
    assert (exc.column, exc.row) == ("pH", 3)
    assert exc.reason == "expected double, got str 'acidic'; a hint"
    assert exc.status_code == 400 and isinstance(exc, ValueError)


def test_describe_names_the_type_and_clips_the_value() -> None:
    assert describe(np.float64(1.5)) == "float64 1.5"
    assert describe("x" * 100) == "str '" + "x" * 36 + "..."  # a repr of 40 characters
    assert describe(None) == "NoneType None"


def test_float_to_integer_names_the_first_fraction_or_missing_value() -> None:
    with pytest.raises(SignatureMismatch) as info:
        cast_series(pd.Series([1.0, 2.5, None]), DataType.long, "n")
    assert info.value.message == "column 'n': expected long, got float64 2.5 (row 1)"
    assert info.value.row == 1


def test_a_raw_datetime_refusal_names_the_value_pandas_cannot_read() -> None:
    with pytest.raises(SignatureMismatch) as info:
        cast_values(["2020-01-01", "soon"], ColSpec(DataType.datetime, "t"), "t")
    assert info.value.message == "column 't': expected datetime, got str 'soon' (row 1)"


def test_a_float_column_refuses_what_float32_cannot_hold() -> None:
    with pytest.raises(SignatureMismatch) as info:
        cast_values([1.5, 1e39], ColSpec(DataType.float, "f"), "f")
    assert info.value.message == "column 'f': expected float, got float 1e+39 (row 1); out of range"


def test_a_long_column_never_wraps_at_two_to_the_63() -> None:
    with pytest.raises(SignatureMismatch) as info:
        cast_values([2.0**63], ColSpec(DataType.long, "n"), "n")
    assert info.value.message == (
        "column 'n': expected long, got float 9.223372036854776e+18 (row 0); out of range"
    )


# -- cells of array, object and map columns ------------------------------------------------------

POINT = Object((Property("x", DataType.double), Property("tag", DataType.string, required=False)))
CELLS = [
    (Array(DataType.long), [1, 2], None),
    (Array(DataType.long), "12", ""),
    (Array(DataType.long), [1, "2"], "item 1 is str '2'"),
    (Array(Array(DataType.long)), [[1], [2, 2.5]], "item 1: item 1 is float 2.5"),
    (POINT, {"x": 1.5}, None),
    (POINT, {"tag": "a"}, "required properties ['x'] are missing"),
    (POINT, {"x": 1.5, "y": 2}, "properties ['y'] are not in the schema"),
    (POINT, {"x": "far"}, "property 'x' is str 'far'"),
    (Map(DataType.long), {"a": 1}, None),
    (Map(DataType.long), {1: 1}, "key int 1 is not a string"),
    (Map(Array(DataType.string)), {"a": ["b", 3]}, "key 'a': item 1 is int 3"),
    (AnyType(), object(), None),
]


@pytest.mark.parametrize(("dtype", "cell", "problem"), CELLS)
def test_cell_problems_say_where_inside_the_cell(
    dtype: Any, cell: Any, problem: str | None
) -> None:
    assert cell_problem(cell, dtype) == problem


def test_a_bad_cell_is_refused_with_its_row_and_what_is_wrong_inside_it() -> None:
    with pytest.raises(SignatureMismatch) as info:
        cast_series(pd.Series([{"x": 1.0}, {"x": "far"}]), POINT, "p")
    assert info.value.message == (
        "column 'p': expected object, got dict {'x': 'far'} (row 1); property 'x' is str 'far'"
    )


# -- the tie: what the raw entry gives, the typed entry passes unchanged -------------------------


@pytest.mark.parametrize("dtype", [*TYPES, Array(DataType.long), AnyType()], ids=str)
def test_passthrough_dtypes(dtype: Any) -> None:
    expected = {
        DataType.boolean: np.dtype(bool),
        DataType.integer: np.dtype(np.int32),
        DataType.long: np.dtype(np.int64),
        DataType.float: np.dtype(np.float32),
        DataType.double: np.dtype(np.float64),
        DataType.string: np.dtype(object),
        DataType.binary: np.dtype(object),
        DataType.datetime: np.dtype("datetime64[ns]"),
    }
    assert passthrough_dtype(dtype) == expected.get(
        dtype, np.dtype(object) if isinstance(dtype, AnyType) else None
    )


@pytest.mark.parametrize("dtype", TYPES, ids=str)
def test_text_dtypes_are_the_numeric_ones(dtype: DataType) -> None:
    numeric = dtype in (DataType.boolean, DataType.integer, DataType.long) or dtype in (
        DataType.float,
        DataType.double,
    )
    assert text_dtype(dtype) == (dtype.to_numpy() if numeric else None)


@settings(max_examples=300, deadline=None)
@given(st.lists(json_scalars, max_size=6), st.sampled_from(TYPES))
def test_what_the_raw_entry_accepts_the_typed_entry_passes_unchanged(
    values: list[Any], dtype: DataType
) -> None:
    try:
        out = cast_values(values, ColSpec(dtype, "x"), "x")
    except SignatureMismatch as exc:
        _assert_one_format(exc)
        return
    assert out.dtype == passthrough_dtype(dtype) or (
        dtype == DataType.boolean and out.dtype == object
    )
    typed = cast_series(pd.Series(out, dtype=out.dtype), dtype, "x")
    assert typed.dtype == out.dtype


# -- the agreement: on columns both entries see alike, they decide alike -------------------------

_OWN: dict[DataType, tuple[st.SearchStrategy[Any], Any]] = {
    # values of the type's own kind, and the dtype a Python caller's column holds them in
    DataType.boolean: (st.booleans() | st.none(), None),
    DataType.integer: (st.integers(-(2**31), 2**31 - 1), "int32"),
    DataType.long: (st.integers(-(2**63), 2**63 - 1), "int64"),
    DataType.float: (st.floats(width=32) | st.none(), "float32"),
    DataType.double: (st.floats() | st.none(), "float64"),
    DataType.string: (st.text(max_size=5) | st.none(), object),
    DataType.binary: (st.binary(max_size=5) | st.none(), object),
    DataType.datetime: (
        st.datetimes(dt.datetime(1700, 1, 1), dt.datetime(2200, 1, 1)) | st.none(),
        None,
    ),
}
_NOT_NUMBERS = st.sampled_from(["acidic", "high", "?", "1,5"])
_LISTS = st.lists(st.integers(0, 9), min_size=1, max_size=3)
_FRACTIONS = st.floats(-1e15, 1e15).filter(lambda f: f != int(f))
# One value of a kind the type never takes. Boolean, string and binary columns have none both
# entries refuse: MLflow passes object columns into them unchecked, and the raw entry reads any
# JSON value as text.
_FOREIGN: dict[DataType, st.SearchStrategy[Any]] = {
    DataType.integer: _NOT_NUMBERS | _LISTS | _FRACTIONS | st.none() | st.integers(2**31, 2**62),
    DataType.long: _NOT_NUMBERS | _LISTS | _FRACTIONS | st.none() | st.integers(2**63, 2**64 - 1),
    DataType.float: _NOT_NUMBERS | _LISTS,
    DataType.double: _NOT_NUMBERS | _LISTS,
    DataType.datetime: st.sampled_from(["acidic", "soon", "?"]) | _LISTS,
}


@st.composite
def _columns(draw: st.DrawFn) -> tuple[DataType, list[Any], pd.Series, int | None]:
    """A type, a column of its own kind (maybe with one foreign value), and that column as a
    Python caller holds it; the position of the foreign value, if any."""
    dtype = draw(st.sampled_from(TYPES))
    own, held_as = _OWN[dtype]
    values = draw(st.lists(own, max_size=6))
    if dtype not in _FOREIGN or not draw(st.booleans()):
        return dtype, values, pd.Series(values, dtype=held_as), None
    position = draw(st.integers(0, len(values)))
    values.insert(position, draw(_FOREIGN[dtype]))
    return dtype, values, pd.Series(values), position  # mixed: pandas infers the dtype


@settings(max_examples=400, deadline=None)
@given(_columns())
def test_both_entries_agree_on_columns_both_can_see(
    column: tuple[DataType, list[Any], pd.Series, int | None],
) -> None:
    dtype, values, series, foreign = column
    try:
        cast_values(values, ColSpec(dtype, "x"), "x")
        raw_row: int | None = -1
    except SignatureMismatch as exc:
        _assert_one_format(exc)
        raw_row = exc.row
    try:
        cast_series(series, dtype, "x")
        typed_row: int | None = -1
    except SignatureMismatch as exc:
        _assert_one_format(exc)
        typed_row = exc.row
    assert (raw_row == -1) == (typed_row == -1) == (foreign is None)
    if foreign is not None:
        assert raw_row == foreign
        # An integer out of range makes pandas hold the column as int64, uint64 or objects,
        # which the typed entry refuses as a whole; anything else it finds where it is.
        out_of_range = type(values[foreign]) is int
        assert typed_row == (None if out_of_range else foreign)
