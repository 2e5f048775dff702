"""The codecs' fast paths give what the plain paths give, bit for bit, or step aside.

Plain paths: a split body's rows cast column by column (``InputPlan.frame``); a CSV body read by
pandas' ``read_csv`` and cast by the plan (``read_csv_frames``). Fast paths: one 2-d conversion
for split bodies of float columns (``InputPlan.matrix``); small CSV bodies read with the csv
module, large ones with pyarrow's reader straight into the frame's block. Where the plain path
refuses an input, the fast one must refuse it with the same error and message.
"""

from __future__ import annotations

import io
from typing import Any

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from modelpack.codecs import InputPlan, decode_csv, decode_value, read_csv_frames
from modelpack.codecs._csv import _arrow_typed, _read_small, _read_table
from modelpack.errors import ModelpackError
from modelpack.signature.schema import ColSpec, DataType, Schema, TensorSpec

F32 = np.dtype(np.float32)
F64 = np.dtype(np.float64)
NAMES = ["a", "b", "c"]


def _named(kind: DataType | np.dtype) -> Schema:
    if isinstance(kind, np.dtype):
        return Schema([TensorSpec(kind, (-1,), n) for n in NAMES])
    return Schema([ColSpec(kind, n) for n in NAMES])


FLOAT_SCHEMAS = [
    _named(DataType.double),
    _named(DataType.float),
    Schema([TensorSpec(F32, (-1, -1))]),
    Schema([TensorSpec(F64, (-1, -1))]),
    _named(F32),
]
CSV_SCHEMAS = [
    *FLOAT_SCHEMAS,
    _named(DataType.long),
    _named(DataType.integer),
    Schema([ColSpec(DataType.double, "a"), ColSpec(DataType.float, "b"), ColSpec("long", "c")]),
]


def outcome(build: Any) -> Any:
    """What a decoder gives: its frame, or the class and message of the error it raises."""
    try:
        return build()
    except ModelpackError as exc:
        return type(exc), exc.message


def _blocks(df: pd.DataFrame) -> list[tuple[Any, ...]]:
    return [
        (b.dtype, b.values.shape, b.values.flags.c_contiguous, b.mgr_locs.as_array.tolist())
        for b in df._mgr.blocks
    ]


def assert_same(fast: Any, plain: Any) -> None:
    """Equal errors, or frames equal to the bit: labels, dtypes, memory layout and values."""
    if isinstance(plain, tuple) or isinstance(fast, tuple):
        assert fast == plain
        return
    assert fast.columns.tolist() == plain.columns.tolist()
    assert fast.columns.dtype == plain.columns.dtype
    assert type(fast.index) is type(plain.index) and fast.index.equals(plain.index)
    assert _blocks(fast) == _blocks(plain)
    for i in range(plain.shape[1]):
        a, b = fast.iloc[:, i].to_numpy(), plain.iloc[:, i].to_numpy()
        assert a.dtype == b.dtype
        if a.dtype.kind in "biuf":
            assert a.tobytes() == b.tobytes()  # -0.0 and NaN included
        else:
            pd.testing.assert_series_equal(fast.iloc[:, i], plain.iloc[:, i], check_exact=True)


# -- dataframe_split: one 2-d conversion ----------------------------------------------------------

json_cells = st.one_of(
    st.floats(),
    st.floats(min_value=-1e6, max_value=1e6),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.sampled_from([10**400, True, False, None, "1.5", "-0", "abc", "", " 2", "1e39", 1e39]),
    st.lists(st.floats(allow_nan=False), max_size=2),
)
numbers_only = st.one_of(st.floats(), st.integers(min_value=-(2**64), max_value=2**64))


@st.composite
def split_tables(draw: st.DrawFn, cells: st.SearchStrategy[Any]) -> dict[str, Any]:
    width = draw(st.integers(1, 3))
    rows = draw(st.lists(st.lists(cells, min_size=width, max_size=width), min_size=1, max_size=6))
    names = draw(
        st.one_of(
            st.just(NAMES[:width]),
            st.lists(st.sampled_from([*NAMES, "z"]), min_size=width, max_size=width),
        )
    )
    table: dict[str, Any] = {"columns": names, "data": rows}
    index = draw(st.one_of(st.none(), st.lists(st.integers(0, 9), min_size=1, max_size=6)))
    if index is not None:
        table["index"] = index
    return table


@settings(max_examples=300)
@given(st.sampled_from(FLOAT_SCHEMAS), split_tables(json_cells))
def test_split_bodies_convert_as_their_columns_do(schema: Schema, table: dict[str, Any]) -> None:
    plan = InputPlan(schema)
    fast = outcome(lambda: decode_value({"dataframe_split": table}, plan).data)
    columns = list(zip(*table["data"], strict=True))
    plain = outcome(lambda: plan.frame(table["columns"], columns, table.get("index")))
    assert_same(fast, plain)


