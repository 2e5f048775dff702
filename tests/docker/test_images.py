"""Images built by the real ``modelpack build-docker`` and run by a real (private) Docker daemon.

The base image is a stand-in: no registry is reachable here, so ``python:3.11-slim`` is Debian
bookworm with its python3 (3.11.2) and venv, made by debootstrap and ``docker import``ed
under that tag (see ``private_dockerd.py``). Everything above the base is what users get.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import httpx
import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner
from private_dockerd import Container, Image, PrivateDockerd, run_container

import modelpack
from modelpack.cli import main
from modelpack.docker import BuildContext, build_image
from modelpack.errors import ImageBuildFailed

pytestmark = [pytest.mark.docker, pytest.mark.slow, pytest.mark.xdist_group("docker")]

# Seed 000's request, verbatim: an MLflow 1.x client (pandas-split without an envelope), columns
# in alphabetical order rather than the model's, whole numbers for double columns.
SEED_000_CONTENT_TYPE = "application/json; format=pandas-split"
SEED_000_BODY = (
    '{"columns":["alcohol", "chlorides", "citric acid", "density", "fixed acidity", '
    '"free sulfur dioxide", "pH", "residual sugar", "sulphates", "total sulfur dioxide", '
    '"volatile acidity"],"data":[[12.8, 0.029, 0.48, 0.98, 6.2, 29, 3.33, 1.2, 0.39, 75, 0.66]]}'
)


def in_process(image: Image, frame: pd.DataFrame) -> np.ndarray:
    return np.asarray(modelpack.load_model(str(image.package)).predict(frame))


def assert_same_predictions(received: list[float], expected: np.ndarray) -> None:
    # Exact in the model's own dtype: XGBoost predicts float32, written as float32 in JSON.
    np.testing.assert_array_equal(np.asarray(received, dtype=expected.dtype), expected)


def test_build_report_names_image_base_flavor_and_packages(image: Image) -> None:
    lines = image.report.splitlines()
    assert lines[0].startswith(f"Built image {image.name} (")
    assert lines[2:4] == [
        "  base:     python:3.11-slim (Python 3.11.2)",
        f"  flavor:   {image.flavor}",
    ]
    assert f"    modelpack=={modelpack.__version__}" in lines
    assert lines[-1] == f"  run:      docker run --rm -p 127.0.0.1:8080:8080 {image.name}"


def test_build_report_gives_the_size_of_each_layer(image: Image) -> None:
    lines = image.report.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("  layers:   "))
    count = int(lines[start].split()[1])
    layers = [line.split(maxsplit=2) for line in lines[start + 1 : start + 1 + count]]
    size_mb = float(lines[1].split()[1])

    assert lines[start + 1 + count] == lines[-1]  # the run line follows the layers
    assert [unit for _, unit, _ in layers] == ["MB"] * count
    steps = [step for _, _, step in layers]
    assert any(step.startswith("COPY") and "/opt/modelpack" in step for step in steps), steps
    assert any(step.startswith("COPY") and "/opt/ml/model" in step for step in steps), steps
    # The layers add up to the image (each rounded to 0.1 MB).
    assert abs(sum(float(size) for size, _, _ in layers) - size_mb) <= 0.1 * (count + 1)


def test_images_hold_no_installer(image: Image) -> None:
    packages = [line.strip() for line in image.report.splitlines() if line.startswith("    ")]

    assert [p for p in packages if p.split("==")[0].lower() in ("pip", "uv")] == []


def test_xgboost_images_hold_xgboost_cpu_and_say_so(image: Image) -> None:
    lines = image.report.splitlines()
    packages = [line.strip() for line in lines if line.startswith("    ") and "==" in line]
    names = {p.split("==")[0].lower() for p in packages}
    notes = [line for line in lines if line.startswith("  requirement: ")]
    if image.flavor != "xgboost":
        assert (notes, "xgboost-cpu" in names) == ([], False)
        return
    pin = next(
        line
        for line in (image.package / "requirements.txt").read_text().split()
        if line.startswith("xgboost==")
    )
    assert notes == [
        f"  requirement: {pin} installed as xgboost-cpu: the same library without its GPU "
        "build and CUDA libraries (--gpu keeps it)"
    ]
    assert f"xgboost-cpu=={pin.removeprefix('xgboost==')}" in packages
    assert "xgboost" not in names
    assert not [name for name in names if name.startswith("nvidia")]


def test_serving_input_example_predicts_as_in_process(
    served: tuple[Image, Container],
) -> None:
    image, container = served
    body = (image.package / "serving_input_example.json").read_bytes()
    split = json.loads(body)["dataframe_split"]
    expected = in_process(image, pd.DataFrame(split["data"], columns=split["columns"]))

    response = httpx.post(
        f"{container.url}/invocations",
        content=body,
        headers={"Content-Type": "application/json"},
        timeout=30,
    )

    assert (response.status_code, list(response.json())) == (200, ["predictions"])
    assert_same_predictions(response.json()["predictions"], expected)


def test_seed_000_mlflow_1x_curl_body_predicts_as_in_process(
    served: tuple[Image, Container],
) -> None:
    image, container = served
    split = json.loads(SEED_000_BODY)
    frame = pd.DataFrame(split["data"], columns=split["columns"], dtype="float64")
    expected = in_process(image, frame)

    response = httpx.post(
        f"{container.url}/invocations",
        content=SEED_000_BODY,
        headers={"Content-Type": SEED_000_CONTENT_TYPE},
        timeout=30,
    )

    # A 1.x request gets a 1.x answer: the bare list of predictions, as MLflow 1.x sent it.
    assert (response.status_code, type(response.json())) == (200, list)
    assert_same_predictions(response.json(), expected)


def test_images_hold_bytecode_only_for_what_serving_imports(
    served: tuple[Image, Container], dockerd: PrivateDockerd
) -> None:
    _, container = served
    find = (
        "import pathlib, sys; site = pathlib.Path(sys.prefix, 'lib'); "
        "print(*sorted(str(p.relative_to(site)) for p in site.rglob('*.pyc')), sep='\\n')"
    )

    compiled = dockerd.docker("exec", container.id, "python", "-c", find).split()
    names = {path.split("/__pycache__/")[0].split("site-packages/", 1)[-1] for path in compiled}

    assert {"modelpack/serving", "modelpack/engine", "uvicorn/protocols/http"} <= names
    assert any(name.startswith(("sklearn", "xgboost")) for name in names), sorted(names)[:20]
    # Never imported to serve: pandas' plotting backend, scikit-learn's datasets.
    unused = ("pandas/plotting/_matplotlib", "sklearn/datasets")
    assert [name for name in names if name.startswith(unused)] == []


def test_server_process_runs_as_the_non_root_user(
    served: tuple[Image, Container], dockerd: PrivateDockerd
) -> None:
    _, container = served

    status = dockerd.docker("exec", container.id, "cat", "/proc/1/status").splitlines()

    ids = [line.split()[1:] for line in status if line.startswith(("Uid:", "Gid:"))]
    # PID 1 is the server itself (the entrypoint's shell exec'd it): real, effective, saved, fs.
    assert ids == [["10001"] * 4, ["10001"] * 4]


def test_docker_stop_ends_the_server_cleanly_well_within_the_grace_period(
    image: Image, dockerd: PrivateDockerd
) -> None:
    container = run_container(dockerd, image)
    try:
        started = time.monotonic()
        dockerd.docker("stop", container.id, timeout=30)
        stopped_after = time.monotonic() - started
        exit_code = dockerd.docker("inspect", "--format", "{{.State.ExitCode}}", container.id)
    finally:
        dockerd.docker("rm", "--force", container.id, check=False)

    # Docker sends SIGKILL after 10 s; a server that ignores SIGTERM would take all of them.
    assert stopped_after < 5
    assert exit_code.strip() == "0"


def test_a_failing_build_is_reported_in_one_line(
    dockerd: PrivateDockerd, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "Dockerfile").write_text(
        "FROM python:3.11-slim\nRUN echo 'step output' && exit 3\n"
    )
    context = BuildContext(tmp_path, "python:3.11-slim", "3.11", "sklearn", [])
    monkeypatch.setenv("DOCKER_HOST", dockerd.host)
    streamed: list[str] = []

    with pytest.raises(ImageBuildFailed) as caught:
        build_image(context, "modelpack-test/broken", streamed.append)

    assert str(caught.value).startswith("docker build failed with exit status ")
    assert "\n" not in str(caught.value)
    assert "step output" in streamed


def test_enable_mlserver_image_serves_v2_over_grpc_on_8081(
    dockerd: PrivateDockerd, sklearn_package: Path, wine_frame: pd.DataFrame
) -> None:
    """``build-docker --enable-mlserver``: port 8081 is exposed and answers V2 over gRPC, and
    the model is ``mlflow-model``, as ``mlflow models serve --enable-mlserver`` named it."""
    tg = pytest.importorskip("tritonclient.grpc")
    name = "modelpack-test/wine-mlserver"
    result = CliRunner().invoke(
        main,
        ["build-docker", "-m", str(sklearn_package), "-n", name, "--enable-mlserver"],
        env={"DOCKER_HOST": dockerd.host},
    )
    assert result.exit_code == 0, result.output
    exposed = dockerd.docker("image", "inspect", "--format", "{{json .Config.ExposedPorts}}", name)
    cid = dockerd.docker(
        "run", "--detach", "--network", dockerd.network,
        "--publish", "127.0.0.1::8080", "--publish", "127.0.0.1::8081", name,
    ).strip()  # fmt: skip
    try:
        rest, grpc = (
            dockerd.docker("port", cid, f"{p}/tcp").split()[0].rsplit(":", 1)[1]
            for p in (8080, 8081)
        )
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"http://127.0.0.1:{rest}/v2/health/ready", timeout=2).is_success:
                    break
            except httpx.TransportError:
                pass
            time.sleep(0.5)
        frame = wine_frame.head(4)
        inputs = []
        for column in frame.columns:
            tensor = tg.InferInput(column, [len(frame)], "FP64")
            tensor.set_data_from_numpy(frame[column].to_numpy())
            inputs.append(tensor)
        client = tg.InferenceServerClient(f"127.0.0.1:{grpc}")
        ready = client.is_model_ready("mlflow-model")
        answer = client.infer("mlflow-model", inputs).as_numpy("output-0")
        client.close()
    finally:
        logs = dockerd.logs(cid)
        dockerd.docker("rm", "--force", cid, check=False)

    assert json.loads(exposed) == {"8080/tcp": {}, "8081/tcp": {}}
    assert ready, logs[-3000:]
    expected = modelpack.load_model(sklearn_package).predict(frame)
    np.testing.assert_array_equal(answer, expected)
