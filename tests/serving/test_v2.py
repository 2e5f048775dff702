"""The Open Inference Protocol (V2) over REST: a real `modelpack serve` and tritonclient.http, in
JSON and in the binary tensor extension, against the in-process predictions; the same numbers as
/invocations; seed 003's `--enable-mlserver` command; one test per client error."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pandas as pd
import pytest
from hypothesis import given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from servers import Server, finish, launch, wait_ready
from strategies import v2_bodies

import modelpack
from modelpack.format.mlmodel import PYFUNC, Model
from modelpack.pyfunc import PyFuncModel
from modelpack.serving import create_app
from modelpack.serving._v2_service import identity_from_uri
from modelpack.serving.runtime import Runtime
from modelpack.settings import Settings
from modelpack.signature import (
    Array,
    ColSpec,
    DataType,
    ModelSignature,
    ParamSchema,
    ParamSpec,
    Schema,
    TensorSpec,
)

from .apps import AppClient, _PlainFlavor, _Predictor, client_for, plain_model
from .v2models import TORCH_WIDTH

th = pytest.importorskip("tritonclient.http")

WINE_METADATA_INPUT = {"datatype": "FP64", "shape": [-1, 1], "parameters": {"content_type": "np"}}


def client(server: Server) -> Any:
    return th.InferenceServerClient(f"127.0.0.1:{server.port}")


def text(values: np.ndarray) -> list[str]:
    """BYTES elements as text (tritonclient gives str from JSON, bytes from binary data)."""
    return [v.decode("utf-8") if isinstance(v, bytes) else v for v in values.ravel().tolist()]


def infer_input(name: str, values: np.ndarray, datatype: str, binary: bool) -> Any:
    tensor = th.InferInput(name, list(values.shape), datatype)
    tensor.set_data_from_numpy(values, binary_data=binary)
    return tensor


# -- the three models with tritonclient.http ----------------------------------------------------


def test_health_and_metadata_of_a_column_model(wine_server: Server, wine_frame) -> None:
    c = client(wine_server)

    assert (c.is_server_live(), c.is_server_ready(), c.is_model_ready("wine")) == (True,) * 3
    assert c.get_server_metadata() == {
        "name": "modelpack",
        "version": modelpack.__version__,
        "extensions": ["binary_tensor_data", "parameters"],
    }
    assert c.get_model_metadata("wine") == {
        "name": "wine",
        "versions": [],
        "platform": "",
        "inputs": [{"name": column, **WINE_METADATA_INPUT} for column in wine_frame.columns],
        "outputs": [
            {
                "name": "output-0",
                "datatype": "FP64",
                "shape": [-1],
                "parameters": {"content_type": "np"},
            }
        ],
        "parameters": {"content_type": "pd"},
    }


def test_metadata_of_a_tensor_model(torch_server: Server) -> None:
    c = client(torch_server)

    assert c.is_model_ready("torch-mlp")
    assert c.get_model_metadata("torch-mlp") == {
        "name": "torch-mlp",
        "versions": [],
        "platform": "",
        "inputs": [
            {
                "name": "input-0",
                "datatype": "FP32",
                "shape": [-1, TORCH_WIDTH],
                "parameters": {"content_type": "np"},
            }
        ],
        "outputs": [
            {
                "name": "output-0",
                "datatype": "FP32",
                "shape": [-1, 1],
                "parameters": {"content_type": "np"},
            }
        ],
        "parameters": {"content_type": "np"},
    }


def test_metadata_of_a_dataframe_model_names_its_params(twocols_server: Server) -> None:
    c = client(twocols_server)

    assert c.is_model_ready("pyfunc-twocols")
    assert c.get_model_metadata("pyfunc-twocols") == {
        "name": "pyfunc-twocols",
        "versions": [],
        "platform": "",
        "inputs": [
            {
                "name": "name",
                "datatype": "BYTES",
                "shape": [-1, 1],
                "parameters": {"content_type": "str"},
            },
            {
                "name": "x",
                "datatype": "FP64",
                "shape": [-1, 1],
                "parameters": {"content_type": "np"},
            },
        ],
        "outputs": [
            {
                "name": "greeting",
                "datatype": "BYTES",
                "shape": [-1, 1],
                "parameters": {"content_type": "str"},
            },
            {
                "name": "scaled",
                "datatype": "FP64",
                "shape": [-1, 1],
                "parameters": {"content_type": "np"},
            },
        ],
        "parameters": {
            "content_type": "pd",
            "params": [{"name": "multiplier", "default": 1.0, "shape": None, "type": "double"}],
        },
    }


@pytest.mark.parametrize("binary", [False, True], ids=["json", "binary"])
def test_column_model_infers_as_in_process(
    wine_server: Server, sklearn_package: Path, wine_frame: pd.DataFrame, binary: bool
) -> None:
    frame = wine_frame.iloc[3:9]
    expected = modelpack.load_model(sklearn_package).predict(frame)
    inputs = [infer_input(c, frame[c].to_numpy(), "FP64", binary) for c in frame.columns]
    outputs = [th.InferRequestedOutput("output-0", binary_data=binary)]

    result = client(wine_server).infer("wine", inputs, outputs=outputs, request_id="r-1")

    answer = result.get_response()
    assert (answer["model_name"], answer["id"]) == ("wine", "r-1")
    assert answer["outputs"][0]["shape"] == [6]  # as advertised: output-0, [-1]
    got = result.as_numpy("output-0")
    assert got.dtype == expected.dtype
    np.testing.assert_array_equal(got, expected)


@pytest.mark.parametrize("binary", [False, True], ids=["json", "binary"])
def test_tensor_model_infers_as_in_process(
    torch_server: Server, torch_package: Path, binary: bool
) -> None:
    x = np.random.default_rng(3).uniform(-2, 2, size=(4, TORCH_WIDTH)).astype(np.float32)
    expected = modelpack.load_model(torch_package).predict(x)

    result = client(torch_server).infer(
        "torch-mlp",
        [infer_input("input-0", x, "FP32", binary)],
        outputs=[th.InferRequestedOutput("output-0", binary_data=binary)],
    )

    assert result.get_response()["outputs"][0]["shape"] == [4, 1]
    got = result.as_numpy("output-0")
    assert got.dtype == np.float32
    np.testing.assert_array_equal(got, expected)


@pytest.mark.parametrize("binary", [False, True], ids=["json", "binary"])
def test_dataframe_model_with_text_and_params_infers_as_in_process(
    twocols_server: Server, twocols_package: Path, binary: bool
) -> None:
    names = np.array(["a", "été", "日本"], dtype=object)
    x = np.array([1.0, 2.5, -3.0])
    expected = modelpack.load_model(twocols_package).predict(
        pd.DataFrame({"name": names, "x": x}), params={"multiplier": 2.5}
    )

    result = client(twocols_server).infer(
        "pyfunc-twocols",
        [infer_input("name", names, "BYTES", binary), infer_input("x", x, "FP64", binary)],
        outputs=[
            th.InferRequestedOutput("greeting", binary_data=binary),
            th.InferRequestedOutput("scaled", binary_data=binary),
        ],
        parameters={"multiplier": 2.5},
    )

    described = {o["name"]: (o["datatype"], o["shape"]) for o in result.get_response()["outputs"]}
    assert described == {"greeting": ("BYTES", [3, 1]), "scaled": ("FP64", [3, 1])}
    assert text(result.as_numpy("greeting")) == expected["greeting"].tolist()
    np.testing.assert_array_equal(result.as_numpy("scaled").ravel(), expected["scaled"])


def test_outputs_are_filtered_and_ordered_as_requested(twocols_server: Server) -> None:
    body = {
        "inputs": [
            {"name": "name", "shape": [1], "datatype": "BYTES", "data": ["z"]},
            {"name": "x", "shape": [1], "datatype": "FP64", "data": [4.0]},
        ],
        "outputs": [{"name": "scaled"}],
    }

    response = httpx.post(f"{twocols_server.url}/v2/models/pyfunc-twocols/infer", json=body)

    assert response.status_code == 200
    assert response.json()["id"] == response.headers["x-request-id"]  # none sent: the log's
    assert response.json()["outputs"] == [
        {
            "name": "scaled",
            "shape": [1, 1],
            "datatype": "FP64",
            "parameters": {"content_type": "np"},
            "data": [4.0],
        }
    ]


# -- /invocations and /v2 give the same numbers -------------------------------------------------


def v2_json(server: Server, model: str, body: dict[str, Any]) -> dict[str, np.ndarray]:
    response = httpx.post(f"{server.url}/v2/models/{model}/infer", json=body)
    assert response.status_code == 200, response.text
    return {o["name"]: np.asarray(o["data"]) for o in response.json()["outputs"]}


def v2_binary(server: Server, model: str, inputs: list[Any]) -> Any:
    return client(server).infer(model, inputs)


def invocations(server: Server, body: dict[str, Any]) -> Any:
    response = httpx.post(f"{server.url}/invocations", json=body)
    assert response.status_code == 200, response.text
    return response.json()["predictions"]


def test_invocations_and_v2_give_the_same_numbers_for_columns(
    wine_server: Server, wine_frame: pd.DataFrame
) -> None:
    frame = wine_frame.iloc[20:30]
    split = {"columns": list(frame.columns), "data": frame.to_numpy().tolist()}
    tensors = [
        {"name": c, "shape": [len(frame)], "datatype": "FP64", "data": frame[c].tolist()}
        for c in frame.columns
    ]
    binary = [infer_input(c, frame[c].to_numpy(), "FP64", True) for c in frame.columns]

    mlflow = np.asarray(invocations(wine_server, {"dataframe_split": split}))
    as_json = v2_json(wine_server, "wine", {"inputs": tensors})["output-0"]
    as_binary = v2_binary(wine_server, "wine", binary).as_numpy("output-0")

    np.testing.assert_array_equal(as_json, mlflow)
    np.testing.assert_array_equal(as_binary, mlflow)


def test_invocations_and_v2_give_the_same_numbers_for_tensors(torch_server: Server) -> None:
    x = np.random.default_rng(4).uniform(-2, 2, size=(7, TORCH_WIDTH)).astype(np.float32)
    tensor = {"name": "input-0", "shape": list(x.shape), "datatype": "FP32", "data": x.tolist()}

    mlflow = np.asarray(invocations(torch_server, {"inputs": x.tolist()}), dtype=np.float32)
    as_json = v2_json(torch_server, "torch-mlp", {"inputs": [tensor]})["output-0"]
    binary = v2_binary(torch_server, "torch-mlp", [infer_input("input-0", x, "FP32", True)])

    np.testing.assert_array_equal(as_json.astype(np.float32).reshape(7, 1), mlflow)
    np.testing.assert_array_equal(binary.as_numpy("output-0"), mlflow)


def test_invocations_and_v2_give_the_same_answer_with_params(twocols_server: Server) -> None:
    names, x = ["p", "q"], [0.1, 0.7]
    split = {"columns": ["name", "x"], "data": [list(r) for r in zip(names, x, strict=True)]}
    tensors = [
        {"name": "name", "shape": [2], "datatype": "BYTES", "data": names},
        {"name": "x", "shape": [2], "datatype": "FP64", "data": x},
    ]

    mlflow = invocations(twocols_server, {"dataframe_split": split, "params": {"multiplier": 3.0}})
    v2 = v2_json(
        twocols_server,
        "pyfunc-twocols",
        {"inputs": tensors, "parameters": {"multiplier": 3.0}},
    )

    assert v2["greeting"].tolist() == [row["greeting"] for row in mlflow]
    np.testing.assert_array_equal(v2["scaled"], [row["scaled"] for row in mlflow])


# -- seed 003: `modelpack serve -m PATH --env-manager=local --enable-mlserver --port 6000` ------


@pytest.fixture(scope="module")
def seed_003_package(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A PyTorch model saved by real MLflow with a signature, as seed 003's train.py logs it."""
    torch = pytest.importorskip("torch")
    mlflow_pytorch = pytest.importorskip("mlflow.pytorch")
    from mlflow.models import infer_signature

    torch.manual_seed(3)
    net = torch.nn.Sequential(
        torch.nn.Linear(TORCH_WIDTH, 16), torch.nn.ReLU(), torch.nn.Linear(16, 3)
    ).eval()
    x = np.random.default_rng(5).uniform(-1, 1, size=(4, TORCH_WIDTH)).astype(np.float32)
    with torch.no_grad():
        signature = infer_signature(x, net(torch.from_numpy(x)).numpy())
    path = tmp_path_factory.mktemp("seed003") / "pytorch_simplenn_mnist"
    mlflow_pytorch.save_model(net, str(path), signature=signature, input_example=x)
    return path


