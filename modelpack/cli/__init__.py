"""The ``modelpack`` command line. Option names follow ``mlflow models ...``, so users switch by
changing the program's name. Each group of commands has its module; ``main`` gathers them."""

from __future__ import annotations

import click

from modelpack._version import __version__
from modelpack.cli._envs import prepare_env
from modelpack.cli._images import build_docker, generate_dockerfile, generate_k8s
from modelpack.cli._package import info, keygen, sign, verify
from modelpack.cli._predict import predict
from modelpack.cli._serve import serve

__all__ = ["main"]


@click.group(context_settings={"help_option_names": ["--help"]})
@click.version_option(__version__, prog_name="modelpack")
def main() -> None:
    """Package, inspect, score and serve models in MLflow's MLmodel format."""


_COMMANDS = (
    info,
    serve,
    predict,
    prepare_env,
    generate_dockerfile,
    build_docker,
    generate_k8s,
    verify,
    sign,
    keygen,
)
for _command in _COMMANDS:
    main.add_command(_command)
