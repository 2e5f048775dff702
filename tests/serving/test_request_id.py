"""X-Request-ID: on every response, kept from the request when sane, quoted in 5xx bodies."""

from __future__ import annotations

import re
from typing import Any

import pytest

from .apps import AppClient, client_for, plain_model

HEX32 = re.compile(r"[0-9a-f]{32}")


def test_every_response_has_one(client: AppClient) -> None:
    responses = [
        client.get("/ping"),
        client.get("/version"),
        client.get("/nothing-here"),
        client.post("/invocations", content=b"{", headers={"Content-Type": "application/json"}),
    ]
    ids = [r.headers["x-request-id"] for r in responses]
    assert [r.status_code for r in responses] == [200, 200, 404, 400]
    assert all(HEX32.fullmatch(i) for i in ids)
    assert len(set(ids)) == len(ids)
    assert all(len(r.headers.get_list("x-request-id")) == 1 for r in responses)


@pytest.mark.parametrize("sent", ["abc", "req-1.2_3", "A" * 128, "0f" * 16])
def test_a_sane_id_from_the_client_is_kept(client: AppClient, sent: str) -> None:
    response = client.get("/ping", headers={"X-Request-ID": sent})
    assert response.headers["x-request-id"] == sent


@pytest.mark.parametrize("sent", ["", "A" * 129, "has space", "semi;colon", "é", "a/b"])
def test_any_other_id_is_replaced(client: AppClient, sent: str) -> None:
    response = client.get("/ping", headers={"X-Request-ID": sent.encode("utf-8")})
    assert HEX32.fullmatch(response.headers["x-request-id"])


def test_a_5xx_body_quotes_it() -> None:
    def memory(data: Any, params: Any) -> Any:
        raise MemoryError

    with client_for(plain_model(memory)) as client:
        response = client.post(
            "/invocations",
            content=b'{"inputs": [1]}',
            headers={"Content-Type": "application/json", "X-Request-ID": "trace-42"},
        )
    assert response.status_code == 500
    assert response.headers["x-request-id"] == "trace-42"
    assert response.json()["request_id"] == "trace-42"
