"""CSV request bodies -> a DataFrame typed by the signature.

A header row is required. Column types come from the signature, for column and tensor
signatures alike (MLflow's server cannot read CSV for tensor signatures); array, object and map
columns hold JSON text in their cells.
"""

from __future__ import annotations

import csv as _csv
import io
import re
from collections.abc import Iterator
from typing import IO, Any

import numpy as np
import orjson
import pandas as pd

from modelpack.codecs._plan import InputPlan
from modelpack.errors import MalformedInput, ModelpackError, one_line
from modelpack.signature.casting import describe, mismatch, text_dtype
from modelpack.signature.datatypes import type_name
from modelpack.signature.schema import ColSpec, DataType, TensorSpec

__all__ = ["csv_dtypes", "csv_separator", "decode_csv", "read_csv_frames"]


def _read_as(dtype: DataType) -> Any:
    """``read_csv``'s dtype for a column: parsed to numbers, or kept as text (``object``)."""
    parsed = text_dtype(dtype)
    return object if parsed is None else parsed.name


def csv_dtypes(plan: InputPlan) -> dict[Any, Any] | Any | None:
    """What ``pandas.read_csv(dtype=...)`` gets for a plan: per column, one dtype, or None."""
    schema = plan.input_schema
    if schema is None:
        return None
    if plan.tensor and not plan.named:
        spec = schema.inputs[0]
        return spec.type if isinstance(spec, TensorSpec) and spec.type.kind != "O" else object
    if not plan.named:
        return None  # positional columns are cast after reading
    out: dict[Any, Any] = {}
    for name, spec in plan.specs.items():
        if isinstance(spec, TensorSpec):
            out[name] = spec.type if spec.type.kind != "O" else object
        elif isinstance(spec.type, DataType):
            out[name] = _read_as(spec.type)
        else:
            out[name] = object  # JSON text, parsed below
    return out


def decode_csv(body: bytes | str, plan: InputPlan, *, dtypes: Any = None) -> pd.DataFrame:
    """Read a CSV body (header row first) into a DataFrame with the signature's types.

    The separator is ``,`` unless the header row is clearly split by ``;``, a tab or ``|``
    (``csv_separator``). ``dtypes`` is ``csv_dtypes(plan)``; pass it when decoding many bodies
    with one plan. Raises ``MalformedInput`` or ``SignatureMismatch`` (both 400).
    """
    raw = body.encode("utf-8") if isinstance(body, str) else body
    if not raw.strip():
        raise MalformedInput("the CSV body is empty; send a header row and one row per input")
    sep = csv_separator(raw[:65536])
    numbers = _infers_numbers(plan)
    if len(raw) <= _SMALL and ((plan.named and not plan.tensor) or numbers):
        small = _read_small(raw, plan, sep)
        if small is not None:
            return small
    if len(raw) > _SMALL and (plan.named or numbers):
        table = _read_table(raw, plan, sep)
        if table is not None:
            fast = _arrow_typed(table, plan)
            if fast is not None:
                return fast
            return _typed(_arrow_frame(table, plan), plan)
    return next(read_csv_frames(io.BytesIO(raw), plan, sep, dtypes=dtypes))[1]


def _infers_numbers(plan: InputPlan) -> bool:
    """A tensor signature of floats: read_csv infers each column (int64, float64, ...) and the
    tensor's dtype is cast after; the fast readers take the plain numeric tables of these."""
    return plan.tensor and plan.matrix_dtype is not None


def csv_separator(head: bytes) -> str:
    """``,`` unless the header row is clearly split by ``;``, a tab or ``|`` (as the wine data
    of the seeds is: ``fixed acidity;volatile acidity;...``)."""
    header = head.split(b"\n", 1)[0]
    counts = {sep: header.count(sep.encode()) for sep in (",", ";", "\t", "|")}
    best = max(counts, key=lambda sep: counts[sep])
    return best if counts[best] > 0 and counts[","] == 0 else ","


