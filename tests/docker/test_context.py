"""The build context: the rendered Dockerfile (golden), the entrypoint, and what
``modelpack generate-dockerfile`` writes (no Docker daemon needed; pip downloads the wheels)."""

from __future__ import annotations

import os
import platform
import shutil
import stat
import subprocess
import zipfile
from email.parser import Parser
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner, Result
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

import modelpack
from modelpack.cli import main
from modelpack.docker.context import (
    default_base_image,
    entrypoint_script,
    image_python_version,
    installer_for,
    render_dockerfile,
)
from modelpack.docker.wheels import list_wheels
from modelpack.format.mlmodel import Model

GOLDEN = Path(__file__).parent / "golden"
CUSTOM_BASE = "registry.example.com/ml/python:3.11-slim"


CONDA = ("--env-manager", "conda")
UV = ("--env-manager", "uv")
GOLDEN_LABELS = {
    "io.modelpack.flavor": "sklearn",
    "io.modelpack.model-uuid": "0123456789abcdef0123456789abcdef",
    "io.modelpack.python": "3.11",
    "io.modelpack.version": "0.1.0",
}


def test_dockerfile_matches_the_golden_file() -> None:
    rendered = render_dockerfile("python:3.11-slim", GOLDEN_LABELS)

    assert rendered == (GOLDEN / "sklearn-python-3.11-slim.Dockerfile").read_text()


def test_dockerfile_installed_by_uv_matches_its_golden_file() -> None:
    rendered = render_dockerfile("python:3.11-slim", GOLDEN_LABELS, installer="uv")

    assert rendered == (GOLDEN / "sklearn-python-3.11-slim-uv.Dockerfile").read_text()


@pytest.mark.parametrize(
    ("manager", "installer"), [("local", "pip"), ("virtualenv", "pip"), ("uv", "uv")]
)
def test_the_env_manager_decides_what_installs_the_image(manager: str, installer: str) -> None:
    assert installer_for(manager) == installer


def test_generate_dockerfile_with_conda_is_refused_in_one_line(
    tmp_path: Path, sklearn_package: Path
) -> None:
    result = CliRunner().invoke(
        main,
        ["generate-dockerfile", "-m", str(sklearn_package), "-d", str(tmp_path / "ctx"), *CONDA],
    )

    assert (result.exit_code, result.output) == (
        2,
        "Error: --env-manager conda is not available for images: they install wheels from "
        "wheels/ into a venv, without conda; use --env-manager uv or virtualenv\n",
    )
    assert not (tmp_path / "ctx").exists()


def test_enable_mlserver_dockerfile_matches_its_golden_file() -> None:
    """--enable-mlserver changes two lines of the default: gRPC's port 8081 is exposed and the
    server runs with --enable-mlserver and MODELPACK_GRPC_PORT (8081 unless set)."""
    labels = {
        "io.modelpack.flavor": "sklearn",
        "io.modelpack.model-uuid": "0123456789abcdef0123456789abcdef",
        "io.modelpack.python": "3.11",
        "io.modelpack.version": "0.1.0",
    }

    rendered = render_dockerfile("python:3.11-slim", labels, enable_mlserver=True)

    assert rendered == (GOLDEN / "sklearn-python-3.11-slim-mlserver.Dockerfile").read_text()


def test_custom_base_image_is_used_by_both_stages() -> None:
    lines = render_dockerfile("registry.example.com/ml/python:3.12-slim").splitlines()

    assert [line for line in lines if line.startswith(("FROM", "LABEL"))] == [
        "FROM registry.example.com/ml/python:3.12-slim AS install",
        "FROM registry.example.com/ml/python:3.12-slim",
    ]


def test_default_base_image_is_python_slim_of_the_models_minor_version() -> None:
    assert default_base_image("3.10") == "python:3.10-slim"


def _package(tmp_path: Path, python_env: str | None, mlmodel_python: str | None) -> Path:
    pyfunc = {"loader_module": "mlflow.sklearn"}
    if mlmodel_python:
        pyfunc["python_version"] = mlmodel_python
    Model(flavors={"python_function": pyfunc, "sklearn": {}}).save(tmp_path)
    if python_env:
        (tmp_path / "python_env.yaml").write_text(yaml.safe_dump({"python": python_env}))
    return tmp_path


