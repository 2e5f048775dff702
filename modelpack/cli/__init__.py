"""The ``modelpack`` command line. Option names follow ``mlflow models ...``, so users switch by
changing the program's name. Each group of commands has its module; ``main`` gathers them and
imports a command's module only when that command runs (``modelpack serve`` never imports what
``build-docker`` needs), or when ``--help`` lists them all."""

from __future__ import annotations

import importlib

import click

from modelpack._version import __version__

__all__ = ["main"]

# Command name -> "module:attribute", in the order ``--help`` lists them.
_COMMANDS = {
    "info": "modelpack.cli._package:info",
    "serve": "modelpack.cli._serve:serve",
    "predict": "modelpack.cli._predict:predict",
    "prepare-env": "modelpack.cli._envs:prepare_env",
    "generate-dockerfile": "modelpack.cli._images:generate_dockerfile",
    "build-docker": "modelpack.cli._images:build_docker",
    "generate-k8s": "modelpack.cli._images:generate_k8s",
    "verify": "modelpack.cli._package:verify",
    "sign": "modelpack.cli._package:sign",
    "keygen": "modelpack.cli._package:keygen",
}


class _LazyGroup(click.Group):
    """A group whose commands are imported when they are looked up."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return [*_COMMANDS, *(name for name in self.commands if name not in _COMMANDS)]

    def get_command(self, ctx: click.Context | None, cmd_name: str) -> click.Command | None:
        if cmd_name not in self.commands and cmd_name in _COMMANDS:
            module, _, attr = _COMMANDS[cmd_name].partition(":")
            self.add_command(getattr(importlib.import_module(module), attr), cmd_name)
        return self.commands.get(cmd_name)


@click.group(cls=_LazyGroup, context_settings={"help_option_names": ["--help"]})
@click.version_option(__version__, prog_name="modelpack")
def main() -> None:
    """Package, inspect, score and serve models in MLflow's MLmodel format."""
