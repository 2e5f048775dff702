"""Readers and writers of the ``predict`` command: files in, predictions out, in chunks.

A reader yields ``Chunk``s (model input, params, the first row's number); a writer takes each
chunk's predictions and writes them as it goes. CSV, JSON Lines and Parquet stream, so memory
stays bounded whatever the file size; a JSON document (an envelope) is read whole.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import numpy as np
import orjson
import pandas as pd

from modelpack.codecs import (
    InputPlan,
    csv_separator,
    decode_json,
    decode_value,
    encode_predictions,
    read_csv_frames,
)
from modelpack.errors import InvalidArgument, MalformedInput, MissingDependency

__all__ = ["FORMATS", "Chunk", "Writer", "format_of", "open_writer", "read_chunks"]

FORMATS = ("csv", "json", "jsonl", "parquet")
_EXTENSIONS = {
    ".csv": "csv",
    ".json": "json",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".parquet": "parquet",
    ".pq": "parquet",
}


def format_of(path: str, given: str | None, default: str) -> str:
    """The format named by a flag, else by the file's extension, else ``default``."""
    if given is not None:
        if given not in FORMATS:
            raise InvalidArgument(f"format must be one of {', '.join(FORMATS)}; got '{given}'")
        return given
    if path == "-":
        return default
    return _EXTENSIONS.get(Path(path).suffix.lower(), default)


@dataclass
class Chunk:
    """A piece of the input, ready for ``PyFuncModel.predict``."""

    data: Any
    params: Any
    first_row: int
    """Number of the chunk's first row in the input (0-based, header not counted)."""
    frame: pd.DataFrame | None = None
    """The input rows as a table, for writers that copy the input next to the predictions."""


def _pyarrow_parquet() -> Any:
    try:
        import pyarrow.parquet as pq
    except ImportError:
        raise MissingDependency(
            "Parquet needs the pyarrow package: pip install 'modelpack[parquet]'"
        ) from None
    return pq


def read_chunks(source: IO[bytes], fmt: str, plan: InputPlan, batch_size: int) -> Iterator[Chunk]:
    """Chunks of at most ``batch_size`` rows (a JSON document is one chunk)."""
    if fmt == "csv":
        yield from _csv_chunks(source, plan, batch_size)
    elif fmt == "jsonl":
        yield from _jsonl_chunks(source, plan, batch_size)
    elif fmt == "parquet":
        yield from _parquet_chunks(source, plan, batch_size)
    else:
        decoded = decode_json(source.read(), plan)
        frame = decoded.data if isinstance(decoded.data, pd.DataFrame) else None
        yield Chunk(decoded.data, decoded.params, 0, frame)


def _csv_chunks(source: IO[bytes], plan: InputPlan, batch_size: int) -> Iterator[Chunk]:
    """The codecs' CSV reader (the server's): same separator rule, casts and messages."""
    peek = getattr(source, "peek", None)
    sep = csv_separator(peek(65536) if peek is not None else b"")
    first = 0
    for as_read, typed in read_csv_frames(source, plan, sep, chunksize=batch_size):
        yield Chunk(typed, None, first, as_read)
        first += len(as_read)


def _jsonl_chunks(source: IO[bytes], plan: InputPlan, batch_size: int) -> Iterator[Chunk]:
    records: list[Any] = []
    first = 0
    for number, line in enumerate(source, start=1):
        if not line.strip():
            continue
        try:
            record = orjson.loads(line)
        except orjson.JSONDecodeError as exc:
            raise MalformedInput(f"line {number}: not valid JSON ({exc})") from None
        if not isinstance(record, dict):
            raise MalformedInput(
                f"line {number}: expected a JSON object per line, got {type(record).__name__}"
            )
        records.append(record)
        if len(records) == batch_size:
            yield _records_chunk(records, plan, first)
            first += len(records)
            records = []
    if records:
        yield _records_chunk(records, plan, first)


def _records_chunk(records: list[Any], plan: InputPlan, first: int) -> Chunk:
    data = decode_value({"dataframe_records": records}, plan).data
    return Chunk(data, None, first, data if isinstance(data, pd.DataFrame) else None)


def _parquet_chunks(source: IO[bytes], plan: InputPlan, batch_size: int) -> Iterator[Chunk]:
    pq = _pyarrow_parquet()
    try:
        parquet = pq.ParquetFile(source)
    except Exception as exc:  # pyarrow raises its own error types for unreadable files
        raise MalformedInput(f"the Parquet file cannot be read: {exc}") from None
    first = 0
    for batch in parquet.iter_batches(batch_size=batch_size):
        frame = batch.to_pandas()
        yield Chunk(plan.cast_frame(frame), None, first, frame)
        first += len(frame)


# ---------------------------------------------------------------------------------------------
# writers