@pytest.mark.parametrize(
    ("python_env", "mlmodel_python", "expected"),
    [
        ("3.10.4", "3.11.7", "3.10"),  # python_env.yaml is what environment managers read
        (None, "3.12.1", "3.12"),
        ("3", "3.9.18", "3.9"),  # an unusable python_env.yaml falls back to MLmodel
        (None, None, None),
    ],
)
def test_image_python_version(
    tmp_path: Path, python_env: str | None, mlmodel_python: str | None, expected: str | None
) -> None:
    package = _package(tmp_path, python_env, mlmodel_python)

    assert image_python_version(package, Model.load(package)) == expected


def _run_entrypoint(
    tmp_path: Path, env: dict[str, str], *args: str, enable_mlserver: bool = False
) -> str:
    # A stand-in `modelpack` on PATH that shows how the real one would be called.
    fake = tmp_path / "modelpack"
    show = "grpc=$MODELPACK_GRPC_PORT " if enable_mlserver else ""
    fake.write_text(f'#!/bin/sh\necho "workers=$MODELPACK_WORKERS pid=$$ {show}args=$*"\n')
    fake.chmod(0o755)
    script = f'echo "shell=$$"; {entrypoint_script(enable_mlserver)}'
    result = subprocess.run(
        ["/bin/sh", "-c", script, "modelpack", *args],
        env={"PATH": f"{tmp_path}:/usr/bin:/bin", **env},
        capture_output=True,
        text=True,
        check=True,
    )
    shell_line, server_line = result.stdout.splitlines()
    # exec: the server replaces the shell, so docker stop's SIGTERM reaches it.
    assert shell_line.removeprefix("shell=") == server_line.split()[1].removeprefix("pid=")
    workers, _pid, *args = server_line.split()
    return " ".join([workers, *args])


def test_entrypoint_defaults_workers_to_the_cpu_count_and_appends_run_arguments(
    tmp_path: Path,
) -> None:
    cpus = subprocess.run(["nproc"], capture_output=True, text=True, check=True).stdout.strip()

    called = _run_entrypoint(tmp_path, {}, "-t", "5")

    assert called == f"workers={cpus} args=serve -m /opt/ml/model -h 0.0.0.0 -p 8080 -t 5"


def test_entrypoint_keeps_modelpack_workers_from_the_environment(tmp_path: Path) -> None:
    called = _run_entrypoint(tmp_path, {"MODELPACK_WORKERS": "3"})

    assert called == "workers=3 args=serve -m /opt/ml/model -h 0.0.0.0 -p 8080"


def test_enable_mlserver_entrypoint_serves_grpc_on_8081_unless_told_otherwise(
    tmp_path: Path,
) -> None:
    default = _run_entrypoint(tmp_path, {"MODELPACK_WORKERS": "2"}, enable_mlserver=True)
    chosen = _run_entrypoint(
        tmp_path, {"MODELPACK_WORKERS": "2", "MODELPACK_GRPC_PORT": "9000"}, enable_mlserver=True
    )

    serve = "serve -m /opt/ml/model -h 0.0.0.0 -p 8080 --enable-mlserver"
    assert default == f"workers=2 grpc=8081 args={serve}"
    assert chosen == f"workers=2 grpc=9000 args={serve}"


# -- generate-dockerfile (pip downloads the wheels; no Docker daemon) ---------------------------


@pytest.fixture(scope="module")
def private_package(tmp_path_factory: pytest.TempPathFactory, sklearn_package: Path) -> Path:
    """The wine package saved under umask 077: files only its owner may read."""
    path = tmp_path_factory.mktemp("private") / "wine"
    shutil.copytree(sklearn_package, path)
    for file in path.iterdir():
        file.chmod(0o600)
    return path


