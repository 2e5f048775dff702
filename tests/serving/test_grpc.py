"""The Open Inference Protocol (V2) over gRPC: tritonclient.grpc against a real `modelpack serve
--grpc-port`, typed contents, errors as statuses, the bearer token, several workers on one port,
and the committed descriptor set.

tritonclient.grpc registers its own ``inference.*`` messages in protobuf's default pool; the
server's come from a private pool (``modelpack.serving.grpc._messages``), so this process
imports both, and the wire test below checks they are the same messages.
"""

from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner
from servers import Server, finish, launch, wait_ready

import modelpack
from modelpack.cli import main

from .v2models import TORCH_WIDTH

tg = pytest.importorskip("tritonclient.grpc")
grpc = pytest.importorskip("grpc")

from modelpack.serving.grpc._messages import DESCRIPTOR_SET, SERVICE, messages  # noqa: E402

PROTO_DIR = DESCRIPTOR_SET.parent


def client(server: Server) -> Any:
    return tg.InferenceServerClient(f"127.0.0.1:{server.grpc_port}")


def infer_input(name: str, values: np.ndarray, datatype: str) -> Any:
    tensor = tg.InferInput(name, list(values.shape), datatype)
    tensor.set_data_from_numpy(values)
    return tensor


def text(values: np.ndarray) -> list[str]:
    return [v.decode("utf-8") if isinstance(v, bytes) else v for v in values.ravel().tolist()]


# -- tritonclient.grpc on the three models ------------------------------------------------------


def test_health_and_metadata(wine_server: Server, wine_frame: pd.DataFrame) -> None:
    c = client(wine_server)

    metadata = c.get_model_metadata("wine", as_json=True)
    server = c.get_server_metadata(as_json=True)

    assert (c.is_server_live(), c.is_server_ready(), c.is_model_ready("wine")) == (True,) * 3
    assert server == {
        "name": "modelpack",
        "version": modelpack.__version__,
        "extensions": ["binary_tensor_data", "parameters"],
    }
    assert metadata["name"] == "wine"
    assert [(i["name"], i["datatype"], i["shape"]) for i in metadata["inputs"]] == [
        (c, "FP64", ["-1", "1"])
        for c in wine_frame.columns  # int64 is a string in proto JSON
    ]
    assert metadata["outputs"] == [{"name": "output-0", "datatype": "FP64", "shape": ["-1"]}]


def test_column_model_infers_as_in_process(
    wine_server: Server, sklearn_package: Path, wine_frame: pd.DataFrame
) -> None:
    frame = wine_frame.iloc[40:47]
    expected = modelpack.load_model(sklearn_package).predict(frame)
    inputs = [infer_input(c, frame[c].to_numpy(), "FP64") for c in frame.columns]

    result = client(wine_server).infer("wine", inputs, request_id="g-1")

    response = result.get_response()
    assert (response.model_name, response.id) == ("wine", "g-1")
    assert list(response.outputs[0].shape) == [7]
    np.testing.assert_array_equal(result.as_numpy("output-0"), expected)


def test_tensor_model_infers_as_in_process(torch_server: Server, torch_package: Path) -> None:
    x = np.random.default_rng(8).uniform(-2, 2, size=(6, TORCH_WIDTH)).astype(np.float32)
    expected = modelpack.load_model(torch_package).predict(x)

    result = client(torch_server).infer("torch-mlp", [infer_input("input-0", x, "FP32")])

    got = result.as_numpy("output-0")
    assert (got.dtype, got.shape) == (np.float32, (6, 1))
    np.testing.assert_array_equal(got, expected)


def test_dataframe_model_with_text_and_params_infers_as_in_process(
    twocols_server: Server, twocols_package: Path
) -> None:
    names = np.array(["x", "ÿ", "zz"], dtype=object)
    x = np.array([0.5, 1.5, 2.5])
    expected = modelpack.load_model(twocols_package).predict(
        pd.DataFrame({"name": names, "x": x}), params={"multiplier": 4.0}
    )

    result = client(twocols_server).infer(
        "pyfunc-twocols",
        [infer_input("name", names, "BYTES"), infer_input("x", x, "FP64")],
        # tritonclient.grpc 2.41 sends bool, int and str parameters: 4 arrives as int64_param,
        # which the double param takes, as the REST route takes a JSON 4.
        parameters={"multiplier": 4},
    )

    assert [(o.name, o.datatype, list(o.shape)) for o in result.get_response().outputs] == [
        ("greeting", "BYTES", [3, 1]),
        ("scaled", "FP64", [3, 1]),
    ]
    assert text(result.as_numpy("greeting")) == expected["greeting"].tolist()
    np.testing.assert_array_equal(result.as_numpy("scaled").ravel(), expected["scaled"])


# -- typed contents and errors, with the server's own message classes --------------------------


@pytest.fixture(scope="module")
def m() -> dict[str, Any]:
    return messages()