@pytest.mark.mlflow
@pytest.mark.torch
def test_seed_003_enable_mlserver_command_answers_v2_as_mlflow_model(
    seed_003_package: Path,
) -> None:
    server = launch(
        "-m", str(seed_003_package), "--env-manager=local", "--enable-mlserver", "--port", "0"
    )
    try:
        wait_ready(server)
        x = np.random.default_rng(6).uniform(-1, 1, size=(5, TORCH_WIDTH)).astype(np.float32)
        expected = modelpack.load_model(seed_003_package).predict(x)
        c = client(server)

        metadata = c.get_model_metadata("mlflow-model")
        result = c.infer("mlflow-model", [infer_input("input-0", x, "FP32", True)])
        mlflow = invocations(server, {"inputs": x.tolist()})
        by_directory = httpx.get(f"{server.url}/v2/models/pytorch_simplenn_mnist")
    finally:
        finish(server)

    assert (metadata["name"], metadata["outputs"][0]["shape"]) == ("mlflow-model", [-1, 3])
    np.testing.assert_array_equal(result.as_numpy("output-0"), expected)
    np.testing.assert_array_equal(np.asarray(mlflow, dtype=np.float32), expected)
    assert (by_directory.status_code, by_directory.json()) == (
        404,
        {
            "error": "model 'pytorch_simplenn_mnist' is not served here; this server serves "
            "'mlflow-model'"
        },
    )


