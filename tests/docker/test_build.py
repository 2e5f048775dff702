"""The docker build step without a daemon: its command, its errors, its report."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from modelpack.cli import main
from modelpack.docker.build import BuildReport, Layer, build_command, find_docker, layer_step
from modelpack.errors import ImageBuildFailed


def test_build_command_is_an_argument_list_without_network() -> None:
    command = build_command("/usr/bin/docker", Path("/tmp/ctx dir"), "wine:1; rm -rf /")

    assert command == [
        "/usr/bin/docker",
        "build",
        "--network",
        "none",
        "--tag",
        "wine:1; rm -rf /",
        "/tmp/ctx dir",
    ]


def test_find_docker_without_docker_on_path(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))

    with pytest.raises(ImageBuildFailed) as caught:
        find_docker()

    assert str(caught.value) == "docker is not installed: no 'docker' command on PATH"


def test_build_docker_without_docker_fails_fast_with_one_line(
    tmp_path: Path, sklearn_package: Path
) -> None:
    result = CliRunner().invoke(
        main, ["build-docker", "-m", str(sklearn_package)], env={"PATH": str(tmp_path)}
    )

    assert (result.exit_code, result.output) == (
        1,
        "Error: docker is not installed: no 'docker' command on PATH\n",
    )


def test_find_docker_when_no_daemon_answers(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    if shutil.which("docker") is None:
        pytest.skip("the docker CLI is not installed")
    monkeypatch.setenv("DOCKER_HOST", f"unix://{tmp_path}/nobody.sock")

    with pytest.raises(ImageBuildFailed) as caught:
        find_docker()

    message = str(caught.value)
    assert message.startswith(
        f"no Docker daemon answers: Cannot connect to the Docker daemon at "
        f"unix://{tmp_path}/nobody.sock."
    )
    assert "\n" not in message


def test_build_report_renders_size_base_python_and_packages() -> None:
    report = BuildReport(
        image="wine:1",
        image_id="sha256:0123456789abcdef0123",
        size_bytes=453_123_456,
        base_image="python:3.11-slim",
        python_version="3.11.2",
        flavor="sklearn",
        packages=["modelpack==0.1.0", "scikit-learn==1.9.1"],
        seconds=40.44,
        requirements=("xgboost==3.2.0 installed as xgboost-cpu: the CPU build",),
        layers=(Layer(74_812_345, "(base image)"), Layer(301_234_567, "COPY /opt/modelpack")),
    )

    assert report.render() == (
        "Built image wine:1 (0123456789ab)\n"
        "  size:     453.1 MB\n"
        "  base:     python:3.11-slim (Python 3.11.2)\n"
        "  flavor:   sklearn\n"
        "  build:    40.4 s\n"
        "  requirement: xgboost==3.2.0 installed as xgboost-cpu: the CPU build\n"
        "  packages: 2\n"
        "    modelpack==0.1.0\n"
        "    scikit-learn==1.9.1\n"
        "  layers:   2 (size, step; base image first)\n"
        "        74.8 MB  (base image)\n"
        "       301.2 MB  COPY /opt/modelpack\n"
        "  run:      docker run --rm -p 127.0.0.1:8080:8080 wine:1"
    )


def test_build_report_of_an_enable_mlserver_image_publishes_grpc_too() -> None:
    report = BuildReport(
        image="wine:1",
        image_id="sha256:0123456789abcdef0123",
        size_bytes=1,
        base_image="python:3.11-slim",
        python_version="3.11.2",
        flavor="sklearn",
        packages=[],
        seconds=1.0,
        ports=(8080, 8081),
    )

    assert report.render().splitlines()[-1] == (
        "  run:      docker run --rm -p 127.0.0.1:8080:8080 -p 127.0.0.1:8081:8081 wine:1"
    )


@pytest.mark.parametrize(
    ("created_by", "step"),
    [
        ("/bin/sh -c #(nop)  EXPOSE 8080", "EXPOSE 8080"),
        ("/bin/sh -c useradd --system modelpack", "RUN useradd --system modelpack"),
        ("COPY /opt/modelpack /opt/modelpack # buildkit", "COPY /opt/modelpack /opt/modelpack"),
        ("RUN /bin/sh -c useradd --system modelpack # buildkit", "RUN useradd --system modelpack"),
        ("", "(base image)"),
        (
            "/bin/sh -c #(nop) COPY dir:" + "0123456789abcdef" * 4 + " in /opt/modelpack ",
            "COPY dir:0123456789ab in /opt/modelpack",
        ),
        ("RUN /bin/sh -c " + "x" * 100, "RUN " + "x" * 65 + "..."),
    ],
)
def test_layer_steps_read_as_the_dockerfile_line_on_one_short_line(
    created_by: str, step: str
) -> None:
    assert layer_step(created_by) == step
