"""What cannot be built is refused in one line before anything is built: no conda on PATH, or
no interpreter of the package's Python version."""

from __future__ import annotations

import json
import os
import shutil
import sys
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from modelpack.cli import main
from modelpack.envs._conda import TOOLS
from modelpack.format import write_manifest

from .conftest import BODY


def _path_without_conda() -> str:
    """PATH minus every directory that holds conda, mamba or micromamba."""
    kept = [
        directory
        for directory in os.environ.get("PATH", "").split(os.pathsep)
        if not any(os.path.exists(os.path.join(directory, tool)) for tool in TOOLS)
    ]
    return os.pathsep.join(kept)


CONDA_MISSING = (
    "Error: --env-manager conda needs conda, mamba or micromamba on PATH and none is there: "
    "install Miniforge (https://conda-forge.org/download/) or micromamba, or use "
    "--env-manager uv, which needs only 'pip install modelpack[uv]'\n"
)


@pytest.mark.parametrize("command", ["serve", "predict", "prepare-env"])
def test_conda_without_a_conda_on_path_is_one_line_and_exit_2(
    tmp_path: Path, humane_package: Path, command: str
) -> None:
    (tmp_path / "in.json").write_text(json.dumps(BODY))
    extra = ["-i", str(tmp_path / "in.json")] if command == "predict" else []
    environ = {"PATH": _path_without_conda(), "MODELPACK_CACHE_DIR": str(tmp_path / "cache")}
    assert all(shutil.which(tool, path=environ["PATH"]) is None for tool in TOOLS)

    result = CliRunner().invoke(
        main,
        [command, "-m", str(humane_package), "--env-manager", "conda", *extra],
        env=environ,
    )

    assert (result.exit_code, result.output) == (2, CONDA_MISSING)
    assert not (tmp_path / "cache").exists()


@pytest.fixture
def python_399(tmp_path: Path, humane_package: Path) -> Path:
    """The humane package asking for Python 3.99, its manifest sealed again."""
    package = tmp_path / "py399"
    shutil.copytree(humane_package, package)
    env_file = package / "python_env.yaml"
    data = yaml.safe_load(env_file.read_text())
    data["python"] = "3.99"
    env_file.write_text(yaml.safe_dump(data, sort_keys=False))
    write_manifest(package)
    return package


@pytest.mark.parametrize("manager", ["uv", "virtualenv"])
def test_python_version_not_on_this_machine_is_one_line_naming_wanted_and_found(
    tmp_path: Path, python_399: Path, manager: str
) -> None:
    running = f"{sys.version_info.major}.{sys.version_info.minor}"

    result = CliRunner().invoke(
        main,
        ["prepare-env", "-m", str(python_399), "--env-manager", manager, "-q"],
        env={"MODELPACK_CACHE_DIR": str(tmp_path / "cache")},
    )

    assert result.exit_code == 2, result.output
    assert result.output.count("\n") == 1
    line = result.output
    assert line.startswith(
        "Error: the package wants Python 3.99 (python_env.yaml) and no interpreter of that "
        f"version is here; found: {running} ({sys.executable})"
    )
    assert line.endswith(f"or use --env-manager local to run it with this Python {running}\n")
    assert ("MODELPACK_ENV_ALLOW_PYTHON_DOWNLOAD=1" in line) is (manager == "uv")
    assert not (tmp_path / "cache" / "envs").exists() or not any(
        p for p in (tmp_path / "cache" / "envs").iterdir() if not p.name.startswith(".")
    )