@pytest.fixture(scope="module")
def seed_003_registry(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, np.ndarray, Any]:
    """A SQLite tracking store where a PyTorch model is registered as
    ``pytorch_simplenn_mnist`` version 1, as seed 003's train.py and UI steps leave it; with an
    input and the model's answer for it."""
    torch = pytest.importorskip("torch")
    mlflow = pytest.importorskip("mlflow")
    from mlflow.models import infer_signature

    torch.manual_seed(4)
    net = torch.nn.Sequential(torch.nn.Linear(TORCH_WIDTH, 3)).eval()
    x = np.random.default_rng(7).uniform(-1, 1, size=(2, TORCH_WIDTH)).astype(np.float32)
    with torch.no_grad():
        y = net(torch.from_numpy(x)).numpy()
    root = tmp_path_factory.mktemp("seed003-registry")
    uri = f"sqlite:///{root / 'mlflow.db'}"
    previous = mlflow.get_tracking_uri()
    mlflow.set_tracking_uri(uri)
    try:
        experiment = mlflow.MlflowClient().create_experiment(
            "seed003", artifact_location=(root / "artifacts").as_uri()
        )
        with mlflow.start_run(experiment_id=experiment):
            mlflow.pytorch.log_model(
                net,
                name="model",
                signature=infer_signature(x, y),
                input_example=x,
                registered_model_name="pytorch_simplenn_mnist",
            )
    finally:
        mlflow.set_tracking_uri(previous)
    return uri, x, y


