"""``modelpack predict --engine spark``: Parquet or CSV in, a Parquet directory out, on Spark.

The driver loads the package once (so a package that cannot load fails at once, with the local
engine's message), reads the input with Spark, scores the first rows to learn the prediction
columns, then runs one job: ``mapInPandas`` over the input's partitions, each Arrow batch cast
by the model's input plan and predicted as the local engine does (``_files``' table: the input
columns, then ``prediction`` or ``prediction_<i>``). The output is written beside the
destination and renamed into place when the job succeeded; it has one file per input partition.
"""

from __future__ import annotations

import contextlib
import os
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd

from modelpack.batch._files import Chunk, _table
from modelpack.batch._local import CHUNK_MULTIPLE, BatchResult
from modelpack.batch._spark_session import Progress, session
from modelpack.batch._spark_ship import (
    ShippedModel,
    predict_rows,
    require_pyspark,
    ship,
    short_error,
)
from modelpack.codecs import InputPlan, csv_dtypes, csv_separator
from modelpack.errors import (
    InvalidArgument,
    ModelpackError,
    RemoteError,
    SignatureMismatch,
    first_line,
)
from modelpack.pyfunc import load_model
from modelpack.settings import Settings

__all__ = ["predict_spark"]

_FILE = "__modelpack_file__"
_ROW = "__modelpack_row__"
_FORMATS = ("parquet", "csv")


