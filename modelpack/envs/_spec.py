"""What an environment is built from (its key is a hash of all of it), and the job a builder
gets: files written for the installer, the environment variables it runs with, where its
progress goes."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Protocol

from modelpack.envs._index import IndexConfig
from modelpack.envs._process import Output
from modelpack.envs._requirements import Requirements, installed_version

__all__ = ["BuildJob", "Builder", "EnvSpec", "build_environ", "torch_pin"]

# Variables that would make an installer or a new interpreter look at another environment.
_FOREIGN = (
    "PYTHONPATH",
    "PYTHONHOME",
    "VIRTUAL_ENV",
    "CONDA_PREFIX",
    "PIP_USER",
    "PIP_TARGET",
    "PIP_PREFIX",
)


@dataclass(frozen=True)
class EnvSpec:
    """The inputs of an environment. Index settings are not among them: they decide where
    packages come from, not which."""

    manager: str
    python: str
    """``major.minor``."""
    requirements: tuple[str, ...]
    constraints: tuple[str, ...]
    conda: str | None
    """conda.yaml as canonical JSON (conda only)."""
    modelpack: str
    """The running modelpack: version and the sha256 of the wheel packed from its files, so
    that an edited checkout of the same version gets an environment of its own."""

    @property
    def key(self) -> str:
        material = json.dumps(
            {
                **asdict(self),
                "requirements": sorted(self.requirements),
                "constraints": sorted(self.constraints),
            },
            sort_keys=True,
        )
        digest = hashlib.sha256(material.encode("utf-8")).hexdigest()[:24]
        return f"{self.manager}-py{self.python}-{digest}"


@dataclass(frozen=True)
class BuildJob:
    """One build: the spec, the package, and what the installer reads."""

    spec: EnvSpec
    package: Path
    interpreter: str
    """What ``Builder.interpreter`` chose."""
    wheel: Path
    """modelpack's own wheel, packed from the running installation."""
    requirements_file: Path
    constraints_file: Path | None
    index: IndexConfig
    environ: Mapping[str, str]
    """The environment of the installer (``build_environ``)."""
    output: Output
    workdir: Path
    """A temporary directory for files the build writes (removed afterwards)."""


class Builder(Protocol):
    """One environment manager."""

    manager: str

    def interpreter(self, wanted: str, source: str) -> str:
        """The interpreter to build on for Python ``wanted`` (``major.minor``, read from
        ``source``); a one-line ``MissingDependency`` when there is none."""
        ...

    def build(self, target: Path, job: BuildJob) -> None:
        """Create the environment at ``target`` (missing); raise ``EnvironmentBuildFailed``
        with the installer's reason when it fails."""
        ...


def build_environ(environ: Mapping[str, str]) -> dict[str, str]:
    """``environ`` without what points an installer at another environment."""
    return {k: v for k, v in environ.items() if k not in _FOREIGN}


def torch_pin(requirements: Requirements) -> tuple[str | None, str | None]:
    """A constraint pinning torch to the build installed here, when the package asks for torch
    and that build fits; otherwise a note that the indexes decide which build comes.

    On Linux, PyPI's ``torch`` is a CUDA build of several GB; the torch installed here was chosen
    on purpose (a ``+cpu`` build in this project), so an environment gets the same one.
    """
    asks = [line for line in requirements.parsed() if line.name == "torch"]
    if not asks:
        return None, None
    here = installed_version("torch")
    wanted = ", ".join(line.text for line in asks)
    if here is not None and all(line.satisfied_by(here) is True for line in asks):
        return f"torch=={here}", f"{wanted}: pinned to torch=={here}, the build installed here"
    found = f"torch {here} is installed here" if here else "torch is not installed here"
    return None, (
        f"{wanted}: {found}, so the configured indexes decide which build is installed (on "
        "Linux PyPI's is a CUDA build; add https://download.pytorch.org/whl/cpu as an extra "
        "index for CPU wheels)"
    )