@pytest.mark.mlflow
@pytest.mark.torch
def test_seed_003_registry_command_answers_v2_with_the_registered_version(
    seed_003_registry: tuple[str, np.ndarray, Any],
) -> None:
    uri, x, y = seed_003_registry
    server = launch(
        "-m",
        "models:/pytorch_simplenn_mnist/1",
        "--env-manager=local",
        "--enable-mlserver",
        env={"MLFLOW_TRACKING_URI": uri},
    )
    try:
        wait_ready(server)
        c = client(server)
        metadata = c.get_model_metadata("mlflow-model", "1")
        result = c.infer("mlflow-model", [infer_input("input-0", x, "FP32", True)], "1")
        other = httpx.get(f"{server.url}/v2/models/mlflow-model/versions/2")
    finally:
        finish(server)

    assert (metadata["name"], metadata["versions"]) == ("mlflow-model", ["1"])
    assert result.get_response()["model_version"] == "1"
    np.testing.assert_array_equal(result.as_numpy("output-0"), y)
    assert other.json() == {
        "error": "model 'mlflow-model' has no version '2'; it is served as version '1'"
    }


def test_model_name_option_names_the_v2_model(start_server, sklearn_package: Path) -> None:
    server = start_server("-m", str(sklearn_package), "--model-name", "quality")

    response = httpx.get(f"{server.url}/v2/models/quality")

    assert (response.status_code, response.json()["name"]) == (200, "quality")