def call(server: Server, m: dict[str, Any], method: str, request: Any, **kwargs: Any) -> Any:
    with grpc.insecure_channel(f"127.0.0.1:{server.grpc_port}") as channel:
        rpc = channel.unary_unary(
            f"/{SERVICE}/{method}",
            request_serializer=type(request).SerializeToString,
            response_deserializer=m[f"{method}Response"].FromString,
        )
        return rpc(request, timeout=30, **kwargs)


def test_typed_contents_are_read_as_raw_contents_are(twocols_server: Server, m) -> None:
    request = m["ModelInferRequest"](model_name="pyfunc-twocols", id="t")
    name = request.inputs.add(name="name", datatype="BYTES", shape=[2])
    name.contents.bytes_contents.extend([b"a", b"b"])
    x = request.inputs.add(name="x", datatype="FP64", shape=[2])
    x.contents.fp64_contents.extend([1.0, 2.0])
    request.parameters["multiplier"].double_param = 10.0

    response = call(twocols_server, m, "ModelInfer", request)

    assert [o.name for o in response.outputs] == ["greeting", "scaled"]
    assert np.frombuffer(response.raw_output_contents[1], dtype="<f8").tolist() == [10.0, 20.0]
    assert response.raw_output_contents[0] == b"\x07\x00\x00\x00hello a\x07\x00\x00\x00hello b"


def refused(server: Server, m: dict[str, Any], request: Any) -> tuple[Any, str]:
    with pytest.raises(grpc.RpcError) as caught:
        call(server, m, "ModelInfer", request)
    assert client(server).is_server_ready()
    return caught.value.code(), caught.value.details()


def test_fraction_in_an_integer_tensor_is_invalid_argument(twocols_server: Server, m) -> None:
    request = m["ModelInferRequest"](model_name="pyfunc-twocols")
    request.inputs.add(name="x", datatype="INT64", shape=[1]).contents.fp64_contents.append(0.5)

    assert refused(twocols_server, m, request) == (
        grpc.StatusCode.INVALID_ARGUMENT,
        "input 'x': INT64 elements go in contents.int64_contents, not fp64_contents",
    )


def test_missing_input_is_invalid_argument(twocols_server: Server, m) -> None:
    request = m["ModelInferRequest"](model_name="pyfunc-twocols")
    request.inputs.add(name="x", datatype="FP64", shape=[1]).contents.fp64_contents.append(0.5)

    assert refused(twocols_server, m, request) == (
        grpc.StatusCode.INVALID_ARGUMENT,
        "Model is missing inputs ['name'].",
    )


def test_raw_contents_that_disagree_with_the_shape(twocols_server: Server, m) -> None:
    request = m["ModelInferRequest"](model_name="pyfunc-twocols")
    request.inputs.add(name="x", datatype="FP64", shape=[2])
    request.raw_input_contents.append(np.array([1.0]).tobytes())

    assert refused(twocols_server, m, request) == (
        grpc.StatusCode.INVALID_ARGUMENT,
        "input 'x': 8 bytes of binary data, but its shape and datatype take 16 (2 elements of "
        "8 bytes)",
    )


def test_unknown_model_is_not_found(twocols_server: Server) -> None:
    c = client(twocols_server)

    with pytest.raises(tg.InferenceServerException) as caught:
        c.get_model_metadata("nope")

    assert caught.value.status() == "StatusCode.NOT_FOUND"
    assert caught.value.message() == (
        "model 'nope' is not served here; this server serves 'pyfunc-twocols'"
    )


def test_our_messages_are_tritonclients_on_the_wire(m) -> None:
    """Both copies of ``inference.*`` live in this process (ours in a private pool), and a
    request written by one reads the same in the other."""
    from tritonclient.grpc import service_pb2

    theirs = service_pb2.ModelInferRequest(model_name="m", model_version="2", id="i")
    tensor = theirs.inputs.add(name="x", datatype="FP32", shape=[1, 2])
    tensor.parameters["content_type"].string_param = "np"
    tensor.contents.fp32_contents.extend([1.5, -2.0])
    theirs.outputs.add(name="y").parameters["binary_data"].bool_param = True
    theirs.parameters["k"].int64_param = 3
    theirs.raw_input_contents.append(b"\x01\x02")

    ours = m["ModelInferRequest"].FromString(theirs.SerializeToString())

    assert ours.SerializeToString(deterministic=True) == theirs.SerializeToString(
        deterministic=True
    )
    assert (ours.inputs[0].name, list(ours.inputs[0].contents.fp32_contents)) == ("x", [1.5, -2.0])
    assert ours.parameters["k"].int64_param == 3