def read_csv_frames(
    source: IO[bytes],
    plan: InputPlan,
    sep: str = ",",
    *,
    chunksize: int | None = None,
    dtypes: Any = None,
) -> Iterator[tuple[pd.DataFrame, pd.DataFrame]]:
    """CSV read by pandas' C reader (in chunks of ``chunksize`` rows, or whole): each frame as
    read and as cast by the signature's rulebook, for the server's bodies and ``predict``'s files
    alike (``predict`` writes the input columns as they were read next to the predictions).

    Only text-like columns are read as text; numbers are parsed by the reader and then cast by the
    plan, which names the offending row and column (``read_csv``'s own ``dtype=`` would not).
    """
    dtypes = csv_dtypes(plan) if dtypes is None else dtypes
    text = {k: v for k, v in dtypes.items() if v is object} if isinstance(dtypes, dict) else None
    try:
        reader = pd.read_csv(
            source, sep=sep, dtype=text or None, chunksize=chunksize, encoding="utf-8"
        )
        for frame in reader if chunksize else [reader]:
            frame.index = pd.RangeIndex(len(frame))
            yield frame, _typed(frame, plan)
    except ModelpackError:
        raise
    except (ValueError, UnicodeDecodeError) as exc:  # ParserError, EmptyDataError are ValueErrors
        raise MalformedInput(f"Failed to parse input as CSV: {one_line(exc)}") from None


# Small bodies (a few rows, the usual online request) are read with the csv module: pandas'
# read_csv costs ~1 ms of set-up even for one row. Only plain tables of scalar columns take this
# path, with pandas' NA strings and boolean spellings; anything it cannot read the same way
# (ragged rows, duplicate names, a value that does not cast) goes to read_csv, which decides.
_SMALL = 16 * 1024
_NA = frozenset(
    {"", "#N/A", "#N/A N/A", "#NA", "-1.#IND", "-1.#QNAN", "-NaN", "-nan", "1.#IND", "1.#QNAN"}
    | {"<NA>", "N/A", "NA", "NULL", "NaN", "None", "n/a", "nan", "null"}
)
_BOOLS = {"True": True, "TRUE": True, "true": True, "False": False, "FALSE": False, "false": False}


def _read_small(raw: bytes, plan: InputPlan, sep: str) -> pd.DataFrame | None:
    try:
        text = io.StringIO(raw.decode("utf-8"))
        rows = [row for row in _csv.reader(text, delimiter=sep, strict=True) if row]
    except (UnicodeDecodeError, _csv.Error):
        return None
    if not rows:
        return None
    header = rows[0]
    width = len(header)
    if len(set(header)) != width or any(len(row) != width for row in rows):
        return None
    names = [name or f"Unnamed: {i}" for i, name in enumerate(header)]
    columns: list[Any] = []
    for name, cells in zip(
        names, zip(*rows[1:], strict=True) if len(rows) > 1 else [()] * width, strict=True
    ):
        spec = plan.spec(name)
        values: list[Any] = [None if cell in _NA else cell for cell in cells]
        if plan.tensor or (isinstance(spec, ColSpec) and spec.type in _NUMBERS):
            # Numbers as read_csv infers them, then cast as its columns are.
            numbers = _inferred_numbers(values)
            if numbers is None:
                return None
            columns.append(numbers)
            continue
        if isinstance(spec, ColSpec) and spec.type == DataType.boolean:
            if not all(v in _BOOLS for v in values):
                return None
            values = [_BOOLS[v] for v in values]
        elif spec is None or (isinstance(spec, ColSpec) and spec.type == DataType.string):
            values = [np.nan if v is None else v for v in values]  # as read_csv leaves them
        elif isinstance(spec, ColSpec) and not isinstance(spec.type, DataType):
            return None
        columns.append(values)
    try:
        return plan.frame(names, columns)
    except ModelpackError:
        return None