@pytest.mark.parametrize(
    ("uri", "identity"),
    [
        ("models:/pytorch_simplenn_mnist/1", ("pytorch_simplenn_mnist", "1")),
        ("models:/wine@champion", ("wine", None)),  # the alias's version is not known here
        ("models:/wine/Production", ("wine", None)),
        ("runs:/0a1b2c/model", ("model", None)),
        ("/srv/models/wine/", ("wine", None)),
        ("https://example.com/pkgs/wine.tar.gz", ("wine", None)),
        ("s3://bucket/models/wine", ("wine", None)),
    ],
)
def test_the_model_uri_names_the_v2_model(uri: str, identity: tuple[str, str | None]) -> None:
    assert identity_from_uri(uri) == identity


# -- client errors: a 4xx in V2's format, and the server still ready ----------------------------

TWOCOLS = "/v2/models/pyfunc-twocols"
GOOD_INPUTS = [
    {"name": "name", "shape": [2], "datatype": "BYTES", "data": ["a", "b"]},
    {"name": "x", "shape": [2], "datatype": "FP64", "data": [1.0, 2.0]},
]
SECRET = {"X-Api-Key": "s3cr3t-do-not-echo"}


def refused(
    server: Server, path: str, body: Any, headers: dict[str, str] | None = None
) -> tuple[int, Any]:
    """Status and JSON of a request sent with a secret header, after checking that the body does
    not echo it and that the server is still ready."""
    content = body if isinstance(body, bytes) else json.dumps(body).encode()
    sent = {**SECRET, **(headers or {})}
    response = httpx.post(f"{server.url}{path}", content=content, headers=sent)
    assert SECRET["X-Api-Key"] not in response.text
    assert httpx.get(f"{server.url}/v2/health/ready").status_code == 200
    return response.status_code, response.json()


def with_input(position: int, **changes: Any) -> dict[str, Any]:
    inputs = [dict(i) for i in GOOD_INPUTS]
    inputs[position].update(changes)
    return {"inputs": inputs}


def test_wrong_datatype_for_a_column(twocols_server: Server) -> None:
    body = with_input(1, datatype="BYTES", data=["1", "2"])

    assert refused(twocols_server, f"{TWOCOLS}/infer", body) == (
        400,
        {"error": "input 'x': the signature's double column is FP64, got BYTES"},
    )


def test_unknown_datatype(twocols_server: Server) -> None:
    status, body = refused(twocols_server, f"{TWOCOLS}/infer", with_input(1, datatype="FP99"))

    assert status == 400
    assert body["error"].startswith("input 'x': unknown datatype 'FP99'; use one of ['BOOL'")


def test_wrong_dtype_for_a_tensor(torch_server: Server) -> None:
    body = {"inputs": [{"name": "input-0", "shape": [1, 10], "datatype": "FP64", "data": [0] * 10}]}

    assert refused(torch_server, "/v2/models/torch-mlp/infer", body) == (
        400,
        {
            "error": "input 'input': expected dtype float32, got float64. Tensor inputs are not "
            "converted: send the declared dtype."
        },
    )


def test_shape_that_disagrees_with_the_data(twocols_server: Server) -> None:
    body = with_input(1, shape=[3])

    assert refused(twocols_server, f"{TWOCOLS}/infer", body) == (
        400,
        {"error": "input 'x': its shape holds 3 elements, but 'data' has 2"},
    )


def test_fractions_in_an_integer_tensor(twocols_server: Server) -> None:
    # MLServer truncates 0.5 to 0 and predicts on it.
    body = with_input(1, datatype="INT32", data=[1, 0.5])

    assert refused(twocols_server, f"{TWOCOLS}/infer", body) == (
        400,
        {
            "error": "input 'x': INT32 data holds the fraction float 0.5 at position 1; send "
            "whole numbers, or a floating-point datatype"
        },
    )


def test_columns_of_unequal_length(twocols_server: Server) -> None:
    # MLServer pads the short column with NaN.
    body = with_input(0, shape=[1], data=["a"])

    assert refused(twocols_server, f"{TWOCOLS}/infer", body) == (
        400,
        {
            "error": "inputs have different numbers of rows {'name': 1, 'x': 2}; every input is "
            "a column, and every row needs a value in each"
        },
    )


