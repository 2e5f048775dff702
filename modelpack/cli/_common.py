"""What the commands share: the error handler, common options, progress lines."""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable
from typing import Any, TypeVar

import click

from modelpack.errors import ModelpackError

__all__ = ["env_manager_option", "handle_errors", "local_only", "model_uri_option", "progress"]

F = TypeVar("F", bound=Callable[..., Any])


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
    help="Model package: a path, file://, runs:/, models:/, s3://, gs://, abfs:// or an http(s):// "
    "link to a .tar.gz or .zip (runs:/ and models:/ read MODELPACK_TRACKING_URI).",
)


env_manager_option = click.option(
    "--env-manager",
    type=click.Choice(["local", "uv", "virtualenv", "conda"]),
    default="local",
    show_default=True,
    help="Where the model runs; only 'local' (this Python environment) so far.",
)


def local_only(env_manager: str) -> None:
    from modelpack.errors import InvalidArgument

    if env_manager != "local":
        raise InvalidArgument(
            f"--env-manager {env_manager} is not supported yet; install the model's "
            "requirements in this environment and use --env-manager local"
        )


def progress(line: str) -> None:
    click.echo(line, err=True)
