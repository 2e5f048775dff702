"""The tracking stores on their own: how a REST store answers a server that is unreachable or
refuses the credentials (the stores against a real MLflow server are in test_tracking.py)."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from modelpack.errors import AccessDenied, RemoteError
from modelpack.settings import Settings
from modelpack.uris import resolve


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_an_unreachable_tracking_server_names_its_address() -> None:
    port = _free_port()
    with pytest.raises(RemoteError) as caught:
        resolve("models:/wine/1", Settings(tracking_uri=f"http://127.0.0.1:{port}"))
    assert str(caught.value) == (
        f"model URI 'models:/wine/1': cannot reach the tracking server at http://127.0.0.1:{port}: "
        "[Errno 111] Connection refused"
    )


class _Refusing(ThreadingHTTPServer):
    status: int
    seen: list[str | None]


class _RefusingHandler(BaseHTTPRequestHandler):
    server: _Refusing

    def do_GET(self) -> None:
        self.server.seen.append(self.headers.get("Authorization"))
        body = b"You are not authenticated. Please see the documentation.\n"
        self.send_response(self.server.status)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def refusing_server() -> Iterator[_Refusing]:
    server = _Refusing(("127.0.0.1", 0), _RefusingHandler)
    server.seen = []
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server
    server.shutdown()
    server.server_close()


@pytest.mark.parametrize(
    ("status", "credentials", "header"),
    [
        (401, {"tracking_token": "tok"}, "Bearer tok"),
        (403, {"tracking_username": "ana", "tracking_password": "pw"}, "Basic YW5hOnB3"),
    ],
)
def test_a_refusing_server_is_access_denied(
    refusing_server: _Refusing, status: int, credentials: dict[str, str], header: str
) -> None:
    refusing_server.status = status
    address = f"http://127.0.0.1:{refusing_server.server_address[1]}"
    with pytest.raises(AccessDenied) as caught:
        resolve("models:/wine@champion", Settings(tracking_uri=address, **credentials))
    assert str(caught.value) == (
        f"model URI 'models:/wine@champion': the tracking server at {address} refused access "
        f"(HTTP {status}): You are not authenticated. Please see the documentation; "
        "set MLFLOW_TRACKING_TOKEN, or MLFLOW_TRACKING_USERNAME and _PASSWORD"
    )
    assert refusing_server.seen == [header]