def test_missing_input(twocols_server: Server) -> None:
    body = {"inputs": GOOD_INPUTS[1:]}

    assert refused(twocols_server, f"{TWOCOLS}/infer", body) == (
        400,
        {"error": "Model is missing inputs ['name']."},
    )


def test_unknown_output(twocols_server: Server) -> None:
    body = {"inputs": GOOD_INPUTS, "outputs": [{"name": "output-1"}]}

    assert refused(twocols_server, f"{TWOCOLS}/infer", body) == (
        400,
        {"error": "unknown output 'output-1'; this model's outputs are ['greeting', 'scaled']"},
    )


def test_invalid_param(twocols_server: Server) -> None:
    body = {"inputs": GOOD_INPUTS, "parameters": {"multiplier": "abc"}}

    assert refused(twocols_server, f"{TWOCOLS}/infer", body) == (
        400,
        {"error": "param 'multiplier': value 'abc' of type str is not a valid double"},
    )


def test_body_that_is_not_json(twocols_server: Server) -> None:
    status, body = refused(twocols_server, f"{TWOCOLS}/infer", b'{"inputs": [')

    assert status == 400
    assert body["error"].startswith("Invalid input: the body is not valid JSON")


def test_binary_header_longer_than_the_body(twocols_server: Server) -> None:
    headers = {"Inference-Header-Content-Length": "999"}

    assert refused(twocols_server, f"{TWOCOLS}/infer", b"{}", headers=headers) == (
        400,
        {
            "error": "Inference-Header-Content-Length is 999, but the body has 2 bytes; it must "
            "be the length of the JSON header at the body's start"
        },
    )


def test_binary_data_shorter_than_its_shape(twocols_server: Server) -> None:
    header = json.dumps(
        {
            "inputs": [
                GOOD_INPUTS[0],
                {
                    "name": "x",
                    "shape": [2],
                    "datatype": "FP64",
                    "parameters": {"binary_data_size": 8},
                },
            ]
        }
    ).encode()
    body = header + np.array([1.0]).tobytes()
    headers = {"Inference-Header-Content-Length": str(len(header))}

    assert refused(twocols_server, f"{TWOCOLS}/infer", body, headers=headers) == (
        400,
        {
            "error": "input 'x': 8 bytes of binary data, but its shape and datatype take 16 "
            "(2 elements of 8 bytes)"
        },
    )


def test_unknown_model_names_the_served_one(twocols_server: Server) -> None:
    assert refused(twocols_server, "/v2/models/nope/infer", {"inputs": GOOD_INPUTS}) == (
        404,
        {"error": "model 'nope' is not served here; this server serves 'pyfunc-twocols'"},
    )


def test_unknown_version(twocols_server: Server) -> None:
    path = f"{TWOCOLS}/versions/2/infer"

    assert refused(twocols_server, path, {"inputs": GOOD_INPUTS}) == (
        404,
        {
            "error": "model 'pyfunc-twocols' has no version '2'; it is served without a version "
            "(leave the version out)"
        },
    )


def test_a_models_own_exception_is_a_400() -> None:
    def broken(data: Any, params: Any) -> Any:
        raise ValueError("the model cannot take this")

    with client_for(plain_model(broken), model_name="m") as c:
        body = {"inputs": [{"name": "x", "shape": [1], "datatype": "FP64", "data": [1.0]}]}
        response = c.post("/v2/models/m/infer", json=body)

    assert (response.status_code, response.json()) == (
        400,
        {"error": "the model raised ValueError: the model cannot take this"},
    )


def test_wrong_method_and_unknown_path_are_v2_errors(twocols_server: Server) -> None:
    wrong = httpx.get(f"{twocols_server.url}{TWOCOLS}/infer")
    unknown = httpx.get(f"{twocols_server.url}/v2/models/pyfunc-twocols/config")

    assert (wrong.status_code, wrong.json()) == (
        405,
        {"error": "GET is not allowed on /v2/models/pyfunc-twocols/infer; use POST"},
    )
    assert unknown.status_code == 404
    assert unknown.json()["error"].startswith("no endpoint at /v2/models/pyfunc-twocols/config;")