def predict_spark(
    model_uri: str,
    source: str,
    destination: str,
    *,
    input_format: str | None = None,
    output_format: str | None = None,
    batch_size: int = 50_000,
    master: str | None = None,
    progress: bool | None = None,
    settings: Settings | None = None,
    spark: Any = None,
) -> BatchResult:
    """Score ``source`` (Parquet or CSV files, or a directory of them) into the Parquet directory
    ``destination`` with Spark.

    ``master`` is the Spark master URL (default ``local[*]``); a session already active in this
    process (or ``spark``) is used instead, and left running. ``batch_size`` rows go to the model
    at a time (Arrow batches, rounded up to a multiple of 64). ``progress`` None means: on a
    terminal.
    """
    require_pyspark()
    settings = settings if settings is not None else Settings.from_env()
    if batch_size < 1:
        raise InvalidArgument(f"--batch-size must be at least 1, got {batch_size}")
    batch_size = -(-batch_size // CHUNK_MULTIPLE) * CHUNK_MULTIPLE
    fmt = _input_format(source, input_format)
    _check_output(destination, output_format)
    model = load_model(model_uri, settings=settings)  # fails here, with the local engine's words
    plan = InputPlan.for_model(model)
    started = time.monotonic()
    with session(spark, master, settings, batch_size) as spark:
        shipped, _ = ship(spark, model_uri, settings)
        frame = _read(spark, source, fmt, plan)
        probe = frame.limit(CHUNK_MULTIPLE).toPandas()
        if probe.empty:
            raise InvalidArgument(f"{source}: no rows to score")
        rows = spark.sparkContext.accumulator(0)
        score = _Score(shipped, source, _single_file(source), rows)
        sample = next(score.tables(model, plan, iter([probe])))
        schema = _output_schema(frame, sample)
        scored = frame.mapInPandas(score, schema)
        with _output(destination) as target, Progress(spark, rows, _want(progress)) as meter:
            _run(lambda: scored.write.parquet(target), source)
            meter.finish()
    return BatchResult(rows.value, time.monotonic() - started, destination)


# ---------------------------------------------------------------------------------------------
# arguments


def _is_local(path: str) -> bool:
    return "://" not in path or path.startswith("file://")


def _local(path: str) -> Path:
    return Path(path[len("file://") :] if path.startswith("file://") else path)


def _input_format(source: str, given: str | None) -> str:
    if source == "-":
        raise InvalidArgument("--engine spark reads files, not standard input: give -i PATH")
    if given is not None:
        if given not in _FORMATS:
            raise InvalidArgument(f"--engine spark reads parquet or csv; got '{given}'")
        return given
    if _is_local(source):
        path = _local(source)
        if not path.exists():
            raise InvalidArgument(f"input file not found: {source}")
        if path.is_dir():
            suffixes = {p.suffix.lower() for p in path.rglob("*") if p.is_file()}
            return "csv" if ".csv" in suffixes and ".parquet" not in suffixes else "parquet"
    suffix = Path(source.rstrip("/")).suffix.lower()
    if suffix in (".csv", ".parquet", ".pq", ""):
        return "csv" if suffix == ".csv" else "parquet"
    raise InvalidArgument(
        f"--engine spark reads parquet or csv; cannot tell the format of {source}: give -t"
    )


def _check_output(destination: str, output_format: str | None) -> None:
    if destination == "-":
        raise InvalidArgument("--engine spark writes a Parquet directory: give -o DIRECTORY")
    if output_format not in (None, "parquet"):
        raise InvalidArgument(f"--engine spark writes parquet; got '{output_format}'")
    if _is_local(destination):
        target = _local(destination)
        if target.exists():
            raise InvalidArgument(f"output path already exists: {destination}")
        if not target.absolute().parent.is_dir():
            raise InvalidArgument(f"output directory does not exist: {target.absolute().parent}")


def _single_file(source: str) -> str | None:
    """The input file's absolute path when ``source`` is one local file (errors then name it as
    the user wrote it)."""
    if _is_local(source) and _local(source).is_file():
        return str(_local(source).resolve())
    return None


def _path_of(uri: str) -> str:
    """A local path for Spark's ``file:/...`` (or ``file:///...``) URIs; other URIs as they are."""
    if uri.startswith("file:"):
        rest = uri[len("file:") :]
        return rest[2:] if rest.startswith("///") else rest
    return uri


def _want(progress: bool | None) -> bool:
    return sys.stderr.isatty() if progress is None else progress


# ---------------------------------------------------------------------------------------------
# reading and writing


def _read(spark: Any, source: str, fmt: str, plan: InputPlan) -> Any:
    from pyspark.sql import functions as F
    from pyspark.sql import types as T

    def load() -> Any:
        if fmt == "parquet":
            frame = spark.read.parquet(source)
            return frame.select(
                "*",
                F.col("_metadata.file_path").alias(_FILE),
                F.col("_metadata.row_index").alias(_ROW),
            )
        options = {"header": "true", "sep": _csv_separator(source)}
        inferred = spark.read.options(inferSchema="true", **options).csv(source).schema
        # As the local engine: columns the signature reads as text stay text ("007" is not 7).
        text = csv_dtypes(plan)
        text = {k for k, v in text.items() if v is object} if isinstance(text, dict) else set()
        schema = T.StructType(
            [
                T.StructField(f.name, T.StringType()) if f.name in text else f
                for f in inferred.fields
            ]
        )
        frame = spark.read.options(**options).schema(schema).csv(source)
        return frame.select("*", F.col("_metadata.file_path").alias(_FILE))

    return _run(load, source)


def _csv_separator(source: str) -> str:
    """The local engine's choice (``,`` unless the header is split by ``;``, a tab or ``|``)."""
    if not _is_local(source):
        return ","
    path = _local(source)
    if path.is_dir():
        path = next(iter(sorted(path.rglob("*.csv"))), path)
    if not path.is_file():
        return ","
    with open(path, "rb") as handle:
        return csv_separator(handle.read(65536))


def _output_schema(frame: Any, sample: pd.DataFrame) -> Any:
    """The input's columns, then the prediction columns typed as the first rows' predictions."""
    import pyarrow as pa
    from pyspark.sql import types as T
    from pyspark.sql.pandas.types import from_arrow_type

    inputs = [f for f in frame.schema.fields if f.name not in (_FILE, _ROW)]
    known = {f.name for f in inputs}
    arrow = pa.Schema.from_pandas(sample, preserve_index=False)
    predicted = [
        T.StructField(name, from_arrow_type(arrow.field(name).type))
        for name in sample.columns
        if name not in known
    ]
    return T.StructType(inputs + predicted)


@contextlib.contextmanager
def _output(destination: str) -> Iterator[str]:
    """Where Spark writes: a directory beside a local destination, renamed into place when the
    job worked (a failure leaves nothing behind); a remote destination directly."""
    if not _is_local(destination):
        yield destination
        return
    target = _local(destination).absolute()
    partial = target.parent / f".{target.name}.partial-{os.getpid()}"
    try:
        yield str(partial)
        os.replace(partial, target)
    except BaseException:
        import shutil

        shutil.rmtree(partial, ignore_errors=True)
        raise


def _run(action: Any, source: str) -> Any:
    """``action()`` with Spark's failures as our one-line errors.

    A worker's ModelpackError reaches the driver as the text of its traceback, whose last line
    is Python's ``modelpack.errors.<Class>: <message>`` (see ``short_error``): that line becomes
    the same error here.
    """
    from pyspark.errors.exceptions.captured import AnalysisException, CapturedException
    from pyspark.errors.exceptions.captured import PythonException as WorkerFailed

    try:
        return action()
    except WorkerFailed as exc:
        raise _worker_error(str(exc)) from None
    except AnalysisException as exc:
        raise InvalidArgument(f"Spark cannot read {source}: {first_line(exc)}") from None
    except CapturedException as exc:
        raise RemoteError(f"the Spark job failed: {first_line(exc)}") from None


def _worker_error(text: str) -> ModelpackError:
    import modelpack.errors

    prefix = "modelpack.errors."
    for line in reversed(text.strip().splitlines()):
        name, _, message = line.partition(": ")
        if name.startswith(prefix):
            kind = getattr(modelpack.errors, name[len(prefix) :], None)
            if isinstance(kind, type) and issubclass(kind, ModelpackError):
                return kind(message)
    last = text.strip().splitlines()[-1] if text.strip() else "no message"
    return RemoteError(f"the Spark job failed in a Python worker: {last}")


# ---------------------------------------------------------------------------------------------
# on the executors


class _Score:
    """``mapInPandas``' function: each batch of input rows, then their prediction columns."""

    def __init__(self, shipped: ShippedModel, source: str, single: str | None, rows: Any) -> None:
        self.shipped = shipped
        self.source = source
        self.single = single
        self.rows = rows

    def __call__(self, batches: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
        try:
            model = self.shipped.load()
            for table in self.tables(model, InputPlan.for_model(model), batches):
                self.rows.add(len(table))
                yield table
        except ModelpackError as exc:
            raise short_error(exc) from None

    def tables(
        self, model: Any, plan: InputPlan, batches: Iterator[pd.DataFrame]
    ) -> Iterator[pd.DataFrame]:
        for batch in batches:
            files = batch.pop(_FILE) if _FILE in batch.columns else None
            numbers = batch.pop(_ROW) if _ROW in batch.columns else None
            batch.index = pd.RangeIndex(len(batch))
            try:
                data = plan.cast_frame(batch)
                predictions = predict_rows(model, data, None)
            except SignatureMismatch as exc:
                raise self.placed(exc, files, numbers) from None
            yield _table(Chunk(data, None, 0, batch), predictions)

    def placed(self, exc: SignatureMismatch, files: Any, numbers: Any) -> SignatureMismatch:
        """The local engine's message: ``<file>: row <n>, column '<c>': <reason>`` (CSV files
        have no row numbers in Spark: ``<file>, column '<c>': <reason>``)."""
        row = exc.row if exc.row is not None else 0
        name = self.source
        if files is not None and len(files) > row:
            path = _path_of(str(files.iloc[row]))
            name = self.source if path == self.single else path
        column = f", column '{exc.column}'" if exc.column is not None else ""
        reason = exc.reason or exc.message
        if exc.row is not None and numbers is not None:
            return type(exc)(f"{name}: row {int(numbers.iloc[exc.row])}{column}: {reason}")
        if exc.row is None and exc.column is None:
            return type(exc)(f"{name}: {exc.message}")
        return type(exc)(f"{name}{column}: {reason}")
