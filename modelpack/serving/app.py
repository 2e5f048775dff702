"""The HTTP app: ``/ping``, ``/health``, ``/version``, ``POST /invocations``, and one error handler.

``POST /invocations`` is a plain ASGI endpoint: it reads the body in chunks against the size limit,
picks a codec from the Content-Type, and runs decode -> predict -> encode in one hop to the
prediction thread under the request timeout (or on the event loop, for small requests of a model
measured to be fast). Every failure, 404 and 405 included, is answered with MLflow's JSON error
envelope by the handlers at the bottom: a 4xx is logged in one INFO line, a 5xx at ERROR with its
traceback and its request id in the body. Around the routes sit two ASGI middlewares of their own
modules: request ids (``request_id``) and, when a token is set, bearer auth (``auth``).
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
import time
import traceback
from collections.abc import Awaitable, Callable, MutableMapping
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import orjson
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import ASGIApp

from modelpack import __version__
from modelpack.codecs import (
    Decoded,
    InputPlan,
    MediaType,
    csv_dtypes,
    decode_csv,
    decode_json,
    encode_predictions,
    parse_content_type,
)
from modelpack.errors import (
    ModelpackError,
    PayloadTooLarge,
    PredictionFailed,
    RequestTimeout,
    internal_error,
)
from modelpack.serving.auth import BearerAuth
from modelpack.serving.request_id import RequestId, current_request_id
from modelpack.settings import Settings

__all__ = ["create_app"]

_log = logging.getLogger("modelpack.serving")
_JSON = "application/json"
_JSON_HEADER = (b"content-type", b"application/json")

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]


# Where predictions run. One prediction thread per process: predicting is GIL-bound Python and
# pandas work (or a library with its own thread pool), so more threads only add switching (at 64
# connections: ~420-520 req/s with one thread vs ~300-410 with the default pool, ElasticNet).
# A prediction that times out keeps its thread; the next requests get a fresh one.
# The hop to that thread costs two thread wake-ups (0.1-0.3 ms per request measured here, a third
# of a small model's whole request). So after _INLINE_AFTER small requests in a row took under
# _INLINE_COST each, small requests run on the event loop, where the timeout cannot cut them; one
# slow inline call, or a timeout, sends the model back to the thread. Large bodies always go there.
_INLINE_BODY = 16 * 1024
_INLINE_COST = 0.002
_INLINE_MS = _INLINE_COST * 1e3
_INLINE_AFTER = 32


class _Disconnected(Exception):
    """The client went away before sending its whole body."""


class Invocations:
    """The ``POST /invocations`` endpoint for one loaded model."""

    def __init__(self, model: Any, settings: Settings) -> None:
        self._model = model
        self._plan = InputPlan.for_model(model)
        self._csv_dtypes = csv_dtypes(self._plan)  # computed once, not per request
        self._limit = settings.max_body_bytes
        self._timeout = settings.timeout
        self._executor = _prediction_thread()
        self._fast_streak = 0
        """Small requests in a row that took under _INLINE_COST (in a thread or inline)."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        start = time.perf_counter()
        content_type = None
        declared = None
        for name, value in scope["headers"]:
            if name == b"content-type":
                content_type = value.decode("latin-1")
            elif name == b"content-length":
                declared = value
        media = parse_content_type(content_type)
        if declared is not None and declared.isdigit() and int(declared) > self._limit:
            raise self._too_large()  # refused before a byte of the body is read
        try:
            body = await self._read_body(receive)
        except _Disconnected:
            return
        if len(body) <= _INLINE_BODY and self._fast_streak >= _INLINE_AFTER:
            out = self._process_inline(media, body)
        else:
            loop = asyncio.get_running_loop()
            context = contextvars.copy_context()  # the request id, for logs from the thread
            future = loop.run_in_executor(
                self._executor, context.run, self._process_timed, media, body
            )
            try:
                out = await asyncio.wait_for(future, self._timeout)
            except asyncio.TimeoutError:
                self._fast_streak = 0
                self._replace_thread()
                raise RequestTimeout(
                    f"the request took longer than the {self._timeout:g} s limit (--timeout); "
                    "its prediction may still be running"
                ) from None
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [_JSON_HEADER, (b"content-length", str(len(out)).encode())],
            }
        )
        await send({"type": "http.response.body", "body": out})
        if _log.isEnabledFor(logging.DEBUG):
            _log.debug(
                "POST /invocations %s, %d bytes in, %d bytes out, %.2f ms",
                media.kind,
                len(body),
                len(out),
                (time.perf_counter() - start) * 1e3,
            )

    async def _read_body(self, receive: Receive) -> bytes:
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                raise _Disconnected
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self._limit:
                raise self._too_large()  # stop reading: the rest is never held in memory
            chunks.append(chunk)
            if not message.get("more_body", False):
                return chunks[0] if len(chunks) == 1 else b"".join(chunks)

    def _replace_thread(self) -> None:
        """Leave the timed-out prediction its thread (it cannot be stopped); serve on a new one.

        Requests already queued behind it stay there and time out in turn.
        """
        stuck, self._executor = self._executor, _prediction_thread()
        stuck.shutdown(wait=False)

    def _too_large(self) -> PayloadTooLarge:
        return PayloadTooLarge(
            f"the request body is larger than the limit of {self._limit} bytes "
            "(MODELPACK_MAX_BODY_BYTES)"
        )

    def _process_timed(self, media: MediaType, body: bytes) -> bytes:
        """``_process`` in a worker thread, counting fast small requests towards going inline."""
        start = time.perf_counter()
        try:
            return self._process(media, body)
        finally:
            if len(body) <= _INLINE_BODY:
                fast = time.perf_counter() - start <= _INLINE_COST
                self._fast_streak = self._fast_streak + 1 if fast else 0

    def _process_inline(self, media: MediaType, body: bytes) -> bytes:
        """``_process`` on the event loop; one slow call sends the model back to the threads."""
        start = time.perf_counter()
        try:
            return self._process(media, body)
        finally:
            if time.perf_counter() - start > _INLINE_COST:
                self._fast_streak = 0
                _log.debug("a small request took over %g ms: predicting in threads", _INLINE_MS)

    def _process(self, media: MediaType, body: bytes) -> bytes:
        """Decode, predict, encode."""
        try:
            if media.kind == "csv":
                decoded = Decoded(decode_csv(body, self._plan, dtypes=self._csv_dtypes))
            else:
                decoded = decode_json(body, self._plan, orient=media.orient)
            # PyFuncModel.predict decides whose fault a failed prediction is (400 or 500).
            predictions = self._model.predict(decoded.data, decoded.params)
            return encode_predictions(predictions, bare=decoded.bare)
        except ModelpackError:
            raise
        except Exception as exc:
            # The codecs and enforcement answer bad input with ModelpackErrors: anything else is
            # the server's fault (a bug of ours, memory running out), answered with a 500.
            raise internal_error(exc, "serving the request") from exc