# -- readiness --------------------------------------------------------------------------------


def test_ready_is_503_until_warmed_up_and_live_is_200(wine_model) -> None:
    # An app whose runtime was never started: loaded, not warmed up.
    settings = Settings(model_name="wine")
    with AppClient(create_app(wine_model, settings, Runtime(wine_model, settings))) as c:
        live, ready = c.get("/v2/health/live"), c.get("/v2/health/ready")
        model_ready = c.get("/v2/models/wine/ready")

    assert (live.status_code, live.content) == (200, b"")
    assert (ready.status_code, ready.json()) == (503, {"error": "the model is warming up"})
    assert model_ready.status_code == 503


def test_versioned_routes_answer_for_the_served_version(wine_model) -> None:
    with client_for(wine_model, model_name="wine", model_version="7") as c:
        metadata = c.get("/v2/models/wine/versions/7")
        other = c.get("/v2/models/wine/versions/8")

    assert (metadata.status_code, metadata.json()["versions"]) == (200, ["7"])
    assert (other.status_code, other.json()) == (
        404,
        {"error": "model 'wine' has no version '8'; it is served as version '7'"},
    )


# -- any V2 JSON body: never a 5xx --------------------------------------------------------------

OPTIONAL_COLUMNS = Schema(
    [
        ColSpec(DataType.double, "d", required=False),
        ColSpec(DataType.string, "s", required=False),
        ColSpec(DataType.binary, "y", required=False),
        ColSpec(DataType.datetime, "t", required=False),
        ColSpec(DataType.boolean, "b", required=False),
        ColSpec(DataType.long, "l", required=False),
        ColSpec(DataType.integer, "i", required=False),
        ColSpec(DataType.float, "f", required=False),
        ColSpec(Array(DataType.double), "a", required=False),
    ]
)
COLUMN = [-1, 1]
PROPERTY_MODELS = {
    # Every column type, the input itself as the answer (so every output type is encoded).
    "columns": (
        ModelSignature(OPTIONAL_COLUMNS, params=ParamSchema([ParamSpec("k", DataType.long, 1)])),
        {
            "d": ("FP64", COLUMN),
            "s": ("BYTES", COLUMN),
            "y": ("BYTES", COLUMN),
            "t": ("BYTES", COLUMN),
            "b": ("BOOL", COLUMN),
            "l": ("INT64", COLUMN),
            "i": ("INT32", [-1]),
            "f": ("FP32", [-1]),
            "a": ("BYTES", COLUMN),
        },
    ),
    "tensor": (
        ModelSignature(
            Schema([TensorSpec(np.dtype(np.float32), (-1, 3))]),
            Schema([TensorSpec(np.dtype(np.float32), (-1, 3))]),
        ),
        {"input-0": ("FP32", [-1, 3])},
    ),
    "no-signature": (None, {"x": ("FP64", [-1]), "y": ("BYTES", [-1, 2])}),
}


@pytest.fixture(scope="module", params=sorted(PROPERTY_MODELS))
def property_client(request: pytest.FixtureRequest) -> Any:
    signature, names = PROPERTY_MODELS[request.param]
    model = plain_model(lambda data, params: data, signature)
    with client_for(model, model_name="m") as c:
        yield c, names


@hypothesis_settings(max_examples=150, deadline=None)
@given(data=st.data())
def test_any_v2_json_body_is_answered_without_a_server_error(property_client, data) -> None:
    c, names = property_client
    body = data.draw(v2_bodies(names, ["k"]))

    response = c.post("/v2/models/m/infer", content=json.dumps(body).encode())

    assert response.status_code < 500, response.text
    assert response.status_code == 200 or set(response.json()) == {"error"}


# -- the engine: V2 requests share its deadline, queue and batching -----------------------------

X_ONLY = ModelSignature(inputs=Schema([ColSpec(DataType.double, "x")]))


def v2_x(*values: float) -> dict[str, Any]:
    return {"inputs": [{"name": "x", "shape": [len(values)], "datatype": "FP64", "data": values}]}


