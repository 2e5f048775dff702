"""The ``modelpack`` command line. Option names follow ``mlflow models ...``."""

from __future__ import annotations

import functools
import json
import logging
import sys
from collections.abc import Callable
from typing import Any, TypeVar

import click

from modelpack import __version__
from modelpack.errors import ModelpackError
from modelpack.settings import Settings

__all__ = ["main"]

F = TypeVar("F", bound=Callable[..., Any])
_log = logging.getLogger("modelpack")


def handle_errors(fn: F) -> F:
    """Print ``Error: <message>`` for a ModelpackError and exit with its class's code."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except ModelpackError as exc:
            click.echo(f"Error: {exc.message}", err=True)
            sys.exit(exc.exit_code)

    return wrapper  # type: ignore[return-value]


model_uri_option = click.option(
    "-m",
    "--model-uri",
    required=True,
    metavar="URI",
    help="Model package: a local path or a file:// URI.",
)


@click.group(context_settings={"help_option_names": ["--help"]})
@click.version_option(__version__, prog_name="modelpack")
def main() -> None:
    """Package, inspect, score and serve models in MLflow's MLmodel format."""


@main.command()
@model_uri_option
@click.option("--json", "as_json", is_flag=True, help="Print machine-readable JSON.")
@handle_errors
def info(model_uri: str, as_json: bool) -> None:
    """Show a package's flavors, signature, environment and example."""
    from modelpack.info import describe, render

    summary = describe(model_uri, Settings.from_env())
    click.echo(json.dumps(summary, indent=2) if as_json else render(summary))