def _prediction_thread() -> ThreadPoolExecutor:
    return ThreadPoolExecutor(max_workers=1, thread_name_prefix="modelpack-predict")


def create_app(model: Any, settings: Settings) -> ASGIApp:
    """The ASGI app serving ``model`` (a ``PyFuncModel``, already loaded) under ``settings``.

    Request ids and the bearer token are middlewares around the routes, so that every response,
    401s and unmatched paths included, carries ``X-Request-ID``.
    """
    invocations = Invocations(model, settings)
    version = orjson.dumps({"version": __version__})

    async def ping(request: Request) -> Response:
        return Response(b'{"status":"ok"}', media_type=_JSON)

    async def version_endpoint(request: Request) -> Response:
        return Response(version, media_type=_JSON)

    async def on_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, ModelpackError)
        return _error_response(exc, settings.debug)

    app: ASGIApp = Starlette(
        routes=[
            Route("/ping", ping, methods=["GET"]),
            Route("/health", ping, methods=["GET"]),
            Route("/version", version_endpoint, methods=["GET"]),
            Route("/invocations", invocations, methods=["POST"]),
        ],
        exception_handlers={
            ModelpackError: on_error,
            HTTPException: _http_error,
            Exception: _internal_error,
        },
    )
    if settings.auth_token is not None:
        app = BearerAuth(app, settings.auth_token)
    return RequestId(app)


def _error_response(exc: ModelpackError, debug: bool) -> Response:
    body = exc.to_dict()
    if exc.status_code < 500:
        # Once, without a traceback: a client must not be able to fill the log with tracebacks.
        _log_refusal(exc.status_code, exc.error_code, exc.message)
    else:
        request_id = body["request_id"] = current_request_id()
        line = ("%d %s: %s [request %s]", exc.status_code, exc.error_code, exc.message, request_id)
        if isinstance(exc, RequestTimeout):
            _log.warning(*line)  # the server is busy or the model slow: no bug to trace
        else:
            _log.error(*line, exc_info=exc)
    if debug and (isinstance(exc, PredictionFailed) or exc.status_code >= 500):
        body["stack_trace"] = "".join(traceback.format_exception(exc.__cause__ or exc))
    return Response(orjson.dumps(body), status_code=exc.status_code, media_type=_JSON)


def _log_refusal(status: int, error_code: str, message: str) -> None:
    """The one INFO line (no traceback) for a request answered with a 4xx."""
    _log.info("%d %s: %s [request %s]", status, error_code, message, current_request_id())


_HTTP_CODES = {404: "ENDPOINT_NOT_FOUND", 405: "METHOD_NOT_ALLOWED"}


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    path = request.url.path if len(request.url.path) <= 100 else request.url.path[:97] + "..."
    if exc.status_code == 404:
        message = f"no endpoint at {path}; the endpoints are /invocations, /ping, /health, /version"
    elif exc.status_code == 405:
        allowed = (exc.headers or {}).get("Allow", "")
        message = f"{request.method} is not allowed on {path}; use {allowed}"
    else:
        message = str(exc.detail)
    body = {"error_code": _HTTP_CODES.get(exc.status_code, "BAD_REQUEST"), "message": message}
    _log_refusal(exc.status_code, body["error_code"], message)
    return Response(
        orjson.dumps(body), status_code=exc.status_code, headers=exc.headers, media_type=_JSON
    )


async def _internal_error(request: Request, exc: Exception) -> Response:
    # The server logs the traceback after this response (starlette re-raises), never sends it.
    request_id = current_request_id()
    _log.error("500 INTERNAL_ERROR: unhandled %s [request %s]", type(exc).__name__, request_id)
    body = {
        "error_code": "INTERNAL_ERROR",
        "message": "internal server error; see the server log",
        "request_id": request_id,
    }
    return Response(orjson.dumps(body), status_code=500, media_type=_JSON)
