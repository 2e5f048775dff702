"""The OpenAPI 3.1 document of a served package, built from its signature and serving example.

No HTTP here: ``build_openapi`` takes the facts and returns a dict (the app serves it as
``/openapi.json``). ``/invocations`` gets one request schema per JSON envelope, written from the
input schema (column names and JSON types, which are required, tensor shapes), the CSV form, the
``params`` from the params schema, the answer from the output schema, and MLflow's error
envelope for every failure; the package's ``serving_input_example.json`` is the example.
"""

from __future__ import annotations

import csv
import io
from typing import Any

from modelpack.serving._schemas import (
    column_schema,
    columns_schema,
    outputs_schema,
    params_schema,
    row_schema,
    tensor_schema,
)
from modelpack.signature.schema import ColSpec, ModelSignature, Schema, TensorSpec

__all__ = ["build_openapi", "csv_example"]

_REF = "#/components/schemas/"
_ENVELOPES = ("dataframe_split", "dataframe_records", "instances", "inputs")
_ERRORS = {
    "400": "The input does not match the signature, or the model refused it.",
    "401": "A bearer token is required (when the server has one) and was missing or wrong.",
    "413": "The body is larger than the server's limit.",
    "415": "The Content-Type is neither JSON nor CSV.",
    "500": "The server failed (the body holds a request id to find the log line).",
    "503": "The model's queue is full or the server is shutting down (see Retry-After).",
    "504": "The request was not answered within the server's time limit.",
}


def build_openapi(
    title: str,
    version: str,
    signature: ModelSignature | None,
    example: Any = None,
    *,
    description: str = "",
    inputs_only: bool = False,
    auth: bool = False,
) -> dict[str, Any]:
    """The OpenAPI 3.1 document for a model with ``signature`` (None: unchecked input).

    ``example`` is the parsed serving example (a JSON request body) or None. ``inputs_only``:
    the signature comes from type hints, so only ``{"inputs": ...}`` is read. ``auth``: the
    server requires a bearer token on ``/invocations``.
    """
    inputs = signature.inputs if signature is not None else None
    outputs = signature.outputs if signature is not None else None
    params = signature.params if signature is not None else None
    envelopes = ("inputs",) if inputs_only else _ENVELOPES
    schemas: dict[str, Any] = {
        "Params": params_schema(params),
        "Predictions": {
            "type": "object",
            "required": ["predictions"],
            "properties": {"predictions": outputs_schema(outputs)},
        },
        "Error": {
            "type": "object",
            "description": "MLflow's error envelope; request_id on 5xx answers.",
            "required": ["error_code", "message"],
            "properties": {
                "error_code": {"type": "string", "examples": ["BAD_REQUEST"]},
                "message": {"type": "string"},
                "request_id": {"type": "string"},
                "stack_trace": {"type": "string", "description": "Only with --debug."},
            },
        },
    }
    if inputs is not None and not inputs.is_tensor_spec() and inputs.has_input_names():
        schemas["Row"] = row_schema(inputs)
    for key in envelopes:
        schemas[_schema_name(key)] = _envelope(key, _envelope_body(key, inputs))
    json_body: dict[str, Any] = {
        "schema": {"oneOf": [{"$ref": _REF + _schema_name(k)} for k in envelopes]}
    }
    if example is not None:
        json_body["example"] = example
    content: dict[str, Any] = {"application/json": json_body}
    if not inputs_only and (inputs is None or not inputs.is_tensor_spec()):
        csv_body: dict[str, Any] = {
            "schema": {
                "type": "string",
                "description": "A header row, then one line per row; types from the signature.",
            }
        }
        csv_text = csv_example(example)
        if csv_text is not None:
            csv_body["example"] = csv_text
        content["text/csv"] = csv_body
    errors = {code: {"$ref": "#/components/responses/Error"} for code in _ERRORS}
    invocations: dict[str, Any] = {
        "operationId": "invocations",
        "summary": "Predict (MLflow's scoring protocol)",
        "description": _describe_inputs(inputs, inputs_only),
        "requestBody": {"required": True, "content": content},
        "responses": {
            "200": {
                "description": "The model's predictions.",
                "headers": {"X-Request-ID": {"$ref": "#/components/headers/RequestId"}},
                "content": {"application/json": {"schema": {"$ref": _REF + "Predictions"}}},
            },
            **{code: {**ref, "description": _ERRORS[code]} for code, ref in errors.items()},
        },
    }
    if auth:
        invocations["security"] = [{"bearer": []}]
    document: dict[str, Any] = {
        "openapi": "3.1.0",
        "info": {"title": title, "version": version, "description": description},
        "paths": {
            "/invocations": {"post": invocations},
            "/ping": _probe("ping", "200 once the model is loaded (MLflow's health check)."),
            "/health": _probe("health", "The same as /ping."),
            "/health/live": _probe("live", "200 while the server process runs."),
            "/health/ready": _probe(
                "ready",
                "200 when the model is warmed up and the server is not shutting down, else 503.",
                unready=True,
            ),
            "/version": _probe("version", "The modelpack version, as JSON."),
            "/metrics": {
                "get": {
                    "operationId": "metrics",
                    "summary": "Prometheus metrics (text exposition format 0.0.4).",
                    "responses": {
                        "200": {
                            "description": "The metrics of all workers.",
                            "content": {"text/plain": {"schema": {"type": "string"}}},
                        },
                        "404": {"$ref": "#/components/responses/Error"},
                    },
                }
            },
        },
        "components": {
            "schemas": schemas,
            "responses": {
                "Error": {
                    "description": "An error, as MLflow's server answers it.",
                    "headers": {"X-Request-ID": {"$ref": "#/components/headers/RequestId"}},
                    "content": {"application/json": {"schema": {"$ref": _REF + "Error"}}},
                }
            },
            "headers": {
                "RequestId": {
                    "description": "The request's id: the client's own when sane, else a new one.",
                    "schema": {"type": "string"},
                }
            },
        },
    }
    if auth:
        document["components"]["securitySchemes"] = {"bearer": {"type": "http", "scheme": "bearer"}}
    return document


