"""Whose fault is it: the model's errors are 400s, the server's are 500s with a request id; the
log gets one INFO line for a 4xx and one ERROR line with a traceback for a 5xx; the server goes on
serving after each."""

from __future__ import annotations

import logging
import textwrap
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from winedata import WINE_COLUMNS

import modelpack
from modelpack.codecs import InputPlan

from .apps import AppClient, client_for, plain_model

ROW = [6.2, 0.66, 0.48, 1.2, 0.029, 29, 75, 0.98, 3.33, 0.39, 12.8]
JSON = {"Content-Type": "application/json"}


def _faulty(data: Any, params: Any) -> Any:
    """Fails as the request's ``x`` says: 1 raises ValueError, 2 MemoryError, 3 returns what JSON
    cannot hold; anything else is predicted."""
    x = int(data[0])
    if x == 1:
        raise ValueError("x must not be 1")
    if x == 2:
        raise MemoryError
    if x == 3:
        return [object()]
    return [x * 2]


def predict(client: AppClient, x: Any) -> httpx.Response:
    return client.post("/invocations", content=orjson.dumps({"inputs": [x]}), headers=JSON)


def serving_records(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name == "modelpack.serving"]


@pytest.fixture
def faulty() -> Any:
    with client_for(plain_model(_faulty)) as client:
        yield client


def test_the_models_value_error_is_a_400_logged_once_at_info(
    faulty: AppClient, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO, logger="modelpack"):
        response = predict(faulty, 1)
    assert response.status_code == 400
    assert response.json() == {
        "error_code": "BAD_REQUEST",
        "message": "the model raised ValueError: x must not be 1",
    }
    [record] = serving_records(caplog)
    assert (record.levelno, record.exc_info) == (logging.INFO, None)
    assert record.getMessage() == "400 BAD_REQUEST: the model raised ValueError: x must not be 1"
    assert record.request_id == response.headers["x-request-id"]  # type: ignore[attr-defined]
    assert predict(faulty, 0).json() == {"predictions": [0]}


def test_memory_error_is_a_500_with_a_request_id_and_no_traceback_in_the_body(
    faulty: AppClient, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO, logger="modelpack"):
        response = predict(faulty, 2)
    request_id = response.headers["x-request-id"]
    assert response.status_code == 500
    assert response.json() == {
        "error_code": "INTERNAL_ERROR",
        "message": "the server ran out of memory while predicting (MemoryError)",
        "request_id": request_id,
    }
    assert "Traceback" not in response.text
    [record] = serving_records(caplog)
    assert record.levelno == logging.ERROR
    assert record.getMessage() == (
        "500 INTERNAL_ERROR: the server ran out of memory while predicting (MemoryError)"
    )
    assert record.request_id == request_id  # type: ignore[attr-defined]
    assert record.exc_info is not None
    assert isinstance(record.exc_info[1].__cause__, MemoryError)  # type: ignore[union-attr]
    assert caplog.text.count("Traceback (most recent call last)") == 2  # MemoryError -> ours
    assert predict(faulty, 0).json() == {"predictions": [0]}


def test_output_that_cannot_be_encoded_is_a_500_logged_with_its_traceback(
    faulty: AppClient, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO, logger="modelpack"):
        response = predict(faulty, 3)
    assert response.status_code == 500
    assert response.json()["error_code"] == "INTERNAL_ERROR"
    assert response.json()["request_id"] == response.headers["x-request-id"]
    [record] = serving_records(caplog)
    assert record.levelno == logging.ERROR and record.exc_info is not None
    assert predict(faulty, 0).json() == {"predictions": [0]}


