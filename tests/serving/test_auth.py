"""Bearer-token auth: who gets in, what a refusal says, and that the token stays secret."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from click.testing import CliRunner
from winedata import WINE_COLUMNS

from modelpack.cli import main
from modelpack.errors import InvalidArgument
from modelpack.pyfunc import PyFuncModel
from modelpack.serving.auth import OPEN_PATHS, BearerAuth
from modelpack.settings import Settings

from .apps import AppClient, client_for

TOKEN = "t0k3n-0f-the-test_server.XYZ~+/="
ROW = [6.2, 0.66, 0.48, 1.2, 0.029, 29, 75, 0.98, 3.33, 0.39, 12.8]
BODY = orjson.dumps({"dataframe_split": {"columns": WINE_COLUMNS, "data": [ROW]}})
JSON = {"Content-Type": "application/json"}
NO_TOKEN = {
    "error_code": "UNAUTHENTICATED",
    "message": "this server requires a token: send the header 'Authorization: Bearer <token>'",
}
NOT_BEARER = {
    "error_code": "UNAUTHENTICATED",
    "message": "the Authorization header holds no bearer token; send the header "
    "'Authorization: Bearer <token>'",
}
WRONG_TOKEN = {
    "error_code": "UNAUTHENTICATED",
    "message": "the bearer token is not the one this server accepts",
}


@pytest.fixture(scope="module")
def guarded(wine_model: PyFuncModel) -> Any:
    with client_for(wine_model, auth_token=TOKEN) as client:
        yield client


def invoke(client: AppClient, authorization: str | None) -> httpx.Response:
    headers = dict(JSON)
    if authorization is not None:
        headers["Authorization"] = authorization
    return client.post("/invocations", content=BODY, headers=headers)


def assert_refused(response: httpx.Response, body: dict[str, str], challenge: str) -> None:
    assert response.status_code == 401, response.text
    assert response.headers["content-type"] == "application/json"
    assert response.headers["www-authenticate"] == challenge
    assert response.json() == body


def test_the_right_token_gets_a_prediction(guarded: AppClient) -> None:
    response = invoke(guarded, f"Bearer {TOKEN}")
    assert response.status_code == 200, response.text
    assert len(response.json()["predictions"]) == 1


def test_the_scheme_is_case_insensitive(guarded: AppClient) -> None:
    assert invoke(guarded, f"bearer {TOKEN}").status_code == 200


def test_no_token_is_refused(guarded: AppClient) -> None:
    assert_refused(invoke(guarded, None), NO_TOKEN, "Bearer")


def test_a_wrong_token_is_refused_as_invalid(guarded: AppClient) -> None:
    for wrong in (TOKEN[:-1], TOKEN + "x", "x" * len(TOKEN), TOKEN.upper()):
        assert_refused(
            invoke(guarded, f"Bearer {wrong}"), WRONG_TOKEN, 'Bearer error="invalid_token"'
        )


@pytest.mark.parametrize("header", [f"Basic {TOKEN}", TOKEN, "Bearer", "Bearer   ", ""])
def test_another_scheme_or_no_credentials_is_refused(guarded: AppClient, header: str) -> None:
    assert_refused(invoke(guarded, header), NOT_BEARER, "Bearer")


def test_every_other_route_needs_the_token(guarded: AppClient) -> None:
    assert_refused(guarded.get("/version"), NO_TOKEN, "Bearer")
    # Unknown paths too: a client without the token learns nothing about the routes.
    assert_refused(guarded.get("/nothing-here"), NO_TOKEN, "Bearer")
    assert guarded.get("/version", headers={"Authorization": f"Bearer {TOKEN}"}).status_code == 200


def test_health_probes_metrics_and_the_model_page_are_open(guarded: AppClient) -> None:
    served = {"/ping", "/health", "/health/live", "/health/ready", "/metrics", "/openapi.json", "/"}
    for path in sorted(served):
        assert guarded.get(path).status_code == 200, path
        assert guarded.head(path).status_code == 200, path
    for path in ("/v2/health/live", "/v2/health/ready"):  # V2's probes (GET only)
        assert guarded.get(path).status_code == 200, path
    assert OPEN_PATHS == served | {"/v2/health/live", "/v2/health/ready"}


def test_v2_routes_refuse_in_v2s_error_format(guarded: AppClient) -> None:
    response = guarded.get("/v2/models/m")

    assert (response.status_code, response.json()) == (401, {"error": NO_TOKEN["message"]})
    assert response.headers["www-authenticate"] == "Bearer"


def test_head_and_options_without_the_token(guarded: AppClient) -> None:
    head = guarded.head("/version")
    assert (head.status_code, head.content) == (401, b"")
    assert head.headers["www-authenticate"] == "Bearer"
    assert_refused(guarded.request("OPTIONS", "/invocations"), NO_TOKEN, "Bearer")
    # With the token, OPTIONS meets the routes: POST only.
    allowed = guarded.request(
        "OPTIONS", "/invocations", headers={"Authorization": f"Bearer {TOKEN}"}
    )
    assert allowed.status_code == 405


def test_refusals_carry_a_request_id(guarded: AppClient) -> None:
    response = invoke(guarded, None)
    assert len(response.headers["x-request-id"]) == 32


def test_without_a_token_setting_nothing_is_asked(client: AppClient) -> None:
    assert invoke(client, None).status_code == 200
    assert client.get("/version").status_code == 200


def test_the_token_is_never_logged_or_echoed(
    wine_model: PyFuncModel, caplog: pytest.LogCaptureFixture
) -> None:
    with (
        client_for(wine_model, auth_token=TOKEN, debug=True) as client,
        caplog.at_level(logging.DEBUG),
    ):
        responses = [
            invoke(client, f"Bearer {TOKEN}"),
            invoke(client, f"Bearer {TOKEN}x"),
            invoke(client, f"Basic {TOKEN}"),
            invoke(client, None),
            client.get("/version", headers={"Authorization": f"Bearer {TOKEN}"}),
            client.post("/invocations", content=b"{", headers={"Authorization": f"Bearer {TOKEN}"}),
        ]
    assert [r.status_code for r in responses] == [200, 401, 401, 401, 200, 415]
    assert "401 UNAUTHENTICATED" in caplog.text
    assert TOKEN not in caplog.text
    for response in responses:
        assert TOKEN not in response.text
        assert TOKEN not in str(response.headers)


def test_the_token_is_not_in_reprs() -> None:
    settings = Settings(auth_token=TOKEN)
    assert TOKEN not in repr(settings)
    assert TOKEN not in repr(BearerAuth(lambda *a: None, TOKEN))  # type: ignore[arg-type,return-value]


@pytest.mark.parametrize(
    ("token", "message"),
    [
        ("", "the auth token is empty; set a token, or leave it out to serve without one"),
        (
            "with space",
            "the auth token must be printable ASCII without spaces (as an HTTP header carries it)",
        ),
        (
            "caf\u00e9",
            "the auth token must be printable ASCII without spaces (as an HTTP header carries it)",
        ),
    ],
)
def test_tokens_no_client_could_send_are_refused(
    wine_model: PyFuncModel, token: str, message: str
) -> None:
    with pytest.raises(InvalidArgument) as info:
        client_for(wine_model, auth_token=token)
    assert str(info.value) == message


# -- the command line -----------------------------------------------------------------------------


def test_an_empty_token_variable_is_refused_not_ignored(sklearn_package: Path) -> None:
    result = CliRunner().invoke(
        main, ["serve", "-m", str(sklearn_package)], env={"MODELPACK_AUTH_TOKEN": " "}
    )
    assert (result.exit_code, result.output) == (
        2,
        "Error: MODELPACK_AUTH_TOKEN is empty; set a token, or leave it out to serve without one\n",
    )


def test_an_unreadable_token_file_is_one_line(sklearn_package: Path, tmp_path: Path) -> None:
    missing = tmp_path / "no-such-token"
    result = CliRunner().invoke(
        main, ["serve", "-m", str(sklearn_package), "--auth-token-file", str(missing)]
    )
    assert (result.exit_code, result.output) == (
        2,
        f"Error: --auth-token-file {missing}: cannot read it (No such file or directory)\n",
    )


def test_an_empty_token_file_is_refused(sklearn_package: Path, tmp_path: Path) -> None:
    empty = tmp_path / "token"
    empty.write_text("\n")
    result = CliRunner().invoke(
        main, ["serve", "-m", str(sklearn_package), "--auth-token-file", str(empty)]
    )
    assert (result.exit_code, result.output) == (
        2,
        f"Error: --auth-token-file {empty} is empty; set a token, or leave it out to serve "
        "without one\n",
    )


def test_a_real_server_never_logs_the_token(
    start_server: Any, sklearn_package: Path, tmp_path: Path
) -> None:
    """`modelpack serve --debug` (debug log level, access log, stack traces in bodies), its token
    from the environment: after authorized and refused requests its log holds no token."""
    server = start_server(
        "-m", str(sklearn_package), "--debug", env={"MODELPACK_AUTH_TOKEN": TOKEN}
    )
    url = f"{server.url}/invocations"
    good = {**JSON, "Authorization": f"Bearer {TOKEN}"}
    assert httpx.post(url, content=BODY, headers=good).status_code == 200
    assert httpx.post(url, content=b"{", headers=good).status_code == 400
    assert httpx.post(url, content=BODY, headers=JSON).status_code == 401
    wrong = {**JSON, "Authorization": f"Bearer {TOKEN}-wrong"}
    assert httpx.post(url, content=BODY, headers=wrong).status_code == 401
    assert httpx.get(f"{server.url}/ping").status_code == 200
    server.wait_for("the bearer token is not the one this server accepts")
    log = server.stop()
    assert "POST /invocations HTTP/1.1" in log  # the access log was on
    assert TOKEN not in log


def test_a_real_server_reads_the_token_from_a_file(
    start_server: Any, sklearn_package: Path, tmp_path: Path
) -> None:
    secret = tmp_path / "token"
    secret.write_text(f"  {TOKEN}\n")  # as `echo` or a Kubernetes secret writes it
    server = start_server(
        "-m",
        str(sklearn_package),
        "--auth-token-file",
        str(secret),
        env={"MODELPACK_AUTH_TOKEN": "the-file-wins"},
    )
    url = f"{server.url}/invocations"
    good = {**JSON, "Authorization": f"Bearer {TOKEN}"}
    assert httpx.post(url, content=BODY, headers=good).status_code == 200
    other = {**JSON, "Authorization": "Bearer the-file-wins"}
    assert httpx.post(url, content=BODY, headers=other).status_code == 401