def test_committed_descriptor_set_is_the_compiled_proto(tmp_path: Path) -> None:
    """The command in modelpack/serving/grpc/__init__.py, run again, gives the committed file."""
    pytest.importorskip("grpc_tools")
    out = tmp_path / "again.binpb"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "grpc_tools.protoc",
            f"-I{PROTO_DIR}",
            f"--descriptor_set_out={out}",
            "grpc_predict_v2.proto",
        ],
        check=True,
    )
    from google.protobuf import descriptor_pb2

    def parsed(path: Path) -> Any:
        return descriptor_pb2.FileDescriptorSet.FromString(path.read_bytes())

    assert parsed(out) == parsed(DESCRIPTOR_SET)


# -- the token, and several workers on one port -------------------------------------------------

TOKEN = "grpc-token-1234"


@pytest.fixture(scope="module")
def guarded(twocols_package: Path) -> Any:
    server = launch(
        "-m", str(twocols_package), "--grpc-port", "0", env={"MODELPACK_AUTH_TOKEN": TOKEN}
    )
    try:
        yield server
    finally:
        finish(server)


def test_the_bearer_token_guards_every_rpc_but_the_probes(guarded: Server) -> None:
    c = client(guarded)
    inputs = [
        infer_input("name", np.array(["a"], dtype=object), "BYTES"),
        infer_input("x", np.array([1.0]), "FP64"),
    ]

    assert c.is_server_live()
    with pytest.raises(tg.InferenceServerException) as caught:
        c.infer("pyfunc-twocols", inputs)
    answered = c.infer("pyfunc-twocols", inputs, headers={"authorization": f"Bearer {TOKEN}"})

    assert caught.value.status() == "StatusCode.UNAUTHENTICATED"
    assert TOKEN not in caught.value.message()
    assert answered.as_numpy("scaled").tolist() == [[1.0]]


def test_workers_share_the_grpc_port_and_stop_cleanly(twocols_package: Path) -> None:
    server = launch("-m", str(twocols_package), "--grpc-port", "0", "-w", "2")
    try:
        wait_ready(server)
        c = client(server)
        inputs = [
            infer_input("name", np.array(["w"], dtype=object), "BYTES"),
            infer_input("x", np.array([2.0]), "FP64"),
        ]
        answers = [text(c.infer("pyfunc-twocols", inputs).as_numpy("greeting")) for _ in range(8)]
        c.close()
        server.process.terminate()
        status = server.process.wait(60)
    finally:
        finish(server)

    assert answers == [["hello w"]] * 8
    assert status == 0
    assert sum("Started server process" in line for line in server.log) == 2


# -- command-line errors --------------------------------------------------------------------------


def test_a_grpc_port_out_of_range_is_refused(twocols_package: Path) -> None:
    result = CliRunner().invoke(main, ["serve", "-m", str(twocols_package), "--grpc-port", "70000"])

    assert (result.exit_code, result.output) == (
        2,
        "Error: --grpc-port must be between 0 and 65535, got 70000\n",
    )


def test_a_grpc_port_another_program_listens_on_is_refused(twocols_package: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]

        result = CliRunner().invoke(
            main, ["serve", "-m", str(twocols_package), "-p", "0", "--grpc-port", str(port)]
        )

    assert (result.exit_code, result.output) == (
        2,
        f"Error: --grpc-port: cannot listen on 127.0.0.1:{port}: Address already in use\n",
    )


# -- metrics ------------------------------------------------------------------------------------


def test_v2_rest_and_grpc_requests_are_counted_under_their_protocol(
    start_server: Any, torch_package: Path
) -> None:
    from prometheus_client.parser import text_string_to_metric_families

    server = start_server("-m", str(torch_package), "--grpc-port", "0")
    wait_ready(server)
    x = np.zeros((3, TORCH_WIDTH), dtype=np.float32)
    c = client(server)
    for _ in range(2):
        c.infer("torch-mlp", [infer_input("input-0", x, "FP32")])
    with pytest.raises(tg.InferenceServerException):
        c.infer("torch-mlp", [infer_input("input-0", x.astype(np.float64), "FP64")])
    body = {
        "inputs": [
            {
                "name": "input-0",
                "datatype": "FP32",
                "shape": [3, TORCH_WIDTH],
                "data": x.ravel().tolist(),
            }
        ]
    }
    rest = httpx.post(f"{server.url}/v2/models/torch-mlp/infer", json=body, timeout=30)
    assert rest.status_code == 200

    scrape = httpx.get(f"{server.url}/metrics", timeout=30).text
    counts = {
        (s.labels["protocol"], s.labels["code"]): s.value
        for family in text_string_to_metric_families(scrape)
        for s in family.samples
        if s.name == "modelpack_requests_total" and s.value
    }
    rows = {
        s.name: s.value
        for family in text_string_to_metric_families(scrape)
        for s in family.samples
        if s.name == "modelpack_rows_total"
    }
    # The warm-up's example is not a request; the refused FP64 call is not a row.
    assert counts == {("grpc", "OK"): 2, ("grpc", "INVALID_ARGUMENT"): 1, ("v2", "200"): 1}
    assert rows == {"modelpack_rows_total": 9}
