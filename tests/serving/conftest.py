"""Serving fixtures: the wine model behind an in-process client, and small plain-Python models."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import httpx
import numpy as np
import pytest

import modelpack
from modelpack.format.mlmodel import PYFUNC, Model
from modelpack.pyfunc import PyFuncModel, load_model
from modelpack.serving import create_app
from modelpack.settings import Settings
from modelpack.signature.schema import (
    ColSpec,
    DataType,
    ModelSignature,
    ParamSchema,
    ParamSpec,
    Schema,
)


class _PlainFlavor:
    """Stands in for a flavor: the predictor below is the whole model."""

    name: ClassVar[str] = "plain"


class _Predictor:
    def __init__(self, fn: Callable[[Any, Any], Any]) -> None:
        self._fn = fn

    def predict(self, data: Any, params: Any = None) -> Any:
        return self._fn(data, params)


def plain_model(
    fn: Callable[[Any, Any], Any], signature: ModelSignature | None = None
) -> PyFuncModel:
    """A PyFuncModel whose prediction is ``fn(data, params)``, with an optional signature."""
    metadata = Model(flavors={PYFUNC: {}}, signature=signature)
    return PyFuncModel(metadata, _Predictor(fn), Path("."), _PlainFlavor())  # type: ignore[arg-type]


class AppClient:
    """A synchronous client that calls the ASGI app in process (httpx's ASGI transport).

    Server errors come back as responses, as a real server sends them.
    """

    def __init__(self, app: Any) -> None:
        self._loop = asyncio.new_event_loop()
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        self._client = httpx.AsyncClient(transport=transport, base_url="http://modelpack")

    def request(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        return self._loop.run_until_complete(self._client.request(method, url, **kwargs))

    def get(self, url: str, **kwargs: Any) -> httpx.Response:
        return self.request("GET", url, **kwargs)

    def head(self, url: str, **kwargs: Any) -> httpx.Response:
        return self.request("HEAD", url, **kwargs)

    def post(self, url: str, **kwargs: Any) -> httpx.Response:
        return self.request("POST", url, **kwargs)

    def close(self) -> None:
        self._loop.run_until_complete(self._client.aclose())
        self._loop.close()

    def __enter__(self) -> AppClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def client_for(model: PyFuncModel, **settings: Any) -> AppClient:
    """An in-process client of the app serving ``model`` with these settings."""
    return AppClient(create_app(model, Settings(**settings)))


@pytest.fixture(scope="session")
def wine_model(sklearn_package: Path) -> PyFuncModel:
    return load_model(sklearn_package)


@pytest.fixture(scope="session")
def client(wine_model: PyFuncModel) -> Iterator[AppClient]:
    with client_for(wine_model) as c:
        yield c


# -- packages for the Open Inference Protocol (V2) tests ---------------------------------------

TORCH_WIDTH = 10


@pytest.fixture(scope="session")
def torch_package(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small MLP saved as pt2: a tensor signature, float32 ``[-1, 10]`` -> ``[-1, 1]``."""
    torch = pytest.importorskip("torch")
    from modelpack.flavors import pytorch

    torch.manual_seed(0)
    net = torch.nn.Sequential(
        torch.nn.Linear(TORCH_WIDTH, 8), torch.nn.ReLU(), torch.nn.Linear(8, 1)
    ).eval()
    example = np.random.default_rng(1).uniform(-1, 1, size=(5, TORCH_WIDTH)).astype(np.float32)
    path = tmp_path_factory.mktemp("torch") / "torch-mlp"
    pytorch.save_model(net, path, input_example=example)
    return path


@pytest.fixture(scope="session")
def twocols_package(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A PythonModel answering a DataFrame with a text and a number column, with a param:
    ``name: string, x: double`` -> ``greeting: string, scaled: double``; ``multiplier = 1.0``."""
    import cloudpickle

    from . import v2models

    signature = ModelSignature(
        Schema([ColSpec(DataType.string, "name"), ColSpec(DataType.double, "x")]),
        Schema([ColSpec(DataType.string, "greeting"), ColSpec(DataType.double, "scaled")]),
        ParamSchema([ParamSpec("multiplier", DataType.double, 1.0)]),
    )
    path = tmp_path_factory.mktemp("pyfunc") / "pyfunc-twocols"
    cloudpickle.register_pickle_by_value(v2models)
    try:
        modelpack.save_model(v2models.TwoCols(), path, signature=signature)
    finally:
        cloudpickle.unregister_pickle_by_value(v2models)
    return path


# -- a real `modelpack serve` process ----------------------------------------------------------


@dataclass
class Server:
    process: subprocess.Popen[str]
    port: int
    log: list[str] = field(default_factory=list)
    reader: threading.Thread | None = None
    grpc_port: int | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def wait_for(self, text: str) -> str:
        """The log so far, once a line holding ``text`` was read (the reader lags the server)."""
        for _ in range(300):
            log = "".join(self.log)
            if text in log:
                return log
            time.sleep(0.05)
        raise AssertionError(f"{text!r} never appeared in the log: {''.join(self.log)}")

    def stop(self) -> str:
        """SIGTERM, wait for the exit, and return the whole log."""
        self.process.send_signal(signal.SIGTERM)
        assert self.process.wait(30) == 0
        if self.reader is not None:
            self.reader.join(10)
        return "".join(self.log)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def launch(*args: str, port: int = 0, env: dict[str, str] | None = None) -> Server:
    """Starts `modelpack serve ...` (its stdout and stderr read into `Server.log`) and waits for
    /ping (and, with --grpc-port, reads the gRPC port from the log into `Server.grpc_port`)."""
    command = [sys.executable, "-m", "modelpack", "serve", *args, "-p", str(port)]
    environ = {**os.environ, "MODELPACK_LOG_LEVEL": "info", **(env or {})}
    process = subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=environ
    )
    server = Server(process, port)
    ready = threading.Event()

    def read() -> None:
        assert process.stdout is not None
        for line in process.stdout:
            server.log.append(line)
            grpc = re.search(r"serving gRPC \(Open Inference Protocol\) on [^ ]+:(\d+)", line)
            if grpc:
                server.grpc_port = int(grpc.group(1))
            found = re.search(r"serving on http://127\.0\.0\.1:(\d+)", line)
            if found and server.port == 0:
                server.port = int(found.group(1))
            if found:
                ready.set()
        ready.set()

    server.reader = threading.Thread(target=read, daemon=True)
    server.reader.start()
    try:
        assert ready.wait(120), "server did not start"
        assert process.poll() is None, "".join(server.log)
        for _ in range(600):
            try:
                if httpx.get(f"{server.url}/ping", timeout=5).status_code == 200:
                    return server
            except httpx.TransportError:
                time.sleep(0.1)
        raise AssertionError("no 200 from /ping: " + "".join(server.log))
    except BaseException:
        finish(server)
        raise


def finish(server: Server) -> None:
    """Kill the server if it still runs, and wait for it and its log reader."""
    if server.process.poll() is None:
        server.process.kill()
    server.process.wait(30)
    if server.reader is not None:
        server.reader.join(10)
    if server.process.stdout is not None:
        server.process.stdout.close()


@pytest.fixture
def start_server() -> Iterator[object]:
    """Starts `modelpack serve ...` (see `launch`); stops it at the end of the test."""
    started: list[Server] = []

    def start(*args: str, port: int = 0, env: dict[str, str] | None = None) -> Server:
        server = launch(*args, port=port, env=env)
        started.append(server)
        return server

    yield start
    for server in started:
        finish(server)


def wait_ready(server: Server) -> None:
    """Until ``/v2/health/ready`` answers 200 (the worker has warmed up)."""
    for _ in range(600):
        if httpx.get(f"{server.url}/v2/health/ready", timeout=5).status_code == 200:
            return
        time.sleep(0.05)
    raise AssertionError("never ready: " + "".join(server.log))


def _serving(package: Path, *args: str) -> Iterator[Server]:
    server = launch("-m", str(package), "--grpc-port", "0", *args)
    try:
        wait_ready(server)
        yield server
    finally:
        finish(server)


@pytest.fixture(scope="session")
def wine_server(sklearn_package: Path) -> Iterator[Server]:
    """`modelpack serve` of the wine ElasticNet (11 double columns), REST and gRPC."""
    yield from _serving(sklearn_package)


@pytest.fixture(scope="session")
def torch_server(torch_package: Path) -> Iterator[Server]:
    """`modelpack serve` of the pt2 MLP (float32 ``[-1, 10]``), REST and gRPC."""
    yield from _serving(torch_package)


@pytest.fixture(scope="session")
def twocols_server(twocols_package: Path) -> Iterator[Server]:
    """`modelpack serve` of the two-column PythonModel with a param, REST and gRPC."""
    yield from _serving(twocols_package)
