"""POST /invocations and friends, in process: one test per request form and per error."""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

import numpy as np
import orjson
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from strategies import request_bodies
from winedata import WINE_COLUMNS

from modelpack import __version__
from modelpack.pyfunc import PyFuncModel
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

from .apps import AppClient, client_for, plain_model

JSON = {"Content-Type": "application/json"}
ROW = [6.2, 0.66, 0.48, 1.2, 0.029, 29, 75, 0.98, 3.33, 0.39, 12.8]


@pytest.fixture(scope="module")
def expected(elasticnet: Any) -> list[float]:
    """What the wine model predicts for ROW."""
    frame = pd.DataFrame([ROW], columns=WINE_COLUMNS, dtype=float)
    return elasticnet.predict(frame).tolist()


def post(client: AppClient, body: Any, content_type: str = "application/json") -> Any:
    content = body if isinstance(body, bytes | str) else orjson.dumps(body)
    return client.post("/invocations", content=content, headers={"Content-Type": content_type})


def assert_error(response: Any, status: int, code: str, message: str) -> None:
    """The JSON error envelope; a 5xx also quotes the request id its header carries."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/json"
    expected = {"error_code": code, "message": message}
    if status >= 500:
        expected["request_id"] = response.headers["x-request-id"]
    assert response.json() == expected


# -- request forms --------------------------------------------------------------------------------


def test_dataframe_split(client: AppClient, expected: list[float]) -> None:
    response = post(client, {"dataframe_split": {"columns": WINE_COLUMNS, "data": [ROW]}})
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    assert response.json() == {"predictions": expected}


def test_dataframe_records(client: AppClient, expected: list[float]) -> None:
    response = post(client, {"dataframe_records": [dict(zip(WINE_COLUMNS, ROW, strict=True))]})
    assert response.json() == {"predictions": expected}


def test_instances(client: AppClient, expected: list[float]) -> None:
    response = post(client, {"instances": [dict(zip(WINE_COLUMNS, ROW, strict=True))]})
    assert response.json() == {"predictions": expected}


def test_inputs(client: AppClient, expected: list[float]) -> None:
    columns = {c: [v] for c, v in zip(WINE_COLUMNS, ROW, strict=True)}
    response = post(client, {"inputs": columns})
    assert response.json() == {"predictions": expected}


@pytest.mark.parametrize("content_type", ["text/csv", "application/csv", "text/csv; charset=utf-8"])
def test_csv(client: AppClient, expected: list[float], content_type: str) -> None:
    csv = pd.DataFrame([ROW], columns=WINE_COLUMNS).to_csv(index=False)
    response = post(client, csv, content_type)
    assert response.json() == {"predictions": expected}


def test_json_with_charset(client: AppClient, expected: list[float]) -> None:
    body = {"dataframe_split": {"columns": WINE_COLUMNS, "data": [ROW]}}
    response = post(client, body, "application/json; charset=UTF-8")
    assert response.json() == {"predictions": expected}


def test_mlflow_1x_format_pandas_split_is_answered_with_a_bare_list(
    client: AppClient, expected: list[float]
) -> None:
    response = post(
        client, {"columns": WINE_COLUMNS, "data": [ROW]}, "application/json; format=pandas-split"
    )
    assert response.status_code == 200
    assert response.json() == expected


def test_mlflow_1x_format_pandas_records_is_answered_with_a_bare_list(
    client: AppClient, expected: list[float]
) -> None:
    records = [dict(zip(WINE_COLUMNS, ROW, strict=True))]
    response = post(client, records, "application/json; format=pandas-records")
    assert response.json() == expected


def test_mlflow_1x_bare_split_object(client: AppClient, expected: list[float]) -> None:
    response = post(client, {"columns": WINE_COLUMNS, "data": [ROW]})
    assert response.json() == {"predictions": expected}


def test_mlflow_1x_bare_records_list(client: AppClient, expected: list[float]) -> None:
    response = post(client, [dict(zip(WINE_COLUMNS, ROW, strict=True))])
    assert response.json() == {"predictions": expected}


def test_params_reach_the_model() -> None:
    signature = ModelSignature(
        inputs=Schema([ColSpec(DataType.double, "x")]),
        params=ParamSchema(
            [ParamSpec("k", DataType.long, 1), ParamSpec("tag", DataType.string, "a")]
        ),
    )
    model = plain_model(lambda data, params: params, signature)
    with client_for(model) as client:
        response = post(client, {"inputs": {"x": [1.0]}, "params": {"k": 5}})
    assert response.json() == {"predictions": {"k": 5, "tag": "a"}}


def test_chat_body_is_answered_unwrapped() -> None:
    model = plain_model(lambda data, params: {"choices": [{"message": data["messages"][0]}]})
    with client_for(model) as client:
        response = post(client, {"messages": [{"role": "user", "content": "hello!"}]})
    assert response.json() == {"choices": [{"message": {"role": "user", "content": "hello!"}}]}


def test_nan_and_infinity_come_out_as_null() -> None:
    model = plain_model(lambda data, params: np.array([np.nan, np.inf, 1.0]))
    with client_for(model) as client:
        response = post(client, {"inputs": [1]})
    assert response.content == b'{"predictions":[null,null,1.0]}'


def test_dataframe_output_is_records() -> None:
    model = plain_model(lambda data, params: pd.DataFrame({"y": [1, 2]}))
    with client_for(model) as client:
        response = post(client, {"inputs": [1, 2]})
    assert response.json() == {"predictions": [{"y": 1}, {"y": 2}]}


@pytest.mark.parametrize("path", ["/ping", "/health"])
def test_health(client: AppClient, path: str) -> None:
    response = client.get(path)
    assert (response.status_code, response.json()) == (200, {"status": "ok"})
    assert client.head(path).status_code == 200


def test_version(client: AppClient) -> None:
    response = client.get("/version")
    assert (response.status_code, response.json()) == (200, {"version": __version__})


# -- errors --------------------------------------------------------------------------------------


def test_malformed_json(client: AppClient) -> None:
    response = post(client, b"this is,,,, not valid json " + b"secret" * 1000)
    assert_error(
        response,
        400,
        "BAD_REQUEST",
        "Invalid input: the body is not valid JSON (invalid literal, expected 'true': line 1 "
        "column 1 (char 0))",
    )


def test_wrong_envelope(client: AppClient) -> None:
    assert_error(
        post(client, {"dataframe": [ROW]}),
        400,
        "BAD_REQUEST",
        "The input must be a JSON object with exactly one of the fields dataframe_split, "
        "dataframe_records, instances or inputs; got an object with the fields ['dataframe']",
    )


def test_schema_mismatch(client: AppClient) -> None:
    response = post(client, {"dataframe_split": {"columns": ["alcohol"], "data": [[1.0]]}})
    assert response.status_code == 400
    assert response.json()["error_code"] == "INVALID_PARAMETER_VALUE"
    assert response.json()["message"].startswith("Model is missing inputs ['fixed acidity'")


def test_value_of_the_wrong_type(client: AppClient) -> None:
    body = {"dataframe_records": [{**dict(zip(WINE_COLUMNS, ROW, strict=True)), "pH": "high"}]}
    assert_error(
        post(client, body),
        400,
        "INVALID_PARAMETER_VALUE",
        "column 'pH': expected double, got str 'high' (row 0)",
    )


def test_bad_params() -> None:
    signature = ModelSignature(
        inputs=Schema([ColSpec(DataType.double, "x")]),
        params=ParamSchema([ParamSpec("k", DataType.long, 1)]),
    )
    with client_for(plain_model(lambda data, params: 0, signature)) as client:
        response = post(client, {"inputs": {"x": [1.0]}, "params": {"k": "five"}})
    assert_error(
        response,
        400,
        "INVALID_PARAMETER_VALUE",
        "param 'k': value 'five' of type str is not a valid long",
    )


def test_missing_content_type(client: AppClient) -> None:
    response = client.post("/invocations", content=b"{}")
    assert_error(
        response,
        415,
        "BAD_REQUEST",
        "the request has no Content-Type header; send application/json or text/csv",
    )


@pytest.mark.parametrize(
    ("content_type", "message"),
    [
        ("text/plain", "unsupported Content-Type 'text/plain'; send application/json or text/csv"),
        (
            "application/json; charset=latin-1",
            "unsupported charset 'latin-1' in Content-Type 'application/json; charset=latin-1'; "
            "request bodies must be UTF-8",
        ),
        (
            "application/json; something=something",
            "unrecognized Content-Type parameter(s) ['something'] in 'application/json; "
            "something=something'; only charset (and format for JSON) are understood",
        ),
    ],
)
def test_unsupported_content_type(client: AppClient, content_type: str, message: str) -> None:
    assert_error(post(client, b"{}", content_type), 415, "BAD_REQUEST", message)


def test_unknown_path(client: AppClient) -> None:
    assert_error(
        client.get("/nope"),
        404,
        "ENDPOINT_NOT_FOUND",
        "no endpoint at /nope; the endpoints are /invocations, /ping, /health, "
        "/health/live, /health/ready, /version, /metrics, /openapi.json, /",
    )


def test_wrong_method(client: AppClient) -> None:
    response = client.get("/invocations")
    assert_error(
        response, 405, "METHOD_NOT_ALLOWED", "GET is not allowed on /invocations; use POST"
    )
    assert response.headers["allow"] == "POST"


def test_empty_csv(client: AppClient) -> None:
    assert_error(
        post(client, b"", "text/csv"),
        400,
        "BAD_REQUEST",
        "the CSV body is empty; send a header row and one row per input",
    )


def test_body_over_the_limit_is_refused_by_its_declared_length(wine_model: PyFuncModel) -> None:
    with client_for(wine_model, max_body_bytes=1000) as client:
        response = post(client, b"[" + b"1," * 1000 + b"1]")
    assert_error(
        response,
        413,
        "REQUEST_LIMIT_EXCEEDED",
        "the request body is larger than the limit of 1000 bytes (MODELPACK_MAX_BODY_BYTES)",
    )


def test_body_over_the_limit_is_refused_while_streaming(wine_model: PyFuncModel) -> None:
    """A 200 MiB body without Content-Length: reading stops at the limit, 4 MiB here."""
    app = create_app(wine_model, Settings(max_body_bytes=4 * 2**20))
    chunk = b"x" * 2**20
    chunks_read = 0
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        nonlocal chunks_read
        chunks_read += 1
        return {"type": "http.request", "body": chunk, "more_body": chunks_read < 200}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": "/invocations",
        "raw_path": b"/invocations",
        "query_string": b"",
        "root_path": "",
        "headers": [(b"content-type", b"application/json")],
        "client": ("127.0.0.1", 1),
        "server": ("127.0.0.1", 80),
    }
    asyncio.run(app(scope, receive, send))
    assert sent[0]["status"] == 413
    assert chunks_read == 5
    assert orjson.loads(sent[1]["body"])["error_code"] == "REQUEST_LIMIT_EXCEEDED"


def test_timeout_answers_504_and_the_next_request_is_served() -> None:
    def predict(data: Any, params: Any) -> Any:
        if data["x"].iloc[0] > 0:
            time.sleep(0.5)
        return [0]

    model = plain_model(predict, ModelSignature(inputs=Schema([ColSpec(DataType.double, "x")])))
    with client_for(model, timeout=0.3) as client:
        slow = post(client, {"inputs": {"x": [1.0]}})
        time.sleep(0.4)  # the slow prediction ends; nothing else ran on the model meanwhile
        fast = post(client, {"inputs": {"x": [0.0]}})
    assert_error(
        slow,
        504,
        "DEADLINE_EXCEEDED",
        "the request was not answered within the time limit of 0.3 s (--timeout); a prediction "
        "that started keeps running until it returns",
    )
    assert (fast.status_code, fast.json()) == (200, {"predictions": [0]})


def test_a_slow_call_after_many_fast_ones_is_still_cut_at_the_limit() -> None:
    """Model code never runs on the event loop, however fast the model was so far: the timeout
    cuts every slow call, and the next request waits for the slow prediction to end (there is
    one prediction thread) instead of running beside it."""
    running = []

    def predict(data: Any, params: Any) -> Any:
        running.append(1)
        try:
            assert len(running) == 1, "two predictions at once"
            if data["x"].iloc[0] > 0:
                time.sleep(0.5)
            return [0]
        finally:
            running.pop()

    model = plain_model(predict, ModelSignature(inputs=Schema([ColSpec(DataType.double, "x")])))
    with client_for(model, timeout=0.3) as client:
        for _ in range(40):
            assert post(client, {"inputs": {"x": [0.0]}}).status_code == 200
        late = post(client, {"inputs": {"x": [1.0]}})
        started = time.monotonic()
        after = post(client, {"inputs": {"x": [0.0]}})
        waited = time.monotonic() - started
    assert late.status_code == 504
    assert after.status_code == 200
    assert waited > 0.1  # it waited for the slow prediction (0.5 s) to end


def _broken(data: Any, params: Any) -> Any:
    raise ZeroDivisionError("division by zero\nsecond line")


def test_model_exception_is_a_one_line_400(caplog: pytest.LogCaptureFixture) -> None:
    with client_for(plain_model(_broken)) as client, caplog.at_level(logging.INFO):
        response = post(client, {"inputs": [1]})
    assert_error(
        response, 400, "BAD_REQUEST", "the model raised ZeroDivisionError: division by zero"
    )
    # Logged once, without a traceback (tests/serving/test_errors.py has the details).
    assert "Traceback" not in caplog.text


def test_model_exception_with_debug_has_the_stack_trace() -> None:
    with client_for(plain_model(_broken), debug=True) as client:
        body = post(client, {"inputs": [1]}).json()
    assert body["error_code"] == "BAD_REQUEST"
    assert "in _broken" in body["stack_trace"]
    assert body["stack_trace"].rstrip().endswith("second line")


def test_output_that_cannot_be_encoded_is_a_500() -> None:
    with client_for(plain_model(lambda data, params: object())) as client:
        response = post(client, {"inputs": [1]})
    assert_error(
        response,
        500,
        "INTERNAL_ERROR",
        "the model's output cannot be encoded as JSON (object): Type is not JSON serializable: "
        "object",
    )


# -- properties -----------------------------------------------------------------------------------


@settings(max_examples=150, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    payload=st.binary(max_size=300),
    content_type=st.sampled_from(
        ["application/json", "text/csv", "application/json; format=pandas-split"]
    ),
)
def test_arbitrary_bytes_never_give_a_5xx(
    client: AppClient, payload: bytes, content_type: str
) -> None:
    assert post(client, payload, content_type).status_code < 500
    assert (
        post(client, {"dataframe_split": {"columns": WINE_COLUMNS, "data": [ROW]}}).status_code
        == 200
    )


@settings(max_examples=300, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(request_bodies)
def test_arbitrary_json_never_gives_a_5xx(client: AppClient, value: Any) -> None:
    assert post(client, value).status_code < 500
    assert (
        post(client, {"dataframe_split": {"columns": WINE_COLUMNS, "data": [ROW]}}).status_code
        == 200
    )
