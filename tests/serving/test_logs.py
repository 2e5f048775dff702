"""Log lines: each line about a request carries its id (the model's own lines from the engine's
thread too), in text or JSON; the access log; warnings said once per cause."""

from __future__ import annotations

import json
import logging
import re
import sys
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest

from modelpack._logs import reset_request_id, set_request_id
from modelpack.serving.logs import JsonFormatter, RequestIdFilter, TextFormatter
from modelpack.signature.schema import ColSpec, DataType, ModelSignature, Schema

from .apps import client_for, plain_model
from .gated import save_gated

JSON = {"Content-Type": "application/json"}
HEX32 = re.compile(r"[0-9a-f]{32}")


def _lines(server: Any, request_id: str) -> list[dict[str, Any]]:
    """The JSON log lines that carry ``request_id``, once the access line for it was written."""
    log = server.wait_for(f'"request_id":"{request_id}","client"')
    entries = [json.loads(line) for line in log.splitlines() if line.strip()]
    return [e for e in entries if e["request_id"] == request_id]


def test_json_lines_carry_the_request_id(start_server: Any, tmp_path: Path) -> None:
    package, _ = save_gated(tmp_path)
    server = start_server("-m", str(package), "--log-format", "json", "--access-log")
    body = orjson.dumps({"inputs": {"x": [1.0, 2.0]}})

    ok = httpx.post(
        f"{server.url}/invocations",
        content=body,
        headers={**JSON, "X-Request-ID": "order-42.a_b"},
        timeout=30,
    )
    assert ok.status_code == 200
    assert ok.headers["x-request-id"] == "order-42.a_b"  # echoed
    model_line, access = _lines(server, "order-42.a_b")
    # The model's own line, logged on the engine's prediction thread.
    assert (model_line["logger"], model_line["level"]) == ("gated", "WARNING")
    assert model_line["message"] == "predicting 2 rows"
    assert access["logger"] == "modelpack.access"
    assert {k: access[k] for k in ("method", "path", "status", "rows", "client")} == {
        "method": "POST",
        "path": "/invocations",
        "status": 200,
        "rows": 2,
        "client": "127.0.0.1",
    }
    assert access["duration_ms"] > 0
    assert access["message"].startswith('127.0.0.1 "POST /invocations" 200 rows=2 ')

    bad = httpx.post(
        f"{server.url}/invocations", content=b'{"inputs": {"y": [1]}}', headers=JSON, timeout=30
    )
    assert bad.status_code == 400
    made = bad.headers["x-request-id"]
    assert HEX32.fullmatch(made)  # made, as the client sent none
    refusal, access = _lines(server, made)
    assert (refusal["logger"], refusal["level"]) == ("modelpack.serving", "INFO")
    assert refusal["message"].startswith("400 INVALID_PARAMETER_VALUE: ")
    assert (access["status"], access["rows"]) == (400, None)

    log = server.stop()
    entries = [json.loads(line) for line in log.splitlines() if line.strip()]  # every line
    assert {"time", "level", "logger", "message", "request_id"} <= set(entries[0])
    assert any(e["logger"].startswith("uvicorn") for e in entries)  # uvicorn's lines too


def test_text_lines_end_with_the_request_id(start_server: Any, tmp_path: Path) -> None:
    package, _ = save_gated(tmp_path)
    server = start_server("-m", str(package), "--no-metrics")
    assert httpx.get(f"{server.url}/metrics").status_code == 404
    body = orjson.dumps({"inputs": {"x": [1.0]}})
    response = httpx.post(
        f"{server.url}/invocations", content=body, headers={**JSON, "X-Request-ID": "t-1"}
    )
    assert response.status_code == 200
    server.wait_for("WARNING:     gated: predicting 1 rows [request t-1]")
    assert "modelpack.access" not in "".join(server.log)  # no access log unless asked


def _record(**extra: Any) -> logging.LogRecord:
    try:
        raise ValueError("bad row")
    except ValueError:
        exc_info = sys.exc_info()
    record = logging.LogRecord("modelpack.serving", logging.ERROR, "f", 1, "n=%d", (3,), exc_info)
    record.__dict__.update(extra)
    return record


def test_the_filter_stamps_the_context_id_and_the_formatters_show_it() -> None:
    token = set_request_id("abc")
    try:
        record = _record(rows=4)
        assert RequestIdFilter().filter(record)
    finally:
        reset_request_id(token)
    entry = json.loads(JsonFormatter().format(record))
    assert entry.pop("time").endswith("+00:00")
    traceback = entry.pop("exc_info")
    assert traceback.startswith("Traceback (most recent call last):")
    assert traceback.endswith("ValueError: bad row")
    assert entry == {
        "level": "ERROR",
        "logger": "modelpack.serving",
        "message": "n=3",
        "request_id": "abc",
        "rows": 4,
    }
    text = TextFormatter().format(record).splitlines()
    assert text[0] == "ERROR:     modelpack.serving: n=3 [request abc]"
    assert text[1] == "Traceback (most recent call last):"

    outside = _record()
    RequestIdFilter().filter(outside)
    assert json.loads(JsonFormatter().format(outside))["request_id"] is None
    assert TextFormatter().format(outside).splitlines()[0] == "ERROR:     modelpack.serving: n=3"


def test_unknown_params_are_warned_about_once_per_cause(caplog: pytest.LogCaptureFixture) -> None:
    signature = ModelSignature(Schema([ColSpec(DataType.double, "x")]))
    with client_for(plain_model(lambda data, params: [0] * len(data), signature)) as client:

        def send(params: dict[str, Any]) -> None:
            body = orjson.dumps({"inputs": {"x": [1.0]}, "params": params})
            assert client.post("/invocations", content=body, headers=JSON).status_code == 200

        with caplog.at_level(logging.WARNING, logger="modelpack"):
            # Names of this test's own: the once-per-cause memory is the process's.
            for _ in range(3):
                send({"logs_alpha": 1})
            send({"logs_beta": 1, "logs_alpha": 2})
            send({"logs_alpha": 3})
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert warnings == [
        "params ['logs_alpha'] ignored: the model declares no params",
        "params ['logs_alpha', 'logs_beta'] ignored: the model declares no params",
    ]
