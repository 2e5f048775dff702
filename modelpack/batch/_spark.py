"""``spark_udf``: a model package as a Spark UDF, with ``mlflow.pyfunc.spark_udf``'s signature.

The UDF is an iterator pandas UDF: Spark hands each Python worker Arrow batches of rows; the
worker loads the package once (``_spark_ship``), then each batch becomes a DataFrame that goes
through ``PyFuncModel.predict`` (signature enforcement as everywhere), and the predictions are
shaped for the result type (``_spark_types``).
"""

from __future__ import annotations

import contextlib
import functools
import os
from collections.abc import Iterator, Mapping
from typing import Any, Tuple, Union  # noqa: UP035 (pyspark reads these hints, see _typed)

import pandas as pd

from modelpack.batch._spark_ship import (
    ShippedModel,
    predict_rows,
    require_pyspark,
    ship,
    short_error,
)
from modelpack.batch._spark_types import parse_result_type, to_spark
from modelpack.errors import InvalidArgument, ModelpackError, SignatureMismatch
from modelpack.format.mlmodel import Model
from modelpack.settings import Settings
from modelpack.signature.enforce import enforce_params
from modelpack.signature.schema import Schema

__all__ = ["spark_udf"]


def spark_udf(
    spark: Any,
    model_uri: str,
    result_type: Any = None,
    env_manager: str | None = None,
    params: Mapping[str, Any] | None = None,
    extra_env: Mapping[str, str] | None = None,
    prebuilt_env_uri: str | None = None,
    model_config: Mapping[str, Any] | None = None,
    *,
    settings: Settings | None = None,
) -> Any:
    """A Spark UDF that predicts with the model package at ``model_uri``.

    The arguments are ``mlflow.pyfunc.spark_udf``'s, so ported code changes only its import:
    call the UDF with columns (``udf("a", "b")``, matched to the input schema by position), with
    a struct (``udf(struct("a", "b"))``, matched by name), or with none (the signature's column
    names). Array columns feed tensor inputs. ``result_type`` is a Spark DDL string or
    ``DataType`` (``double``, ``float``, ``long``, ``int``, ``string``, ``boolean``,
    ``array<double>``, a struct for DataFrame outputs); None takes it from the output schema,
    else ``double``. ``params`` go to every call; ``extra_env`` is set on the workers while they
    load and predict; ``model_config`` is passed to the load. Only ``env_manager="local"`` is
    supported: the executors' Python needs modelpack and the model's requirements.
    ``settings`` (default: from the environment) apply on the executors, credentials left out.

    The package is shipped to the executors once and loaded once per Python worker. Each row's
    prediction is the one ``modelpack.load_model(model_uri).predict`` gives it on the whole table.
    """
    require_pyspark()
    from pyspark.sql.functions import pandas_udf
    from pyspark.sql.types import StructType

    if env_manager not in (None, "local"):
        raise InvalidArgument(
            f"env_manager {env_manager!r} is not supported yet; install the model's requirements "
            "on the executors and use env_manager='local'"
        )
    if prebuilt_env_uri is not None:
        raise InvalidArgument(
            "prebuilt_env_uri (Databricks' prebuilt environments) is not supported"
        )
    settings = settings if settings is not None else Settings.from_env()
    shipped, metadata = ship(spark, model_uri, settings, model_config)
    spark_type = parse_result_type(result_type, metadata.get_output_schema())
    enforce_params(params, metadata.get_params_schema())  # bad params fail here, not on a worker
    body = _Predict(
        shipped, _input_names(metadata.get_input_schema()), spark_type, params, extra_env
    )
    udf = pandas_udf(_typed(body, isinstance(spark_type, StructType)), spark_type)

    @functools.wraps(udf)
    def call(*columns: Any) -> Any:
        return udf(*(columns or _default_columns(metadata)))

    call.metadata = metadata  # type: ignore[attr-defined]  # as MLflow's UDF has
    return call