@given(st.sampled_from(FLOAT_SCHEMAS), split_tables(numbers_only))
def test_split_bodies_of_numbers_take_the_2d_path(schema: Schema, table: dict[str, Any]) -> None:
    plan = InputPlan(schema)
    names, rows, index = table["columns"], table["data"], table.get("index")
    known = (plan.tensor and not plan.named) or "z" not in names
    fits = len(set(names)) == len(names) and known
    fits = fits and (index is None or len(index) == len(rows))
    matrix = plan.matrix(names, rows, index)
    if not fits:
        assert matrix is None
        return
    plain = outcome(lambda: plan.frame(names, list(zip(*rows, strict=True)), index))
    if isinstance(plain, tuple):  # a value beyond float32's range, or an int beyond float64's
        assert matrix is None
        return
    assert matrix is not None
    assert_same(plan.frame_from_matrix(names, matrix, index), plain)


# -- CSV: the csv module for small bodies, pyarrow for large ones ---------------------------------

ODD_TOKENS = [
    *["-0", "+0", "+5", "007", "-0.0", "1.", ".5", "1e5", "1E-3", "+1.5e+3", "inf", "-inf"],
    *["Infinity", " 1", "1 ", "NA", "", "nan", "NULL", "True", "false", "x", "1_0", "1e"],
    *["9007199254740993", "-9223372036854775808", "9223372036854775808", "1e400"],
    *["3.4028235e38", "3.4028236e38", "1e39", '"2.5"', "16777217", "0.1"],
]
csv_tokens = st.one_of(
    st.floats(allow_nan=False, allow_infinity=False).map(repr),
    st.floats(width=32, allow_nan=False, allow_infinity=False).map(repr),
    st.floats(min_value=-1e4, max_value=1e4).map(lambda x: f"{x:.6f}"),
    st.integers(min_value=-(2**64), max_value=2**64).map(str),
    st.integers(min_value=-1000, max_value=1000).map(str),
    st.sampled_from(ODD_TOKENS),
)


@st.composite
def csv_tables(draw: st.DrawFn) -> tuple[list[str], list[list[str]]]:
    width = draw(st.integers(1, 3))
    rows = draw(st.lists(st.lists(csv_tokens, min_size=width, max_size=width), min_size=1))
    return NAMES[:width], rows[:5]


def _csv(names: list[str], rows: list[list[str]], repeat: int = 1) -> bytes:
    lines = [",".join(names)] + [",".join(row) for row in rows] * repeat
    return ("\n".join(lines) + "\n").encode()


def _plain(body: bytes, plan: InputPlan) -> Any:
    return outcome(lambda: next(read_csv_frames(io.BytesIO(body), plan))[1])


@settings(max_examples=300)
@given(st.sampled_from(CSV_SCHEMAS), csv_tables())
def test_small_csv_bodies_read_as_read_csv_reads_them(
    schema: Schema, table: tuple[list[str], list[list[str]]]
) -> None:
    plan = InputPlan(schema)
    body = _csv(*table)
    assert_same(outcome(lambda: decode_csv(body, plan)), _plain(body, plan))


@settings(max_examples=150, deadline=None)
@given(st.sampled_from(CSV_SCHEMAS), csv_tables())
def test_large_csv_bodies_read_as_read_csv_reads_them(
    schema: Schema, table: tuple[list[str], list[list[str]]]
) -> None:
    pytest.importorskip("pyarrow")
    plan = InputPlan(schema)
    names, rows = table
    size = sum(len(",".join(row)) + 1 for row in rows)
    body = _csv(names, rows, repeat=16 * 1024 // size + 1)
    assert len(body) > 16 * 1024
    assert_same(outcome(lambda: decode_csv(body, plan)), _plain(body, plan))


@pytest.mark.parametrize("schema", FLOAT_SCHEMAS, ids=lambda s: str(s.inputs[0].type))
@pytest.mark.parametrize("rows", [1, 3000])
def test_tables_of_decimals_take_the_fast_readers(schema: Schema, rows: int) -> None:
    """A table as clients write it (decimals, no missing values) does not go to read_csv."""
    pytest.importorskip("pyarrow")
    plan = InputPlan(schema)
    values = np.random.default_rng(rows).standard_normal((rows, 3))
    body = pd.DataFrame(values, columns=NAMES).to_csv(index=False).encode()
    if rows == 1:
        fast = _read_small(body, plan, ",")
    else:
        fast = _arrow_typed(_read_table(body, plan, ","), plan)
    assert fast is not None
    assert_same(fast, _plain(body, plan))
    assert_same(decode_csv(body, plan), fast)
    assert len(fast._mgr.blocks) == 1


def test_a_float32_overflow_is_named_by_the_column_cast() -> None:
    plan = InputPlan(Schema([TensorSpec(F32, (-1, -1))]))
    big = _csv(["a", "b"], [["1.5", "2"], ["1e39", "3"]], repeat=1000)
    small = _csv(["a", "b"], [["1.5", "2"], ["1e39", "3"]])
    for body in (big, small):
        with pytest.raises(ModelpackError) as info:
            decode_csv(body, plan)
        assert info.value.message == _plain(body, plan)[1]
    split = {"columns": ["a", "b"], "data": [[1.5, 2], [1e39, 3]]}
    with pytest.raises(ModelpackError) as info:
        decode_value({"dataframe_split": split}, plan)
    assert info.value.message == "column 'a': expected float32, got float 1e+39 (row 1)"
    columns = list(zip(*split["data"], strict=True))
    assert outcome(lambda: plan.frame(split["columns"], columns)) == (
        type(info.value),
        info.value.message,
    )
