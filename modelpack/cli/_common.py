"""What the commands share: the error handler, common options, progress lines."""

from __future__ import annotations

import functools
import os
import sys
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, TypeVar

import click

from modelpack.envs import MANAGERS
from modelpack.errors import ModelpackError
from modelpack.settings import Settings

__all__ = [
    "child_args",
    "enter_environment",
    "env_manager_option",
    "handle_errors",
    "model_uri_option",
    "progress",
    "quiet_option",
]

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
    type=click.Choice(MANAGERS),
    default="local",
    show_default=True,
    help="Where the model runs: local (this Python environment, checked against the "
    "package's requirements.txt), or an environment built from the package's requirements by "
    "uv, virtualenv (venv + pip) or conda, kept in MODELPACK_CACHE_DIR/envs and reused.",
)

quiet_option = click.option(
    "-q", "--quiet", is_flag=True, help="No progress lines (environment builds, progress bars)."
)


def enter_environment(
    ctx: click.Context,
    env_manager: str,
    model_uri: str,
    settings: Settings,
    quiet: bool,
    child_env: Mapping[str, str] | None = None,
) -> str:
    """The local path of the package, once this environment can run it (``local``).

    Any other manager: find or build the package's environment, then run this same command
    inside it with ``--env-manager local`` (the process is replaced; this never returns),
    with ``child_env`` added to its environment variables.
    """
    from modelpack.envs import check_local, exec_in, prepare_env
    from modelpack.uris import resolve

    package = resolve(model_uri, settings)
    if env_manager == "local":
        for warning in check_local(package):
            click.echo(f"warning: {warning}", err=True)
        return str(package)
    env = prepare_env(
        package, env_manager, settings, environ=os.environ, output=_silent if quiet else progress
    )
    exec_in(env, child_args(ctx, package), child_env)


def child_args(ctx: click.Context, package: Path) -> list[str]:
    """The arguments of the running command, rebuilt from its parsed options, for a run of the
    same command in another environment: the resolved package instead of the URI (no second
    download), ``--env-manager local``, and nothing not given (the environment variables, the
    same in the child, fill those in again)."""
    assert ctx.info_name is not None
    args = [ctx.info_name]
    for param in ctx.command.params:
        if not isinstance(param, click.Option) or param.name in (None, "env_manager"):
            continue
        value = str(package) if param.name == "model_uri" else ctx.params.get(param.name)
        name = max(param.opts, key=len)
        if value is None or (param.is_flag and not param.secondary_opts and not value):
            continue
        if param.is_flag:
            args.append(name if value else max(param.secondary_opts, key=len))
        elif param.multiple:
            for item in value:
                args += [name, str(item)]
        else:
            args += [name, str(value)]
    return [*args, "--env-manager", "local"]


def _silent(line: str) -> None:
    pass


def progress(line: str) -> None:
    click.echo(line, err=True)