def prediction_columns(predictions: Any, rows: int) -> pd.DataFrame:
    """Predictions as columns to put beside the input: ``prediction`` or ``prediction_<i>``."""
    if isinstance(predictions, pd.DataFrame):
        out = predictions.reset_index(drop=True)
        out.columns = [str(c) for c in out.columns]
        return out
    if isinstance(predictions, pd.Series):
        return pd.DataFrame({str(predictions.name or "prediction"): predictions.to_numpy()})
    arr = np.asarray(predictions)
    if arr.ndim == 1 and len(arr) == rows:
        return pd.DataFrame({"prediction": arr})
    if arr.ndim == 2 and len(arr) == rows:
        return pd.DataFrame({f"prediction_{i}": arr[:, i] for i in range(arr.shape[1])})
    raise InvalidArgument(
        f"the model returned {type(predictions).__name__} of shape {arr.shape} for {rows} rows; "
        "only one prediction (or one row of predictions) per input row fits a table: "
        "write JSON instead"
    )


class Writer:
    """Writes predictions chunk by chunk; ``close`` finishes the document."""

    def __init__(self, sink: IO[bytes], json_style: str = "compact") -> None:
        self.sink = sink
        self.json_style = json_style

    def write(self, chunk: Chunk, predictions: Any) -> None:
        raise NotImplementedError

    def close(self) -> None:
        """Finish the document (the sink itself is closed by the caller)."""


class _JsonWriter(Writer):
    """``{"predictions": [...]}`` like MLflow, written one chunk at a time.

    In the ``mlflow`` style the document is MLflow's text byte for byte (``", "`` between items,
    no newline at the end); in the ``compact`` style it ends with a newline.
    """

    def __init__(self, sink: IO[bytes], json_style: str = "compact") -> None:
        super().__init__(sink, json_style)
        self._state = "empty"  # then "list" or, for one non-list answer, "single"
        mlflow = json_style == "mlflow"
        self._comma = b", " if mlflow else b","
        self._newline = b"" if mlflow else b"\n"

    def write(self, chunk: Chunk, predictions: Any) -> None:
        body = encode_predictions(predictions, bare=True, style=self.json_style)
        if self._state == "single" or (self._state == "list" and not body.startswith(b"[")):
            raise InvalidArgument(
                "the model returned a value that is not a list for one chunk of the input; "
                "raise --batch-size so the whole input is one chunk"
            )
        if not body.startswith(b"["):
            self.sink.write(b'{"predictions": ' + body)
            self._state = "single"
            return
        inner = body[1:-1]
        if self._state == "empty":
            self.sink.write(b'{"predictions": [' + inner)
            self._state = "list"
        elif inner:
            self.sink.write(self._comma + inner)

    def close(self) -> None:
        ending = {"empty": b'{"predictions": []}', "list": b"]}", "single": b"}"}[self._state]
        self.sink.write(ending + self._newline)


class _CsvWriter(Writer):
    """The input columns followed by the prediction columns."""

    def __init__(self, sink: IO[bytes], json_style: str = "compact") -> None:
        super().__init__(sink, json_style)
        self._text = io.TextIOWrapper(sink, encoding="utf-8", newline="", write_through=True)
        self._header = True

    def write(self, chunk: Chunk, predictions: Any) -> None:
        table = _table(chunk, predictions)
        table.to_csv(self._text, header=self._header, index=False)
        self._header = False

    def close(self) -> None:
        self._text.flush()
        self._text.detach()


class _ParquetWriter(Writer):
    def __init__(self, sink: IO[bytes], json_style: str = "compact") -> None:
        super().__init__(sink, json_style)
        self._pq = _pyarrow_parquet()
        self._writer: Any = None

    def write(self, chunk: Chunk, predictions: Any) -> None:
        import pyarrow as pa

        table = pa.Table.from_pandas(_table(chunk, predictions), preserve_index=False)
        if self._writer is None:
            self._writer = self._pq.ParquetWriter(self.sink, table.schema)
        self._writer.write_table(table.cast(self._writer.schema))

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()


def _table(chunk: Chunk, predictions: Any) -> pd.DataFrame:
    frame = chunk.frame
    if frame is None:
        raise InvalidArgument("a table output needs tabular input (CSV, JSON Lines, Parquet)")
    preds = prediction_columns(predictions, len(frame))
    clash = set(preds.columns) & {str(c) for c in frame.columns}
    if clash:
        preds = preds.rename(columns={c: f"{c}_prediction" for c in clash})
    inputs = frame.reset_index(drop=True)
    return pd.concat([inputs, preds], axis=1)


_WRITERS: dict[str, type[Writer]] = {
    "json": _JsonWriter,
    "csv": _CsvWriter,
    "parquet": _ParquetWriter,
}


def open_writer(fmt: str, sink: IO[bytes], json_style: str = "compact") -> Writer:
    """The writer for an output format (json, csv or parquet)."""
    if fmt not in _WRITERS:
        raise InvalidArgument(f"output format must be one of json, csv, parquet; got '{fmt}'")
    return _WRITERS[fmt](sink, json_style)