def _input_names(schema: Schema | None) -> list[Any] | None:
    """Column names for positional UDF arguments: the schema's, unnamed ones by position."""
    if schema is None:
        return None
    return [spec.name if spec.name is not None else i for i, spec in enumerate(schema.inputs)]


def _default_columns(metadata: Model) -> list[str]:
    schema = metadata.get_input_schema()
    if schema is None:
        raise InvalidArgument(
            "the model has no input schema, so the UDF cannot name its columns: call it with "
            "the columns to predict on"
        )
    if not schema.has_input_names():
        raise InvalidArgument(
            f"the model's input schema has {len(schema.inputs)} unnamed inputs: call the UDF "
            "with the columns to predict on"
        )
    optional = [spec.name for spec in schema.inputs if not spec.required]
    if optional:
        raise InvalidArgument(
            f"the model's input schema has optional columns {optional[:5]}: call the UDF with "
            "the columns to predict on"
        )
    return schema.input_names()


class _Predict:
    """The UDF's body: runs on the executors (pickled with what it needs, nothing more)."""

    def __init__(
        self,
        shipped: ShippedModel,
        names: list[Any] | None,
        result_type: Any,
        params: Mapping[str, Any] | None,
        extra_env: Mapping[str, str] | None,
    ) -> None:
        self.shipped = shipped
        self.names = names
        self.result_type = result_type
        self.params = dict(params) if params is not None else None
        self.extra_env = dict(extra_env or {})

    def __call__(self, batches: Iterator[Any]) -> Iterator[pd.Series | pd.DataFrame]:
        with _environment(self.extra_env):
            try:
                model = self.shipped.load()
                for batch in batches:
                    columns = batch if isinstance(batch, tuple) else (batch,)
                    if len(columns[0]) == 0:
                        continue
                    frame = self.frame(columns)
                    yield to_spark(predict_rows(model, frame, self.params), self.result_type)
            except ModelpackError as exc:
                # The driver sees this worker's traceback as text: a few lines, then the message.
                raise short_error(exc) from None

    def frame(self, columns: tuple[Any, ...]) -> pd.DataFrame:
        """One batch's UDF arguments as the model's input DataFrame (MLflow's rules)."""
        if len(columns) == 1 and isinstance(columns[0], pd.DataFrame):
            return columns[0]  # called with a struct: its field names are the column names
        names = self.names
        if names is None:
            names = [str(i) for i in range(len(columns))]
        elif len(columns) < len(names):
            raise SignatureMismatch(
                f"the UDF got {len(columns)} columns but the model's input schema has "
                f"{len(names)} ({names[:10]}); unnamed columns are matched by position"
            )
        return pd.DataFrame(
            {
                name: value
                if isinstance(value, pd.Series)
                else value.apply(lambda row: row.to_dict(), axis=1)  # a struct among columns
                for name, value in zip(names, columns, strict=False)
            },
            columns=names[: len(columns)],
        )


def _typed(body: _Predict, frame_out: bool) -> Any:
    """``body`` as a function whose type hints tell pyspark it is an iterator UDF.

    pyspark reads the hints with ``typing.get_type_hints`` and matches ``typing.Tuple`` and
    ``typing.Union`` (not ``tuple[...]`` or ``X | Y``), so these are spelled the old way.
    """
    if frame_out:

        def frames(
            batches: Iterator[Tuple[Union[pd.Series, pd.DataFrame], ...]],  # noqa: UP006, UP007
        ) -> Iterator[pd.DataFrame]:
            return body(batches)

        return frames

    def series(
        batches: Iterator[Tuple[Union[pd.Series, pd.DataFrame], ...]],  # noqa: UP006, UP007
    ) -> Iterator[pd.Series]:
        return body(batches)

    return series


@contextlib.contextmanager
def _environment(extra: Mapping[str, str]) -> Iterator[None]:
    """``extra`` set in the worker's environment for the block, then restored."""
    if not extra:
        yield
        return
    saved = {name: os.environ.get(name) for name in extra}
    os.environ.update(extra)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