@pytest.fixture(scope="module")
def generated(
    tmp_path_factory: pytest.TempPathFactory, private_package: Path
) -> tuple[Result, Path]:
    out = tmp_path_factory.mktemp("context") / "ctx"
    result = CliRunner().invoke(
        main,
        [
            "generate-dockerfile",
            "-m",
            str(private_package),
            "-d",
            str(out),
            "--base-image",
            CUSTOM_BASE,
        ],
    )
    assert result.exit_code == 0, result.output
    return result, out


def test_generate_dockerfile_writes_dockerfile_model_and_wheels_only(
    generated: tuple[Result, Path],
) -> None:
    result, out = generated

    assert sorted(os.listdir(out)) == ["Dockerfile", "model", "wheels"]
    assert result.stdout.splitlines()[-1] == f"Build it with: docker build --tag NAME {out}"


def test_generated_dockerfile_is_the_rendered_one_with_the_packages_labels(
    generated: tuple[Result, Path], private_package: Path
) -> None:
    _, out = generated
    labels = {
        "io.modelpack.flavor": "sklearn",
        "io.modelpack.model-uuid": Model.load(private_package).model_uuid,
        "io.modelpack.python": "3.11",
        "io.modelpack.version": modelpack.__version__,
    }

    assert (out / "Dockerfile").read_text() == render_dockerfile(CUSTOM_BASE, labels)


def test_generated_model_is_a_copy_any_user_can_read(
    generated: tuple[Result, Path], private_package: Path
) -> None:
    _, out = generated
    copied = {p.name: stat.S_IMODE(p.stat().st_mode) for p in (out / "model").iterdir()}

    assert copied == {p.name: 0o644 for p in private_package.iterdir()}


def _closure(wheelhouse: Path, roots: list[str]) -> set[str]:
    """Names of the distributions ``roots`` need, by the metadata of the wheels themselves
    (markers evaluated for CPython 3.11 on Linux, the image's platform)."""
    requires: dict[str, list[str]] = {}
    for wheel in wheelhouse.glob("*.whl"):
        with zipfile.ZipFile(wheel) as archive:
            name = next(n for n in archive.namelist() if n.endswith(".dist-info/METADATA"))
            metadata = Parser().parsestr(archive.read(name).decode())
        requires[canonicalize_name(metadata["Name"])] = metadata.get_all("Requires-Dist") or []
    target = {"python_version": "3.11", "python_full_version": "3.11.2", "sys_platform": "linux"}
    target |= {"platform_system": "Linux", "platform_machine": platform.machine()}
    seen: set[tuple[str, frozenset[str]]] = set()
    todo = [Requirement(line) for line in roots]
    while todo:
        requirement = todo.pop()
        key = (canonicalize_name(requirement.name), frozenset(requirement.extras))
        if key in seen:
            continue
        seen.add(key)
        for line in requires[key[0]]:
            dependency = Requirement(line)
            if dependency.marker is None or any(
                dependency.marker.evaluate({**target, "extra": extra})
                for extra in requirement.extras or {""}
            ):
                todo.append(dependency)
    return {name for name, _ in seen}


def test_wheelhouse_holds_exactly_the_model_requirements_modelpack_and_their_dependencies(
    generated: tuple[Result, Path], private_package: Path
) -> None:
    _, out = generated
    requirements = (private_package / "requirements.txt").read_text().split()

    names = {wheel.name for wheel in list_wheels(out / "wheels")}

    assert names == _closure(out / "wheels", [*requirements, "modelpack"])


def test_wheelhouse_honours_the_model_pins(
    generated: tuple[Result, Path], private_package: Path
) -> None:
    _, out = generated
    pins = dict(
        line.split("==") for line in (private_package / "requirements.txt").read_text().split()
    )
    versions = {wheel.name: wheel.version for wheel in list_wheels(out / "wheels")}

    assert {name: versions[name] for name in pins} == pins