def test_a_bug_in_a_flavors_adapter_is_a_500(
    sklearn_package: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """The request is fine; modelpack's sklearn adapter is broken (its state, here)."""
    model = modelpack.load_model(sklearn_package)
    body = orjson.dumps({"dataframe_split": {"columns": WINE_COLUMNS, "data": [ROW]}})
    with client_for(model) as client:
        monkeypatch.setattr(model._predictor, "_fn", None)
        monkeypatch.setattr(model._predictor, "_array_fn", None)  # no fast path
        with caplog.at_level(logging.INFO, logger="modelpack"):
            broken = client.post("/invocations", content=body, headers=JSON)
        monkeypatch.undo()
        fixed = client.post("/invocations", content=body, headers=JSON)
    assert broken.status_code == 500
    assert broken.json()["message"].startswith(
        "internal error while predicting: TypeError in modelpack/flavors/sklearn.py line "
    )
    assert "NoneType" not in broken.text  # the exception's own text stays in the log
    [record] = serving_records(caplog)
    assert record.levelno == logging.ERROR and "NoneType" in caplog.text
    assert fixed.status_code == 200


def test_a_bug_in_a_decoder_is_a_500_not_the_clients_400(
    wine_model: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    body = orjson.dumps({"dataframe_records": [dict(zip(WINE_COLUMNS, ROW, strict=True))]})
    with client_for(wine_model) as client:
        monkeypatch.setattr(InputPlan, "frame", None)  # the decoder calls a broken helper
        broken = client.post("/invocations", content=body, headers=JSON)
        monkeypatch.undo()
        fixed = client.post("/invocations", content=body, headers=JSON)
    assert broken.status_code == 500
    assert broken.json()["message"].startswith(
        "internal error while reading the request: TypeError in modelpack/codecs/_json.py line "
    )
    assert fixed.status_code == 200


def test_debug_puts_the_stack_trace_of_a_500_in_the_body() -> None:
    with client_for(plain_model(_faulty), debug=True) as client:
        body = predict(client, 2).json()
    assert body["error_code"] == "INTERNAL_ERROR"
    assert body["stack_trace"].rstrip().endswith("MemoryError")
    assert "in _faulty" in body["stack_trace"]


# -- a real server --------------------------------------------------------------------------------

FAULTY_MODULE = """
def predict(model_input):
    x = float(model_input["x"][0])
    if x == 1:
        raise ValueError("x must not be 1")
    if x == 2:
        raise MemoryError
    if x == 3:
        return [object()]
    return [x * 2]
"""


def test_a_real_server_answers_each_fault_and_goes_on_serving(
    start_server: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    source = tmp_path / "src" / "faulty_model_for_serving.py"
    source.parent.mkdir()
    source.write_text(textwrap.dedent(FAULTY_MODULE))
    monkeypatch.syspath_prepend(str(source.parent))
    import faulty_model_for_serving  # type: ignore[import-not-found]

    package = tmp_path / "pkg"
    modelpack.save_model(faulty_model_for_serving.predict, package, code_paths=[source])
    server = start_server("-m", str(package))

    def call(x: float) -> httpx.Response:
        body = orjson.dumps({"inputs": {"x": [x]}})
        return httpx.post(f"{server.url}/invocations", content=body, headers=JSON, timeout=30)

    assert call(0).json() == {"predictions": [0.0]}

    bad = call(1)
    assert (bad.status_code, bad.json()["error_code"]) == (400, "BAD_REQUEST")
    log = server.wait_for(f"[request {bad.headers['x-request-id']}]")
    assert "INFO:     modelpack.serving: 400 BAD_REQUEST: the model raised ValueError" in log
    assert "Traceback" not in log
    assert call(0).status_code == 200

    memory = call(2)
    request_id = memory.headers["x-request-id"]
    assert memory.status_code == 500
    assert memory.json() == {
        "error_code": "INTERNAL_ERROR",
        "message": "the server ran out of memory while predicting (MemoryError)",
        "request_id": request_id,
    }
    log = server.wait_for("modelpack.errors.InternalError: the server ran out of memory")
    assert (
        "ERROR:     modelpack.serving: 500 INTERNAL_ERROR: the server ran out of memory while "
        f"predicting (MemoryError) [request {request_id}]"
    ) in log
    assert log.count("Traceback (most recent call last)") == 2  # MemoryError -> InternalError
    assert call(0).status_code == 200

    invalid = call(3)
    assert (invalid.status_code, invalid.json()["error_code"]) == (500, "INTERNAL_ERROR")
    assert call(0).json() == {"predictions": [0.0]}
    assert server.process.poll() is None
