"""``--env-manager local``: the package's requirements.txt checked against this environment
before anything is loaded."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

import modelpack
from modelpack.cli import main
from modelpack.envs import check_local
from modelpack.errors import MissingDependency

from .conftest import BODY


def double_it(model_input: pd.DataFrame) -> pd.DataFrame:
    return model_input * 2


def _missing_humanize(package: Path) -> str:
    return (
        f"Error: the package's requirements.txt names humanize==4.17.0, not installed in this "
        f"environment: pip install -r {package / 'requirements.txt'}, or use --env-manager uv "
        "to run it in an environment built from its requirements\n"
    )


@pytest.mark.parametrize("command", ["predict", "serve"])
def test_local_refuses_a_package_whose_requirement_is_missing_in_one_line(
    tmp_path: Path, humane_package: Path, command: str
) -> None:
    (tmp_path / "in.json").write_text(json.dumps(BODY))
    args = ["-i", str(tmp_path / "in.json")] if command == "predict" else ["-p", "0"]

    before = dict(os.environ)

    result = CliRunner().invoke(main, [command, "-m", str(humane_package), *args])

    assert (result.exit_code, result.output) == (2, _missing_humanize(humane_package))
    assert dict(os.environ) == before  # the command's settings stay in the command


def test_check_local_raises_missing_dependency_naming_the_distribution(
    humane_package: Path,
) -> None:
    with pytest.raises(MissingDependency, match=r"names humanize==4\.17\.0, not installed"):
        check_local(humane_package)


def _package(tmp_path: Path, requirements: list[str]) -> Path:
    path = tmp_path / "double"
    modelpack.save_model(double_it, path, pip_requirements=requirements)
    return path


def test_another_version_is_one_warning_and_the_model_still_runs(tmp_path: Path) -> None:
    package = _package(tmp_path, ["numpy==1.0.0", "pandas"])
    body = {"dataframe_split": {"columns": ["x"], "data": [[1.5], [2.0]]}}
    (tmp_path / "in.json").write_text(json.dumps(body))

    result = CliRunner().invoke(
        main, ["predict", "-m", str(package), "-i", str(tmp_path / "in.json"), "-q"]
    )

    assert result.exit_code == 0, result.output
    assert result.stderr == (
        "warning: this environment differs from the package's requirements.txt: numpy "
        f"{np.__version__} (wants ==1.0.0); --env-manager uv builds one that matches\n"
    )
    assert json.loads(result.stdout) == {"predictions": [{"x": 3.0}, {"x": 4.0}]}


def test_lines_for_other_platforms_mlflow_and_options_are_not_checked(tmp_path: Path) -> None:
    package = _package(
        tmp_path,
        [
            "nonexistent-dist-xyz==1; sys_platform == 'win32'",
            "mlflow==0.1.0",
            "--extra-index-url https://example.invalid/simple",
            "NumPy",
        ],
    )

    assert check_local(package) == []


def test_several_missing_distributions_are_named_in_one_line(tmp_path: Path) -> None:
    package = _package(tmp_path, ["nonexistent-a==1", "Nonexistent_B>=2", "numpy"])

    with pytest.raises(MissingDependency) as raised:
        check_local(package)

    assert "names nonexistent-a==1, nonexistent-b>=2, not installed" in str(raised.value)
    assert "\n" not in str(raised.value)


def test_prepare_env_local_checks_this_environment(tmp_path: Path) -> None:
    package = _package(tmp_path, ["numpy", "pandas"])

    result = CliRunner().invoke(main, ["prepare-env", "-m", str(package), "--env-manager", "local"])

    assert result.exit_code == 0, result.output
    assert result.stderr == ""
    assert Path(result.stdout.strip()).is_dir()