# The numbers read_csv infers, for the subset of spellings whose reading is certain: integers
# (int64, or float64 when a value is missing), and decimals (float64, read as float() reads them:
# correctly rounded, as read_csv). Anything else (spaces, "inf", integers beyond int64, text)
# returns None and read_csv decides.
_INT = re.compile(r"[+-]?[0-9]+")
_DECIMAL = re.compile(r"[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?")
_INT64 = (-(2**63), 2**63 - 1)
_NUMBERS = (DataType.integer, DataType.long, DataType.float, DataType.double)


def _inferred_numbers(values: list[str | None]) -> np.ndarray | None:
    present = [v for v in values if v is not None]
    if all(_INT.fullmatch(v) for v in present):
        ints = [int(v) for v in present]
        if not all(_INT64[0] <= i <= _INT64[1] for i in ints):
            return None
        if len(present) == len(values):
            return np.array(ints, dtype=np.int64)
        # A missing value: read_csv reads the integers, then makes the column float64.
        out = np.full(len(values), np.nan)
        out[[i for i, v in enumerate(values) if v is not None]] = ints
        return out
    if all(_DECIMAL.fullmatch(v) for v in present):
        return np.array([np.nan if v is None else float(v) for v in values], dtype=np.float64)
    return None


# Larger bodies are read by pyarrow's CSV reader when it is installed, with pandas' NA strings
# and boolean spellings; tables of numbers go from its columns straight into the frame's block,
# without a frame in between. (Its parse itself is no faster than read_csv's in pandas 3: about
# 7-10 ms for 10,000 rows of 10 doubles on this machine, either way; the gain is the one copy.)
# Whatever it reads differently from read_csv (duplicate names, missing values in integer or
# boolean columns, a -0 or an integer beyond 2**53 where read_csv may infer int64) or cannot
# read goes to read_csv, which decides. One thread: its pool cost ~2-4 ms more CPU a body and
# gave no speed on two busy cores; a server's parallelism is its workers.


def _read_arrow(raw: bytes, plan: InputPlan, sep: str) -> pd.DataFrame | None:
    """The frame read_csv reads (before the casts), or None where pyarrow cannot tell."""
    table = _read_table(raw, plan, sep)
    return None if table is None else _arrow_frame(table, plan)


def _arrow_types(plan: InputPlan) -> dict[str, Any]:
    import pyarrow as pa

    types: dict[str, Any] = {}
    if not plan.named or plan.tensor:
        return types  # types inferred, as read_csv infers them; checked in _read_table
    for name, spec in plan.specs.items():
        if not isinstance(spec.type, DataType) or (parsed := text_dtype(spec.type)) is None:
            types[name] = pa.string()
        elif parsed.kind == "f":
            types[name] = pa.float64()  # read_csv reads float64 (or int64), cast to float32 after
        else:
            types[name] = pa.from_numpy_dtype(parsed)
    return types


def _read_table(raw: bytes, plan: InputPlan, sep: str) -> Any:
    """pyarrow's table of a body, or None where it would read otherwise than read_csv."""
    try:
        import pyarrow as pa
        import pyarrow.csv as pacsv
    except ImportError:
        return None
    types = _arrow_types(plan)
    options = pacsv.ConvertOptions(
        column_types=types,
        null_values=sorted(_NA),
        strings_can_be_null=True,
        true_values=[k for k, v in _BOOLS.items() if v],
        false_values=[k for k, v in _BOOLS.items() if not v],
    )
    try:
        table = pacsv.read_csv(
            io.BytesIO(raw),
            read_options=pacsv.ReadOptions(use_threads=False),
            parse_options=pacsv.ParseOptions(delimiter=sep, newlines_in_values=True),
            convert_options=options,
        )
    except (pa.ArrowException, ValueError):
        return None
    names = table.column_names
    if len(set(names)) != len(names) or "" in names:
        return None  # read_csv renames duplicates ("a.1") and blanks ("Unnamed: 0")
    for name, column in zip(names, table.columns, strict=True):
        kind = types.get(name) if types else column.type
        if kind is not None and column.null_count and not pa.types.is_floating(kind):
            if not pa.types.is_string(kind) or not types:
                return None  # read_csv refuses missing values in integer and boolean columns
        if pa.types.is_float64(column.type) and not _same_numbers(column.to_numpy()):
            return None
        if not types and not (pa.types.is_int64(column.type) or pa.types.is_float64(column.type)):
            return None  # text, booleans, timestamps, empty columns: read_csv decides
    return table


