"""``--env-manager conda``: the package's ``conda.yaml`` with ``micromamba``, ``mamba`` or
``conda`` (the first on PATH), then modelpack's wheel with the environment's pip.

conda.yaml names the Python version itself, so no interpreter here has to match. Its ``pip:``
lines are installed by conda from a temporary directory, so relative ``-r``/``-c`` files are
made absolute (they lie in the package).
"""

from __future__ import annotations

import json
import os
import re
import shutil
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from modelpack.envs._process import run
from modelpack.envs._requirements import canonical, parse
from modelpack.envs._spec import BuildJob
from modelpack.envs._virtualenv import pip_reason, pip_shown
from modelpack.errors import EnvironmentBuildFailed, InvalidModel, MissingDependency
from modelpack.format.environment import CONDA_ENV_FILE

__all__ = ["TOOLS", "CondaBuilder", "conda_python", "find_conda", "read_conda_yaml"]

TOOLS = ("micromamba", "mamba", "conda")
_PIP_QUIET = ("--disable-pip-version-check", "--progress-bar", "off")
_PYTHON = re.compile(r"^python\s*[=<>!~]*\s*(\d+)\.(\d+)")


def find_conda(environ: Mapping[str, str]) -> str:
    """The first of micromamba, mamba, conda on PATH; a one-line error when none is."""
    for tool in TOOLS:
        found = shutil.which(tool, path=environ.get("PATH", os.defpath))
        if found is not None:
            return found
    raise MissingDependency(
        "--env-manager conda needs conda, mamba or micromamba on PATH and none is there: "
        "install Miniforge (https://conda-forge.org/download/) or micromamba, or use "
        "--env-manager uv, which needs only 'pip install modelpack[uv]'"
    )


def read_conda_yaml(package: Path) -> dict[str, Any]:
    """The package's conda.yaml without its ``name`` and without modelpack in ``pip:``
    (modelpack comes from this installation)."""
    path = package / CONDA_ENV_FILE
    if not path.is_file():
        raise InvalidModel(
            f"{package} has no {CONDA_ENV_FILE} for --env-manager conda; use --env-manager uv, "
            "which reads requirements.txt"
        )
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise InvalidModel(f"{CONDA_ENV_FILE} is not valid YAML: {exc}") from None
    if not isinstance(data, dict) or not isinstance(data.get("dependencies", []), list):
        raise InvalidModel(f"{CONDA_ENV_FILE} has no list of dependencies")
    data.pop("name", None)
    dependencies = []
    for item in data.get("dependencies", []):
        if isinstance(item, dict) and isinstance(item.get("pip"), list):
            kept = [
                str(line)
                for line in item["pip"]
                if (parsed := parse(str(line))) is None or parsed.name != canonical("modelpack")
            ]
            item = {**item, "pip": kept}
        dependencies.append(item)
    data["dependencies"] = dependencies
    return data


def conda_python(data: Mapping[str, Any]) -> str | None:
    """``major.minor`` of the ``python`` dependency of a conda.yaml, or None."""
    for item in data.get("dependencies", []):
        found = _PYTHON.match(str(item)) if isinstance(item, str) else None
        if found:
            return f"{found.group(1)}.{found.group(2)}"
    return None


def canonical_yaml(data: Mapping[str, Any]) -> str:
    return json.dumps(data, sort_keys=True, default=str)


def _absolute(data: dict[str, Any], package: Path) -> dict[str, Any]:
    """``-r file`` / ``-c file`` in ``pip:`` lines made absolute (conda runs pip elsewhere)."""
    dependencies = []
    for item in data.get("dependencies", []):
        if isinstance(item, dict) and isinstance(item.get("pip"), list):
            lines = []
            for line in item["pip"]:
                found = re.match(r"^(-r|-c|--requirement|--constraint)\s+(.+)$", str(line))
                if found and not os.path.isabs(found.group(2)):
                    line = f"{found.group(1)} {(package / found.group(2)).resolve()}"
                lines.append(line)
            item = {**item, "pip": lines}
        dependencies.append(item)
    return {**data, "dependencies": dependencies}


class CondaBuilder:
    manager = "conda"

    def __init__(self, environ: Mapping[str, str]) -> None:
        self.tool = find_conda(environ)

    def interpreter(self, wanted: str, source: str) -> str:
        return wanted  # conda installs the Python conda.yaml names

    def build(self, target: Path, job: BuildJob) -> None:
        spec_file = job.workdir / CONDA_ENV_FILE
        data = _absolute(read_conda_yaml(job.package), job.package)
        spec_file.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
        if Path(self.tool).name == "micromamba":
            command = [self.tool, "create", "--yes", "--prefix", str(target), "--file"]
        else:
            command = [self.tool, "env", "create", "--prefix", str(target), "--file"]
        created = run(
            [*command, str(spec_file)],
            environ=job.environ,
            output=job.output,
            show=lambda line: f"  {line.strip()}" if line.startswith("  + ") else pip_shown(line),
            cwd=job.workdir,
        )
        if created.status != 0:
            raise EnvironmentBuildFailed(
                f"{Path(self.tool).name} could not create the environment from "
                f"{CONDA_ENV_FILE}: {pip_reason(created.tail, created.status)}"
            )
        installed = run(
            [target / "bin" / "python", "-m", "pip", "install", *_PIP_QUIET, job.wheel],
            environ=job.environ,
            output=job.output,
            show=pip_shown,
            cwd=job.workdir,
        )
        if installed.status != 0:
            raise EnvironmentBuildFailed(
                f"pip could not install modelpack into the conda environment: "
                f"{pip_reason(installed.tail, installed.status)}"
            )
