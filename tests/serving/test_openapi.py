"""GET /openapi.json: a valid OpenAPI 3.1 document written from the package's signature, whose
examples the server accepts."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from openapi_spec_validator import validate
from winedata import WINE_COLUMNS

from modelpack.serving.openapi import build_openapi
from modelpack.signature.datatypes import Array, DataType
from modelpack.signature.schema import (
    ColSpec,
    ModelSignature,
    ParamSchema,
    ParamSpec,
    Schema,
    TensorSpec,
)

from .apps import AppClient, client_for

SCHEMAS = "#/components/schemas/"


@pytest.fixture(scope="module")
def document(client: AppClient) -> dict[str, Any]:
    response = client.get("/openapi.json")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    return response.json()


def test_the_wine_document_is_valid_openapi_3_1(document: dict[str, Any]) -> None:
    validate(document)
    assert document["openapi"] == "3.1.0"
    assert document["info"]["title"] == "wine"
    assert set(document["paths"]) == {
        "/invocations",
        "/ping",
        "/health",
        "/health/live",
        "/health/ready",
        "/version",
        "/metrics",
    }


def test_it_names_every_wine_column_with_its_type(document: dict[str, Any]) -> None:
    schemas = document["components"]["schemas"]
    row = schemas["Row"]
    assert list(row["properties"]) == WINE_COLUMNS
    assert row["required"] == WINE_COLUMNS
    assert {p["type"] for p in row["properties"].values()} == {"number"}
    split = schemas["DataframeSplitRequest"]["properties"]["dataframe_split"]
    assert [c["title"] for c in split["properties"]["data"]["items"]["prefixItems"]] == WINE_COLUMNS
    inputs = schemas["InputsRequest"]["properties"]["inputs"]
    assert list(inputs["properties"]) == WINE_COLUMNS
    for envelope in ("DataframeRecordsRequest", "InstancesRequest"):
        items = schemas[envelope]["properties"]
        key = next(k for k in items if k != "params")
        assert items[key]["items"] == {"$ref": SCHEMAS + "Row"}
    # The regressor's answer: one double per row (its output schema is a float64 tensor [-1]).
    predictions = schemas["Predictions"]["properties"]["predictions"]
    assert predictions["type"] == "array"
    assert predictions["items"]["type"] == ["number", "null"]


def test_its_examples_are_answered(client: AppClient, document: dict[str, Any]) -> None:
    content = document["paths"]["/invocations"]["post"]["requestBody"]["content"]
    example = content["application/json"]["example"]
    assert example["dataframe_split"]["columns"] == WINE_COLUMNS
    answer = client.post("/invocations", json=example)
    assert answer.status_code == 200
    assert len(answer.json()["predictions"]) == len(example["dataframe_split"]["data"])

    csv = content["text/csv"]["example"]
    assert csv.splitlines()[0] == ",".join(WINE_COLUMNS)
    answer_csv = client.post("/invocations", content=csv, headers={"Content-Type": "text/csv"})
    assert answer_csv.status_code == 200
    assert answer_csv.json() == answer.json()


def test_errors_share_the_envelope(document: dict[str, Any]) -> None:
    responses = document["paths"]["/invocations"]["post"]["responses"]
    assert set(responses) == {"200", "400", "401", "413", "415", "500", "503", "504"}
    error = document["components"]["schemas"]["Error"]
    assert error["required"] == ["error_code", "message"]
    assert "security" not in document["paths"]["/invocations"]["post"]


def test_a_tensor_model_with_params() -> None:
    signature = ModelSignature(
        Schema([TensorSpec(np.dtype("float32"), (-1, 28, 28), "image")]),
        Schema([TensorSpec(np.dtype("float32"), (-1, 10))]),
        ParamSchema(
            [
                ParamSpec("temperature", DataType.double, 1.0),
                ParamSpec("labels", DataType.string, ["a"], (-1,)),
            ]
        ),
    )
    document = build_openapi("digits", "1", signature, {"inputs": {"image": [[[0.0] * 28] * 28]}})
    validate(document)
    schemas = document["components"]["schemas"]
    image = schemas["InputsRequest"]["properties"]["inputs"]["properties"]["image"]
    assert image["type"] == "array" and "minItems" not in image  # any number of images
    assert (image["items"]["minItems"], image["items"]["items"]["maxItems"]) == (28, 28)
    assert image["items"]["items"]["items"] == {"type": ["number", "null"]}
    row = schemas["InstancesRequest"]["properties"]["instances"]["items"]["properties"]["image"]
    assert (row["minItems"], row["items"]["minItems"]) == (28, 28)
    assert "text/csv" not in document["paths"]["/invocations"]["post"]["requestBody"]["content"]
    assert schemas["Params"]["properties"] == {
        "temperature": {"type": "number", "format": "double", "default": 1.0},
        "labels": {"type": "array", "items": {"type": "string"}, "default": ["a"]},
    }
    output = schemas["Predictions"]["properties"]["predictions"]
    assert (output["items"]["minItems"], output["items"]["maxItems"]) == (10, 10)


def test_optional_and_nested_columns_and_a_token() -> None:
    signature = ModelSignature(
        Schema(
            [
                ColSpec(DataType.long, "age"),
                ColSpec(DataType.string, "city", required=False),
                ColSpec(Array(DataType.double), "scores"),
            ]
        )
    )
    document = build_openapi("m", "1", signature, auth=True)
    validate(document)
    row = document["components"]["schemas"]["Row"]
    assert row["required"] == ["age", "scores"]
    assert row["properties"]["city"]["anyOf"] == [{"type": "string"}, {"type": "null"}]
    assert row["properties"]["scores"]["items"] == {"type": "number", "format": "double"}
    assert document["paths"]["/invocations"]["post"]["security"] == [{"bearer": []}]
    assert document["components"]["securitySchemes"]["bearer"]["scheme"] == "bearer"
    body = document["paths"]["/invocations"]["post"]["requestBody"]["content"]
    assert "example" not in body["application/json"]  # no serving example: none made up


def test_a_model_without_a_signature(wine_model: Any) -> None:
    validate(build_openapi("free", "1", None))
    with client_for(wine_model, auth_token="t0ken") as guarded:
        document = guarded.get("/openapi.json").json()  # open, like the page
    validate(document)
    assert document["paths"]["/invocations"]["post"]["security"] == [{"bearer": []}]
