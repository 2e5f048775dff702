"""Environment files: what the model needs, pinned, and nothing the saving process imported."""

from __future__ import annotations

import importlib.metadata as md
from pathlib import Path

import pytest
import yaml

from modelpack.errors import InvalidArgument
from modelpack.flavors import sklearn as sk_flavor
from modelpack.format.environment import pin, resolve_requirements


def _requirements(path: Path) -> list[str]:
    return (path / "requirements.txt").read_text().splitlines()


def _names(lines: list[str]) -> set[str]:
    return {line.split("==")[0] for line in lines}


@pytest.mark.torch
def test_sklearn_requirements_hold_what_the_model_needs_and_no_torch(tmp_path: Path, elasticnet):
    import torch  # noqa: F401 - imported on purpose: MLflow 3.17 would list it

    sk_flavor.save_model(elasticnet, tmp_path / "skops")
    sk_flavor.save_model(elasticnet, tmp_path / "cp", serialization_format="cloudpickle")
    assert _names(_requirements(tmp_path / "skops")) == {"numpy", "pandas", "scikit-learn", "skops"}
    assert _names(_requirements(tmp_path / "cp")) == {
        "cloudpickle",
        "numpy",
        "pandas",
        "scikit-learn",
    }


def test_requirements_are_pinned_to_installed_versions(tmp_path: Path, elasticnet) -> None:
    sk_flavor.save_model(elasticnet, tmp_path / "m")
    assert f"scikit-learn=={md.version('scikit-learn')}" in _requirements(tmp_path / "m")


def test_pins_drop_local_version_labels() -> None:
    assert pin("torch") == "torch==" + md.version("torch").split("+")[0]
    assert "+" not in pin("torch")


def test_pipeline_modules_become_requirements(tmp_path: Path, elasticnet) -> None:
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    sk_flavor.save_model(
        make_pipeline(StandardScaler(), elasticnet), tmp_path / "m", serialization_format="pickle"
    )
    assert "scikit-learn" in _names(_requirements(tmp_path / "m"))
    assert "cloudpickle" not in _names(_requirements(tmp_path / "m"))


def test_python_env_and_conda_files(tmp_path: Path, elasticnet) -> None:
    import platform

    sk_flavor.save_model(elasticnet, tmp_path / "m")
    python_env = yaml.safe_load((tmp_path / "m" / "python_env.yaml").read_text())
    assert python_env["python"] == platform.python_version()
    assert python_env["dependencies"] == ["-r requirements.txt"]
    assert python_env["build_dependencies"][0] == f"pip=={md.version('pip')}"
    conda = yaml.safe_load((tmp_path / "m" / "conda.yaml").read_text())
    assert conda["channels"] == ["conda-forge"]
    assert conda["dependencies"][0] == f"python={platform.python_version()}"
    assert conda["dependencies"][2] == {"pip": _requirements(tmp_path / "m")}
    assert conda["name"] == "mlflow-env"


def test_pip_requirements_replace_and_constraints_move_out(tmp_path: Path, elasticnet) -> None:
    (tmp_path / "c.txt").write_text("numpy<3\n")
    sk_flavor.save_model(
        elasticnet, tmp_path / "m", pip_requirements=["scikit-learn", f"-c {tmp_path / 'c.txt'}"]
    )
    assert _requirements(tmp_path / "m") == ["scikit-learn", "-c constraints.txt"]
    assert (tmp_path / "m" / "constraints.txt").read_text() == "numpy<3\n"


def test_extra_pip_requirements_from_a_file_override_pins(tmp_path: Path, elasticnet) -> None:
    (tmp_path / "extra.txt").write_text("# extras\nscikit-learn>=1.0\nrequests==2.0\n")
    sk_flavor.save_model(elasticnet, tmp_path / "m", extra_pip_requirements=tmp_path / "extra.txt")
    lines = _requirements(tmp_path / "m")
    assert lines[-2:] == ["scikit-learn>=1.0", "requests==2.0"]
    assert not any(line.startswith("scikit-learn==") for line in lines)


def test_both_requirement_kinds_are_refused() -> None:
    with pytest.raises(InvalidArgument, match="not both"):
        resolve_requirements([], ["a"], ["b"])


def test_missing_requirements_file_is_refused(tmp_path: Path) -> None:
    with pytest.raises(InvalidArgument, match="requirements file not found"):
        resolve_requirements([], tmp_path / "nope.txt")