@pytest.mark.slow
def test_generate_dockerfile_enable_mlserver_adds_grpc_to_the_image(
    tmp_path: Path, sklearn_package: Path
) -> None:
    out = tmp_path / "ctx"

    result = CliRunner().invoke(
        main,
        ["generate-dockerfile", "-m", str(sklearn_package), "-d", str(out), "--enable-mlserver"],
    )

    assert result.exit_code == 0, result.output
    dockerfile = (out / "Dockerfile").read_text()
    assert "EXPOSE 8080 8081" in dockerfile.splitlines()
    assert "--enable-mlserver" in dockerfile
    requirements = (sklearn_package / "requirements.txt").read_text().split()
    names = {wheel.name for wheel in list_wheels(out / "wheels")}
    assert names == _closure(
        out / "wheels", [*requirements, "modelpack", "grpcio>=1.60", "protobuf>=4.25"]
    )


def test_generate_dockerfile_refuses_a_directory_with_other_files(
    tmp_path: Path, sklearn_package: Path
) -> None:
    (tmp_path / "notes.txt").write_text("mine")

    result = CliRunner().invoke(
        main, ["generate-dockerfile", "-m", str(sklearn_package), "-d", str(tmp_path)]
    )

    assert (result.exit_code, result.output) == (
        2,
        f"Error: output directory {tmp_path} holds other files (notes.txt); "
        "give an empty or new directory\n",
    )


def test_generate_dockerfile_refuses_a_package_that_does_not_match_its_manifest(
    tmp_path: Path, sklearn_package: Path
) -> None:
    package = tmp_path / "wine"
    shutil.copytree(sklearn_package, package)
    (package / "requirements.txt").write_text("evil==1.0\n")

    result = CliRunner().invoke(
        main, ["generate-dockerfile", "-m", str(package), "-d", str(tmp_path / "ctx")]
    )

    assert (result.exit_code, result.output) == (
        2,
        f"Error: {package} does not match its manifest (MANIFEST.json): changed: "
        f"requirements.txt; modelpack verify -m {package} lists every difference\n",
    )
    assert not (tmp_path / "ctx").exists()


def test_generate_dockerfile_with_uv_puts_uvs_wheel_beside_the_others(
    tmp_path: Path, sklearn_package: Path
) -> None:
    out = tmp_path / "ctx"
    result = CliRunner().invoke(
        main,
        ["generate-dockerfile", "-m", str(sklearn_package), "-d", str(out), *UV],
    )

    assert result.exit_code == 0, result.output
    assert "installed by uv" in result.stdout
    assert [wheel.name for wheel in list_wheels(out / "wheels" / "tools")] == ["uv"]
    assert "uv" not in {wheel.name for wheel in list_wheels(out / "wheels")}
    assert (out / "Dockerfile").read_text().splitlines()[5:8] == [
        "RUN python -m venv /tmp/uv && /tmp/uv/bin/python -m pip install --no-index "
        "--find-links /tmp/wheels/tools uv",
        'RUN /tmp/uv/bin/uv venv --python "$(command -v python)" /opt/modelpack',
        "RUN /tmp/uv/bin/uv pip install --python /opt/modelpack/bin/python --no-index "
        "--find-links /tmp/wheels /tmp/wheels/*.whl",
    ]


def test_xgboost_comes_as_its_cpu_build_and_generate_dockerfile_says_so(
    tmp_path: Path, xgboost_package: Path
) -> None:
    out = tmp_path / "ctx"
    pin = next(
        line
        for line in (xgboost_package / "requirements.txt").read_text().split()
        if line.startswith("xgboost==")
    )

    result = CliRunner().invoke(
        main, ["generate-dockerfile", "-m", str(xgboost_package), "-d", str(out)]
    )

    assert result.exit_code == 0, result.output
    assert (
        f"note: {pin} installed as xgboost-cpu: the same library without its GPU build and "
        "CUDA libraries (--gpu keeps it)"
    ) in result.output.splitlines()
    versions = {wheel.name: wheel.version for wheel in list_wheels(out / "wheels")}
    assert versions["xgboost-cpu"] == pin.removeprefix("xgboost==")
    assert "xgboost" not in versions
    assert not [name for name in versions if name.startswith("nvidia")]
    assert (out / "model" / "requirements.txt").read_text() == (
        xgboost_package / "requirements.txt"
    ).read_text()