def _same_numbers(values: np.ndarray) -> bool:
    """Whether a float64 column holds the numbers read_csv reads, whichever type it infers.

    read_csv reads a column of integers as int64 (cast to float after), and "-0" as 0; pyarrow
    reads the float64 it is told to, or infers float64 for one "+1", and reads "-0" as -0.0.
    Without a -0.0 or a value of 2**53 or more, both hold the same numbers (integers that
    float64 and float32 hold exactly, or round alike); with one, read_csv decides."""
    return not (np.any(np.abs(values) >= 2.0**53) or np.any(np.signbit(values) & (values == 0)))


def _arrow_frame(table: Any, plan: InputPlan) -> pd.DataFrame:
    import pyarrow as pa

    df = table.to_pandas()
    for name, column in zip(table.column_names, table.columns, strict=True):
        if name in plan.specs and pa.types.is_string(column.type):
            df[name] = df[name].astype(object)  # as read_csv(dtype=object): text, NaN if missing
    return df


def _arrow_typed(table: Any, plan: InputPlan) -> pd.DataFrame | None:
    """The typed frame straight from pyarrow's columns, for tables of numbers only (what
    ``_typed(_arrow_frame(table))`` gives, without the frame in between), else None.

    A schema of one float dtype fills its one block column by column (``block_from_columns``);
    other schemas cast the columns as ``_typed`` would, with the arrays it would see."""
    import pyarrow as pa

    if plan.input_schema is None or table.num_columns == 0:
        return None
    names = table.column_names
    if plan.named and not all(name in plan.specs for name in names):
        return None
    for column in table.columns:
        kind = column.type
        if not (
            pa.types.is_floating(kind) or pa.types.is_integer(kind) or pa.types.is_boolean(kind)
        ):
            return None
        if column.null_count and not pa.types.is_floating(kind):
            return None
    arrays = [column.to_numpy() for column in table.columns]
    index = pd.RangeIndex(table.num_rows)
    block = plan.block_from_columns(names, arrays)
    if block is not None:
        return plan.frame_from_block(names, block, index)
    return plan.frame(names, arrays, index)


def _typed(df: pd.DataFrame, plan: InputPlan) -> pd.DataFrame:
    """A frame as a CSV reader left it (numbers parsed, the rest text), cast by the rulebook:
    numbers checked, datetimes and base64 parsed, JSON cells of nested columns read."""
    if plan.input_schema is None:
        return df
    df = plan.cast_frame(df)
    for name, spec in plan.specs.items():
        if name in df.columns and isinstance(spec, ColSpec) and not isinstance(spec.type, DataType):
            df[name] = _json_cells(df[name], name, type_name(spec.type))
    return df


_JSON_CELLS = "cells of array, object and map columns hold JSON text"


def _json_cells(column: pd.Series, name: str, expected: str) -> np.ndarray:
    out = np.empty(len(column), dtype=object)
    for row, cell in enumerate(column.tolist()):
        if cell is None or (isinstance(cell, float) and np.isnan(cell)):
            out[row] = None
            continue
        try:
            out[row] = orjson.loads(cell)
        except (orjson.JSONDecodeError, TypeError):
            raise mismatch(name, expected, describe(cell), row, _JSON_CELLS) from None
    return out
