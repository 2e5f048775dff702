"""``modelpack prepare-env``: build (or find) the environment a package runs in."""

from __future__ import annotations

import os
import sys

import click

from modelpack.cli._common import (
    handle_errors,
    model_uri_option,
    progress,
    quiet_option,
)
from modelpack.envs import MANAGERS
from modelpack.settings import Settings

__all__ = ["prepare_env"]


@click.command("prepare-env")
@model_uri_option
@click.option(
    "--env-manager",
    type=click.Choice(MANAGERS),
    default="uv",
    show_default=True,
    help="uv, virtualenv (venv + pip) or conda build the environment; local only checks this "
    "one against the package's requirements.txt.",
)
@quiet_option
@handle_errors
def prepare_env(model_uri: str, env_manager: str, quiet: bool) -> None:
    """Build the environment `serve` and `predict` use with the same --env-manager, and print
    its path (for CI and images: later runs start at once).

    The environment is built once per package requirements, Python version and modelpack
    version, under MODELPACK_CACHE_DIR/envs; concurrent builds of the same one wait for each
    other. Packages come from the indexes pip is configured with here (or UV_* settings).
    """
    from modelpack.envs import check_local
    from modelpack.envs import prepare_env as prepare
    from modelpack.uris import resolve

    settings = Settings.from_env()
    package = resolve(model_uri, settings)
    if env_manager == "local":
        for warning in check_local(package):
            click.echo(f"warning: {warning}", err=True)
        click.echo(sys.prefix)
        return
    env = prepare(
        package,
        env_manager,
        settings,
        environ=os.environ,
        output=(lambda line: None) if quiet else progress,
    )
    click.echo(env.path)