def _schema_name(key: str) -> str:
    return "".join(part.capitalize() for part in key.split("_")) + "Request"


def _envelope(key: str, body: dict[str, Any]) -> dict[str, Any]:
    return {
        "type": "object",
        "required": [key],
        "properties": {key: body, "params": {"$ref": _REF + "Params"}},
        "additionalProperties": False,
    }


def _envelope_body(key: str, inputs: Schema | None) -> dict[str, Any]:
    """The JSON Schema of one envelope's value for this input schema."""
    if inputs is None:
        return {"description": "Any input: this model's signature checks nothing."}
    if inputs.is_tensor_spec():
        return _tensor_envelope(key, inputs)
    named = inputs.has_input_names()
    specs: list[ColSpec] = inputs.inputs  # type: ignore[assignment]
    if key == "dataframe_split":
        names = [s.name for s in specs] if named else None
        split: dict[str, Any] = {
            "type": "object",
            "required": ["data"],
            "properties": {
                "columns": {"type": "array", "items": {"type": "string"}}
                | ({"examples": [names]} if names else {}),
                "data": {
                    "type": "array",
                    "description": "Rows: values in the order of 'columns' (the signature's "
                    "order shown here).",
                    "items": {
                        "type": "array",
                        "prefixItems": [column_schema(s) for s in specs],
                    },
                },
                "index": {"type": "array"},
            },
            "additionalProperties": False,
        }
        return split
    if key in ("dataframe_records", "instances"):
        row = {"$ref": _REF + "Row"} if named else {"type": "array"}
        return {"type": "array", "description": "One object per row.", "items": row}
    # inputs: columns by name
    if not named:
        return {"type": "array", "items": {"type": "array", "prefixItems": columns_schema(specs)}}
    return {
        "type": "object",
        "description": "Columns by name: each a list of values, one per row.",
        "required": [s.name for s in specs if s.required],
        "properties": {str(s.name): {"type": "array", "items": column_schema(s)} for s in specs},
    }


def _tensor_envelope(key: str, inputs: Schema) -> dict[str, Any]:
    specs: list[TensorSpec] = inputs.inputs  # type: ignore[assignment]
    named = inputs.has_input_names()
    if key == "instances":
        if named:  # one object per row, each holding that row of every tensor
            return {
                "type": "array",
                "items": {
                    "type": "object",
                    "required": [str(s.name) for s in specs],
                    "properties": {str(s.name): tensor_schema(s, s.shape[1:]) for s in specs},
                },
            }
        return tensor_schema(specs[0], specs[0].shape)
    if key == "inputs":
        if named:
            return {
                "type": "object",
                "required": [str(s.name) for s in specs],
                "properties": {str(s.name): tensor_schema(s, s.shape) for s in specs},
            }
        return tensor_schema(specs[0], specs[0].shape)
    return {
        "description": f"{key} is read as a DataFrame and then converted to the tensor input; "
        "prefer 'inputs' or 'instances' for tensor models."
    }


def _describe_inputs(inputs: Schema | None, inputs_only: bool) -> str:
    if inputs is None:
        return "The model has no input schema: any of MLflow's input forms is passed on as is."
    names = [str(s.name) for s in inputs.inputs if s.name is not None]
    forms = "{'inputs': ...}" if inputs_only else "one of " + ", ".join(_ENVELOPES)
    text = f"A JSON object with {forms}, and optional params"
    if not inputs_only and not inputs.is_tensor_spec():
        text += "; or CSV with a header row"
    if names:
        text += ". Inputs: " + ", ".join(names)
    return text + "."


def _probe(name: str, summary: str, *, unready: bool = False) -> dict[str, Any]:
    responses: dict[str, Any] = {
        "200": {
            "description": "OK",
            "content": {"application/json": {"schema": {"type": "object"}}},
        }
    }
    if unready:
        responses["503"] = {"$ref": "#/components/responses/Error"}
    return {"get": {"operationId": name, "summary": summary, "responses": responses}}


def csv_example(example: Any) -> str | None:
    """The serving example as CSV, when it is a ``dataframe_split`` with column names."""
    if not isinstance(example, dict) or not isinstance(example.get("dataframe_split"), dict):
        return None
    split = example["dataframe_split"]
    columns, data = split.get("columns"), split.get("data")
    if not isinstance(columns, list) or not isinstance(data, list):
        return None
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(columns)
    for row in data:
        writer.writerow(row if isinstance(row, list) else [row])
    return out.getvalue()
