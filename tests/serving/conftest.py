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
import pytest

from modelpack.format.mlmodel import PYFUNC, Model
from modelpack.pyfunc import PyFuncModel, load_model
from modelpack.serving import create_app
from modelpack.settings import Settings
from modelpack.signature.schema import ModelSignature


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


# -- a real `modelpack serve` process ----------------------------------------------------------


@dataclass
class Server:
    process: subprocess.Popen[str]
    port: int
    log: list[str] = field(default_factory=list)
    reader: threading.Thread | None = None

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


@pytest.fixture
def start_server() -> Iterator[object]:
    """Starts `modelpack serve ...` (its stdout and stderr read into `Server.log`) and waits for
    /ping; stops it at the end of the test."""
    started: list[Server] = []

    def start(*args: str, port: int = 0, env: dict[str, str] | None = None) -> Server:
        command = [sys.executable, "-m", "modelpack", "serve", *args, "-p", str(port)]
        environ = {**os.environ, "MODELPACK_LOG_LEVEL": "info", **(env or {})}
        process = subprocess.Popen(
            command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=environ
        )
        server = Server(process, port)
        started.append(server)
        ready = threading.Event()

        def read() -> None:
            assert process.stdout is not None
            for line in process.stdout:
                server.log.append(line)
                found = re.search(r"serving on http://127\.0\.0\.1:(\d+)", line)
                if found and server.port == 0:
                    server.port = int(found.group(1))
                if found:
                    ready.set()
            ready.set()

        server.reader = threading.Thread(target=read, daemon=True)
        server.reader.start()
        assert ready.wait(120), "server did not start"
        assert process.poll() is None, "".join(server.log)
        for _ in range(600):
            try:
                if httpx.get(f"{server.url}/ping", timeout=5).status_code == 200:
                    return server
            except httpx.TransportError:
                time.sleep(0.1)
        raise AssertionError("no 200 from /ping: " + "".join(server.log))

    yield start
    for server in started:
        if server.process.poll() is None:
            # SIGTERM first: with workers, killing the parent alone would leave them running.
            server.process.send_signal(signal.SIGTERM)
            try:
                server.process.wait(30)
            except subprocess.TimeoutExpired:
                server.process.kill()
        server.process.wait(30)
        if server.reader is not None:
            server.reader.join(10)
        if server.process.stdout is not None:
            server.process.stdout.close()
