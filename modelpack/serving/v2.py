"""The Open Inference Protocol (KServe V2) over REST, beside ``/invocations``.

``GET /v2/health/live``, ``GET /v2/health/ready`` (503 until the model is warmed up, and while
draining), ``GET /v2`` (server metadata), ``GET /v2/models/{name}[/versions/{v}]`` (model
metadata), ``GET .../ready`` and ``POST .../infer``, JSON or with the binary tensor extension
(``Inference-Header-Content-Length``). Errors on these routes are V2's ``{"error": "..."}``
(``error_body``; the app's error handler picks the format by ``is_v2_path``).
"""

from __future__ import annotations

import functools
import time
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from modelpack.codecs import V2Request, encode_v2_response, parse_v2_request
from modelpack.engine import ClientGone, count_rows
from modelpack.errors import MalformedInput, ModelpackError, internal_error
from modelpack.serving._v2_service import V2Service
from modelpack.serving.invocations import (
    INLINE_BODY,
    Receive,
    Scope,
    Send,
    in_thread,
    read_request,
    until_disconnect,
)
from modelpack.serving.observe import ROWS
from modelpack.serving.request_id import current_request_id

__all__ = ["HEADER_LENGTH", "V2_ENDPOINTS", "error_body", "is_v2_path", "v2_routes"]

HEADER_LENGTH = "inference-header-content-length"
"""The binary extension's header: the length of the JSON part at the start of the body."""
V2_ENDPOINTS = (
    "/v2, /v2/health/live, /v2/health/ready, /v2/models/{name}[/versions/{version}][/ready|/infer]"
)
_JSON = "application/json"
_BINARY = "application/octet-stream"


def is_v2_path(path: str) -> bool:
    """Whether errors on ``path`` take V2's format."""
    return path == "/v2" or path.startswith("/v2/")


def error_body(message: str, **extra: Any) -> bytes:
    """V2's error body, ``{"error": "..."}`` (``extra``: a stack trace when debugging)."""
    return orjson.dumps({"error": message, **extra})


def v2_routes(service: V2Service) -> list[BaseRoute]:
    """The V2 REST routes for the model ``service`` serves."""
    server_metadata = orjson.dumps(service.server_metadata())
    model_metadata = orjson.dumps(service.model_metadata())

    async def live(request: Request) -> Response:
        return Response(status_code=200)

    async def ready(request: Request) -> Response:
        if service.ready:
            return Response(status_code=200)
        return _not_ready(service)

    async def server(request: Request) -> Response:
        return Response(server_metadata, media_type=_JSON)

    async def metadata(request: Request) -> Response:
        service.check_model(*_model(request))
        return Response(model_metadata, media_type=_JSON)

    async def model_ready(request: Request) -> Response:
        service.check_model(*_model(request))
        if service.ready:
            return Response(status_code=200)
        return _not_ready(service)

    infer = Infer(service)
    models = "/v2/models/{model_name}"
    versioned = models + "/versions/{model_version}"
    return [
        Route("/v2/health/live", live, methods=["GET"]),
        Route("/v2/health/ready", ready, methods=["GET"]),
        Route("/v2", server, methods=["GET"]),
        Route(models, metadata, methods=["GET"]),
        Route(versioned, metadata, methods=["GET"]),
        Route(models + "/ready", model_ready, methods=["GET"]),
        Route(versioned + "/ready", model_ready, methods=["GET"]),
        Route(models + "/infer", infer, methods=["POST"]),
        Route(versioned + "/infer", infer, methods=["POST"]),
    ]


def _model(request: Request) -> tuple[str, str | None]:
    params = request.path_params
    return params["model_name"], params.get("model_version")


def _not_ready(service: V2Service) -> Response:
    why = "the server is shutting down" if service.runtime.draining else "the model is warming up"
    return Response(error_body(why), status_code=503, media_type=_JSON)


class Infer:
    """``POST /v2/models/{name}[/versions/{v}]/infer``: a plain ASGI endpoint, as
    ``/invocations``: the body read against the size limit, decoded (in a thread when large),
    predicted through the engine under the request's deadline, and encoded."""

    def __init__(self, service: V2Service) -> None:
        self._service = service
        self._limit = service.settings.max_body_bytes
        self._timeout = service.settings.timeout

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        deadline = time.monotonic() + self._timeout
        params = scope["path_params"]
        self._service.check_model(params["model_name"], params.get("model_version"))
        with self._service.runtime.plane.admitted():  # 503 at once when the worker is full
            await self._serve(scope, receive, send, deadline)

    async def _serve(self, scope: Scope, receive: Receive, send: Send, deadline: float) -> None:
        body = await read_request(scope, receive, self._limit)
        if body is None:
            return
        header_length = _header_length(scope)
        large = len(body) > INLINE_BODY  # as for /invocations: big bodies go to a thread
        if large:
            request, prepared = await in_thread(self._prepare, body, header_length)
        else:
            request, prepared = self._prepare(body, header_length)
        scope[ROWS] = count_rows(prepared.data)  # for the metrics and the access log
        gone = functools.partial(until_disconnect, receive) if self._service.waits else None
        try:
            predictions = await self._service.predict(prepared, deadline, gone)
        except ClientGone:
            return
        if large:
            out, length = await in_thread(self._encode, predictions, request)
        else:
            out, length = self._encode(predictions, request)
        headers = [(b"content-length", str(len(out)).encode())]
        if length is None:
            headers.append((b"content-type", _JSON.encode()))
        else:
            headers.append((b"content-type", _BINARY.encode()))
            headers.append((HEADER_LENGTH.encode(), str(length).encode()))
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": out})

    def _prepare(self, body: bytes, header_length: int | None) -> tuple[V2Request, Any]:
        try:
            request = parse_v2_request(body, header_length)
        except ModelpackError:
            raise
        except Exception as exc:
            raise internal_error(exc, "reading the request") from exc
        return request, self._service.prepare(request)

    def _encode(self, predictions: Any, request: V2Request) -> tuple[bytes, int | None]:
        service = self._service
        outputs, content_type = service.outputs(predictions, request)
        try:
            return encode_v2_response(
                outputs,
                service.binary_flags(outputs, request),
                model_name=service.name,
                model_version=service.version,
                # As MLServer, always an id: the request's own, else the one in the logs.
                request_id=request.id if request.id is not None else current_request_id(),
                content_type=content_type,
            )
        except ModelpackError:
            raise
        except Exception as exc:
            raise internal_error(exc, "encoding the answer") from exc


def _header_length(scope: Scope) -> int | None:
    for name, value in scope["headers"]:
        if name == HEADER_LENGTH.encode():
            text = value.decode("latin-1").strip()
            if not text.isdigit():
                raise MalformedInput(
                    "Inference-Header-Content-Length must be the length of the JSON header in "
                    "bytes (a number)"
                )
            return int(text)
    return None
