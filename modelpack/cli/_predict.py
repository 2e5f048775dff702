"""``modelpack predict``: score a file (``mlflow models predict``'s options)."""

from __future__ import annotations

import os
import sys

import click

from modelpack.cli._common import (
    enter_environment,
    env_manager_option,
    handle_errors,
    model_uri_option,
    quiet_option,
)
from modelpack.settings import Settings

__all__ = ["predict"]


@click.command()
@model_uri_option
@click.option(
    "-i",
    "--input-path",
    default="-",
    show_default=True,
    metavar="INPUT",
    help="File to score (CSV, JSON, JSON Lines, Parquet), or - for standard input.",
)
@click.option(
    "-o",
    "--output-path",
    default="-",
    show_default=True,
    metavar="OUTPUT",
    help="Where to write predictions (JSON, CSV, Parquet by extension), or - for stdout.",
)
@click.option(
    "-t",
    "--content-type",
    "input_format",
    default=None,
    help="Input format: json, csv, jsonl or parquet (default: from the extension, else json).",
)
@click.option(
    "--output-format",
    default=None,
    help="Output format: json, csv or parquet (default: from the extension, else json).",
)
@click.option(
    "--batch-size",
    type=int,
    default=50_000,
    show_default=True,
    help="Rows read, scored and written at a time (CSV, JSON Lines, Parquet), rounded up to a "
    "multiple of 64 so that chunking never changes the last bit of an answer.",
)
@quiet_option
@env_manager_option
@click.option(
    "--engine",
    type=click.Choice(["local", "spark"]),
    default="local",
    show_default=True,
    help="local: this process, in chunks. spark: Parquet or CSV files or directories in, a "
    "Parquet directory out (the input columns and the predictions, one file per partition).",
)
@click.option(
    "--spark-master",
    default=None,
    metavar="URL",
    help="Spark master for --engine spark (default: local[*]); the executors need modelpack "
    "and the model's requirements in the Python that PYSPARK_PYTHON names.",
)
@handle_errors
@click.pass_context
def predict(
    ctx: click.Context,
    model_uri: str,
    input_path: str,
    output_path: str,
    input_format: str | None,
    output_format: str | None,
    batch_size: int,
    quiet: bool,
    env_manager: str,
    engine: str,
    spark_master: str | None,
) -> None:
    """Score a file with a model and write the predictions.

    CSV, JSON Lines and Parquet are streamed in chunks; the output appears only when the whole
    input was scored (written to a temporary file, then renamed). With --env-manager uv,
    virtualenv or conda it runs in an environment built from the package's requirements.
    """
    from modelpack.batch import predict_file
    from modelpack.pyfunc import load_model

    settings = Settings.from_env()
    if spark_master is not None and engine != "spark":
        from modelpack.errors import InvalidArgument

        raise InvalidArgument("--spark-master needs --engine spark")
    package = enter_environment(ctx, env_manager, model_uri, settings, quiet)
    if engine == "spark":
        _predict_on_spark(
            package,
            input_path,
            output_path,
            input_format=input_format,
            output_format=output_format,
            batch_size=batch_size,
            master=spark_master,
            quiet=quiet,
            settings=settings,
        )
        return
    model = load_model(package, settings=settings)
    predict_file(
        model,
        input_path,
        output_path,
        input_format=input_format,
        output_format=output_format,
        batch_size=batch_size,
        progress=False if quiet else None,
        json_style=settings.json_style,
    )


def _predict_on_spark(model_uri: str, source: str, destination: str, **options: object) -> None:
    from modelpack.batch import predict_spark

    # Spark starts its Python workers with PYSPARK_PYTHON (default: python3 on the PATH), which
    # may not be the Python that has modelpack: this one, unless the user chose another.
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    quiet = options.pop("quiet")
    predict_spark(
        model_uri,
        source,
        destination,
        progress=False if quiet else None,
        **options,  # type: ignore[arg-type]
    )