def test_deadline_is_a_504_and_the_next_request_is_served() -> None:
    def predict(data: Any, params: Any) -> Any:
        if data["x"].iloc[0] > 0:
            time.sleep(0.5)
        return data["x"].to_numpy()

    with client_for(plain_model(predict, X_ONLY), model_name="m", timeout=0.3) as c:
        slow = c.post("/v2/models/m/infer", json=v2_x(1.0))
        time.sleep(0.4)
        fast = c.post("/v2/models/m/infer", json=v2_x(0.0))

    assert (slow.status_code, sorted(slow.json())) == (504, ["error", "request_id"])
    assert slow.json()["error"].startswith("the request was not answered within the time limit")
    assert fast.status_code == 200


async def _concurrently(app: Any, first: Any, then: list[Any]) -> list[httpx.Response]:
    """``first`` (a (path, body) pair) is sent and starts predicting; then ``then``, together."""
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://modelpack") as client:
        head = asyncio.ensure_future(client.post(first[0], json=first[1]))
        while not STARTED.is_set():
            await asyncio.sleep(0.005)
        rest = [asyncio.ensure_future(client.post(p, json=b)) for p, b in then]
        while ENGINE_DEPTH[0]() < len(then) and not any(r.done() for r in rest):
            await asyncio.sleep(0.005)
        await asyncio.sleep(0.05)
        RELEASE.set()
        return [await head, *[await r for r in rest]]


STARTED, RELEASE = threading.Event(), threading.Event()
ENGINE_DEPTH: list[Any] = [lambda: 0]


@pytest.fixture
def gate() -> Any:
    STARTED.clear()
    RELEASE.clear()
    calls: list[int] = []

    def predict(data: Any, params: Any) -> Any:
        calls.append(len(data))
        STARTED.set()
        RELEASE.wait(10)
        return data["x"].to_numpy() * 2

    yield predict, calls
    RELEASE.set()


@pytest.mark.parametrize("route", ["v2", "invocations"])
def test_a_full_queue_is_a_503_with_retry_after(gate, route: str) -> None:
    predict, _ = gate
    runtime = Runtime(plain_model(predict, X_ONLY), Settings(model_name="m", max_queue=1))
    ENGINE_DEPTH[0] = lambda: runtime.engine.depth
    app = create_app(runtime.model, runtime.settings, runtime)
    if route == "v2":
        requests = [("/v2/models/m/infer", v2_x(x)) for x in (1.0, 2.0, 3.0)]
    else:
        requests = [("/invocations", {"inputs": {"x": [x]}}) for x in (1.0, 2.0, 3.0)]

    responses = asyncio.run(_concurrently(app, requests[0], requests[1:]))

    statuses = sorted(r.status_code for r in responses)
    assert statuses == [200, 200, 503]
    refused = next(r for r in responses if r.status_code == 503)
    assert refused.headers["retry-after"] == "1"
    # Refused at admission, before its body is read: one predicting and one waiting are
    # --max-queue 1 + 1 in this worker.
    message = (
        "the model is busy: 2 requests are already in this worker (--max-queue); retry after 1 s"
    )
    request_id = refused.headers["x-request-id"]
    assert refused.json() == (
        {"error": message, "request_id": request_id}
        if route == "v2"
        else {
            "error_code": "TEMPORARILY_UNAVAILABLE",
            "message": message,
            "request_id": request_id,
        }
    )


def test_v2_and_invocations_requests_are_merged_into_one_call(gate) -> None:
    predict, calls = gate
    metadata = Model(flavors={PYFUNC: {}}, signature=X_ONLY, metadata={"batching": True})
    model = PyFuncModel(metadata, _Predictor(predict), Path("."), _PlainFlavor())  # type: ignore[arg-type]
    runtime = Runtime(model, Settings(model_name="m"))
    ENGINE_DEPTH[0] = lambda: runtime.engine.depth
    app = create_app(model, runtime.settings, runtime)
    v2 = "/v2/models/m/infer"
    mlflow = {"dataframe_split": {"columns": ["x"], "data": [[5.0], [6.0]]}}

    first, a, b = asyncio.run(
        _concurrently(app, (v2, v2_x(1.0)), [(v2, v2_x(2.0, 3.0)), ("/invocations", mlflow)])
    )

    assert calls == [1, 4]  # the two waiting requests (V2 and MLflow's) made one call
    assert a.json()["outputs"][0]["data"] == [4.0, 6.0]
    assert b.json() == {"predictions": [10.0, 12.0]}
    assert first.json()["outputs"][0]["data"] == [2.0]
