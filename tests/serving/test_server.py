"""End to end: `modelpack serve` as a real process on 127.0.0.1, and its command-line errors."""

from __future__ import annotations

import re
import signal
import socket
from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner
from servers import free_port

from modelpack.cli import main

# Seed 000's curl call, verbatim: MLflow 1.x's Content-Type and a bare split body.
SEED_000_CONTENT_TYPE = "application/json; format=pandas-split"
SEED_000_BODY = (
    '{"columns":["alcohol", "chlorides", "citric acid", "density", "fixed acidity", '
    '"free sulfur dioxide", "pH", "residual sugar", "sulphates", "total sulfur dioxide", '
    '"volatile acidity"],"data":[[12.8, 0.029, 0.48, 0.98, 6.2, 29, 3.33, 1.2, 0.39, 75, 0.66]]}'
)


def test_seed_000_curl_call_gets_one_prediction(start_server, sklearn_package: Path) -> None:
    server = start_server("-m", str(sklearn_package))
    response = httpx.post(
        f"{server.url}/invocations",
        content=SEED_000_BODY,
        headers={"Content-Type": SEED_000_CONTENT_TYPE},
    )
    assert response.status_code == 200, response.text
    predictions = response.json()
    assert isinstance(predictions, list) and len(predictions) == 1
    assert isinstance(predictions[0], float)


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_signal_stops_the_server_cleanly(
    start_server, sklearn_package: Path, sig: signal.Signals
) -> None:
    server = start_server("-m", str(sklearn_package))
    server.process.send_signal(sig)
    assert server.process.wait(30) == 0
    assert any("Shutting down" in line for line in server.log)


def test_several_workers_serve_and_stop_on_sigint(start_server, sklearn_package: Path) -> None:
    server = start_server("-m", str(sklearn_package), "-w", "2", port=free_port())
    for _ in range(4):
        response = httpx.post(
            f"{server.url}/invocations",
            content=SEED_000_BODY,
            headers={"Content-Type": SEED_000_CONTENT_TYPE},
        )
        assert response.status_code == 200
    server.process.send_signal(signal.SIGINT)
    assert server.process.wait(60) == 0
    # Loaded once, in the process that then forked the two workers.
    assert sum("loaded sklearn model" in line for line in server.log) == 1
    assert sum("started worker" in line for line in server.log) == 2
    assert sum("Shutting down" in line for line in server.log) == 2


def test_declared_200_mib_body_is_refused_before_it_is_sent(
    start_server, sklearn_package: Path
) -> None:
    server = start_server("-m", str(sklearn_package))
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
        sock.sendall(
            b"POST /invocations HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b"Content-Length: " + str(200 * 2**20).encode() + b"\r\n\r\n{"
        )
        answer = _read_response(sock)
    assert answer.startswith(b"HTTP/1.1 413 ")
    assert b'"error_code":"REQUEST_LIMIT_EXCEEDED"' in answer
    # ...and the server goes on serving.
    assert httpx.get(f"{server.url}/ping").status_code == 200


def _read_response(sock: socket.socket) -> bytes:
    """One HTTP response with a Content-Length, however the server splits it into segments."""
    data = b""
    while b"\r\n\r\n" not in data:
        data += sock.recv(65536)
    head, _, body = data.partition(b"\r\n\r\n")
    found = re.search(rb"content-length: (\d+)", head, re.IGNORECASE)
    assert found is not None, head
    length = int(found.group(1))
    while len(body) < length:
        body += sock.recv(65536)
    return head + b"\r\n\r\n" + body


def test_unknown_env_manager() -> None:
    result = CliRunner().invoke(main, ["serve", "-m", ".", "--env-manager", "abc"])
    assert result.exit_code == 2
    assert "Invalid value for '--env-manager': 'abc' is not one of 'local', 'uv', " in result.output


def test_zero_workers(sklearn_package: Path) -> None:
    result = CliRunner().invoke(main, ["serve", "-m", str(sklearn_package), "-w", "0"])
    assert result.exit_code == 2
    assert result.output == "Error: --workers must be at least 1, got 0\n"


def test_missing_model(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["serve", "-m", str(tmp_path / "nothing")])
    assert result.exit_code == 2
    assert result.output.startswith("Error: model URI")
