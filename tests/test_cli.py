"""The command line: `modelpack info` (other commands have their own test modules)."""

from __future__ import annotations

import json
import platform
import subprocess
import sys
from importlib.metadata import version
from pathlib import Path

from click.testing import CliRunner

from modelpack import __version__
from modelpack.cli import main


def test_info_shows_flavor_signature_and_requirements(sklearn_package: Path) -> None:
    result = CliRunner().invoke(main, ["info", "-m", str(sklearn_package)])
    assert result.exit_code == 0, result.output
    assert "Flavor:   sklearn" in result.output
    assert "fixed acidity" in result.output
    assert "scikit-learn==" in result.output
    assert "Example:  type=dataframe, shape=[3, 11]" in result.output
    assert (
        f"Runs on:  modelpack {__version__}, python {platform.python_version()}, "
        f"scikit-learn {version('scikit-learn')}"
    ) in result.output


def test_info_json(sklearn_package: Path) -> None:
    result = CliRunner().invoke(main, ["info", "-m", str(sklearn_package), "--json"])
    summary = json.loads(result.output)
    assert summary["flavor"] == "sklearn"
    assert summary["signature"]["inputs"][0] == {
        "name": "fixed acidity",
        "type": "double",
        "required": True,
    }
    assert summary["pickle"] is None


def test_info_on_a_directory_that_is_not_a_package(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["info", "-m", str(tmp_path)])
    assert result.exit_code == 2
    assert (
        result.output
        == f"Error: no MLmodel file at {tmp_path}/MLmodel: '{tmp_path}' is not a model package\n"
    )


def test_info_on_unreadable_yaml(tmp_path: Path) -> None:
    (tmp_path / "MLmodel").write_text("flavors: [")
    result = CliRunner().invoke(main, ["info", "-m", str(tmp_path)])
    assert result.exit_code == 2
    assert result.output.startswith(f"Error: {tmp_path}/MLmodel is not a readable YAML file")
    assert "Traceback" not in result.output


def test_info_on_unknown_flavor(tmp_path: Path) -> None:
    (tmp_path / "MLmodel").write_text("flavors: {h2o: {}}\n")
    result = CliRunner().invoke(main, ["info", "-m", str(tmp_path)])
    assert result.exit_code == 2
    assert "include none that modelpack can load" in result.output


def test_python_dash_m_runs_the_cli() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "modelpack", "--version"], capture_output=True, text=True, check=True
    )
    assert out.stdout.startswith("modelpack, version ")
