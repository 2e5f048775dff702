"""Health probes: /ping and /health as MLflow's (200 once loaded), /health/live (the process
runs) and /health/ready (warmed up and not shutting down)."""

from __future__ import annotations

import signal
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import orjson

from modelpack.serving.runtime import Runtime
from modelpack.settings import Settings

from .apps import AppClient, plain_model
from .gated import save_gated

JSON = {"Content-Type": "application/json"}
NOT_READY = {
    "warming": {
        "error_code": "TEMPORARILY_UNAVAILABLE",
        "message": "not ready: the model is warming up",
    },
    "draining": {
        "error_code": "TEMPORARILY_UNAVAILABLE",
        "message": "not ready: the server is shutting down",
    },
}


def _until(check: Any, seconds: float = 60.0) -> None:
    end = time.monotonic() + seconds
    while not check():
        assert time.monotonic() < end, "gave up waiting"
        time.sleep(0.05)


def test_readiness_follows_the_runtime() -> None:
    from modelpack.serving import create_app

    runtime = Runtime(plain_model(lambda data, params: [0]), Settings())
    with AppClient(create_app(runtime.model, runtime.settings, runtime)) as client:
        not_yet = client.get("/health/ready")
        assert (not_yet.status_code, not_yet.json()) == (503, NOT_READY["warming"])
        assert client.get("/health/live").status_code == 200
        assert client.get("/ping").status_code == 200

        runtime.start(warm_up=False)
        ready = client.get("/health/ready")
        assert (ready.status_code, ready.json()) == (200, {"status": "ready"})

        runtime.begin_shutdown(grace=30)
        draining = client.get("/health/ready")
        assert (draining.status_code, draining.json()) == (503, NOT_READY["draining"])
        assert client.get("/health/live").status_code == 200
        assert client.get("/health").status_code == 200


def test_ready_only_after_the_warm_up(start_server: Any, tmp_path: Path) -> None:
    package, gate = save_gated(tmp_path)
    gate.close()  # the warm-up call waits at the gate
    server = start_server("-m", str(package))
    _until(lambda: gate.entered)

    for _ in range(3):
        ready = httpx.get(f"{server.url}/health/ready", timeout=10)
        assert (ready.status_code, ready.json()) == (503, NOT_READY["warming"])
        assert httpx.get(f"{server.url}/health/live", timeout=10).status_code == 200
        assert httpx.get(f"{server.url}/ping", timeout=10).status_code == 200

    gate.open()
    _until(lambda: httpx.get(f"{server.url}/health/ready", timeout=10).status_code == 200)
    assert httpx.get(f"{server.url}/health/ready", timeout=10).json() == {"status": "ready"}
    server.wait_for("warmed up in")


def test_not_ready_while_shutting_down_with_a_request_in_flight(
    start_server: Any, tmp_path: Path
) -> None:
    package, gate = save_gated(tmp_path)
    server = start_server("-m", str(package), env={"MODELPACK_GRACEFUL_TIMEOUT": "60"})
    _until(lambda: httpx.get(f"{server.url}/health/ready", timeout=10).status_code == 200)

    gate.close()
    answers: list[httpx.Response] = []
    body = orjson.dumps({"inputs": {"x": [1.0, 2.0, 3.0]}})
    slow = threading.Thread(
        target=lambda: answers.append(
            httpx.post(f"{server.url}/invocations", content=body, headers=JSON, timeout=120)
        )
    )
    slow.start()
    _until(lambda: gate.entered)  # the request is being predicted

    server.process.send_signal(signal.SIGTERM)
    server.wait_for("shutting down: new requests get 503")
    for _ in range(5):
        ready = httpx.get(f"{server.url}/health/ready", timeout=10)
        assert (ready.status_code, ready.json()) == (503, NOT_READY["draining"])
        assert httpx.get(f"{server.url}/health/live", timeout=10).status_code == 200
    refused = httpx.post(f"{server.url}/invocations", content=body, headers=JSON, timeout=10)
    assert refused.status_code == 503
    assert refused.json()["error_code"] == "TEMPORARILY_UNAVAILABLE"
    assert refused.headers["retry-after"] == "1"

    gate.open()
    slow.join(60)
    assert answers[0].status_code == 200
    assert answers[0].json() == {"predictions": [3, 3, 3]}
    assert server.process.wait(30) == 0
