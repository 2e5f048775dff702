"""The HTTP app: the routes, and one error handler for every failure.

``/invocations`` (MLflow's scoring route, ``invocations``) sits beside ``/ping`` and ``/health``
(MLflow's probes), ``/health/live`` and ``/health/ready`` (``Runtime.readiness``), ``/version``,
``/metrics`` (``metrics``), ``/openapi.json`` (``openapi``), the model page at ``/`` (``page``),
and the Open Inference Protocol's routes under ``/v2`` (``v2``). Every failure, 404 and 405
included, is answered with MLflow's JSON error envelope (V2's ``{"error": ...}`` under ``/v2``)
by the handlers at the bottom: a 4xx is logged in one INFO line, a full queue's 503s as a count
every 10 s, a 5xx at ERROR with its traceback and its request id in the body. Around the routes
sit two ASGI middlewares of their own modules: request ids, metrics and the access log
(``observe``) and, when a token is set, bearer auth (``auth``).
"""

from __future__ import annotations

import functools
import logging
import time
import traceback
from typing import Any

import orjson
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route
from starlette.types import ASGIApp, Receive, Scope, Send

from modelpack._version import __version__
from modelpack.errors import ModelpackError, Overloaded, PredictionFailed, RequestTimeout
from modelpack.serving._v2_service import V2Service
from modelpack.serving.auth import BearerAuth
from modelpack.serving.invocations import Invocations
from modelpack.serving.metrics import CONTENT_TYPE as METRICS_TYPE
from modelpack.serving.observe import Observe
from modelpack.serving.request_id import current_request_id
from modelpack.serving.runtime import Runtime
from modelpack.serving.v2 import V2_ENDPOINTS, error_body, is_v2_path, v2_routes
from modelpack.settings import Settings

__all__ = ["create_app"]

_log = logging.getLogger("modelpack.serving")
_JSON = "application/json"


def create_app(model: Any, settings: Settings, runtime: Runtime | None = None) -> ASGIApp:
    """The ASGI app serving ``model`` (a ``PyFuncModel``, already loaded) under ``settings``.

    ``runtime`` is the process's engine, metrics and readiness (made and started here, without
    a warm-up, when not given; the server makes it itself to start it in each worker).

    Request ids (with metrics and the access log) and the bearer token are middlewares around
    the routes, so that every response, 401s and unmatched paths included, carries
    ``X-Request-ID``.
    """
    if runtime is None:
        runtime = Runtime(model, settings)
        runtime.start(warm_up=False)  # in process: ready at once
    invocations = Invocations(runtime)
    version = orjson.dumps({"version": __version__})
    built: dict[str, bytes] = {}
    """The OpenAPI document and the page, made on first request (they read package files)."""

    async def ping(request: Request) -> Response:
        return Response(b'{"status":"ok"}', media_type=_JSON)

    async def ready(request: Request) -> Response:
        reason = runtime.readiness()
        if reason is None:
            return Response(b'{"status":"ready"}', media_type=_JSON)
        # Not logged: probes ask every few seconds.
        body = {"error_code": "TEMPORARILY_UNAVAILABLE", "message": f"not ready: {reason}"}
        return Response(orjson.dumps(body), status_code=503, media_type=_JSON)

    async def version_endpoint(request: Request) -> Response:
        return Response(version, media_type=_JSON)

    async def metrics(request: Request) -> Response:
        if runtime.metrics is None:
            message = "metrics are off on this server (--no-metrics, MODELPACK_METRICS)"
            _log_refusal(404, "ENDPOINT_NOT_FOUND", message)
            body = {"error_code": "ENDPOINT_NOT_FOUND", "message": message}
            return Response(orjson.dumps(body), status_code=404, media_type=_JSON)
        return Response(runtime.metrics.scrape(), headers={"Content-Type": METRICS_TYPE})

    async def openapi(request: Request) -> Response:
        if "openapi" not in built:
            built["openapi"] = orjson.dumps(_openapi(runtime))
        return Response(built["openapi"], media_type=_JSON)

    async def page(request: Request) -> Response:
        if "page" not in built:
            built["page"] = _page(runtime)
        return Response(built["page"], media_type="text/html; charset=utf-8")

    async def on_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, ModelpackError)
        return _error_response(exc, settings.debug, v2=is_v2_path(request.url.path))

    routes: list[BaseRoute] = [
        Route("/invocations", invocations, methods=["POST"]),  # first: the router tries in order
        Route("/ping", ping, methods=["GET"]),
        Route("/health", ping, methods=["GET"]),
        Route("/health/live", ping, methods=["GET"]),
        Route("/health/ready", ready, methods=["GET"]),
        Route("/version", version_endpoint, methods=["GET"]),
        Route("/metrics", metrics, methods=["GET"]),
        Route("/openapi.json", openapi, methods=["GET"]),
        Route("/", page, methods=["GET"]),
    ]
    mlflow_paths = [route.path for route in routes if isinstance(route, Route)]
    routes += v2_routes(V2Service(runtime))
    app: ASGIApp = Starlette(
        routes=routes,
        exception_handlers={
            ModelpackError: on_error,
            HTTPException: functools.partial(_http_error, mlflow_paths),
            Exception: _internal_error,
        },
    )
    app = _Direct(app, invocations, settings.debug)
    if settings.auth_token is not None:
        app = BearerAuth(app, settings.auth_token)
    return Observe(app, runtime.metrics, settings.access_log)


class _Direct:
    """``POST /invocations`` straight to its endpoint; every other request through Starlette.

    Starlette's router and its two exception middlewares cost ~25 us a request, a tenth of a
    1-row prediction on one connection. The route that carries the load skips them and answers
    its failures with the same handlers and the same bodies.
    """

    def __init__(self, app: ASGIApp, invocations: Invocations, debug: bool) -> None:
        self._app = app
        self._invocations = invocations
        self._debug = debug

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] != "/invocations" or scope["method"] != "POST":
            await self._app(scope, receive, send)
            return
        try:
            await self._invocations(scope, receive, send)
        except ModelpackError as exc:
            await _error_response(exc, self._debug)(scope, receive, send)
        except Exception as exc:
            await (await _internal_error(Request(scope), exc))(scope, receive, send)
            raise  # as Starlette does: the server logs the traceback


def _openapi(runtime: Runtime) -> dict[str, Any]:
    from modelpack.serving.openapi import build_openapi

    model = runtime.model
    example = runtime.serving_example()
    return build_openapi(
        runtime.model_name,
        __version__,
        model.metadata.signature,
        orjson.loads(example) if example is not None else None,
        description=f"A {model.flavor_name} model served by modelpack {__version__}.",
        inputs_only=runtime.plane.plan.inputs_only,
        auth=runtime.settings.auth_token is not None,
    )


def _page(runtime: Runtime) -> bytes:
    from modelpack.info import describe_package
    from modelpack.serving.openapi import csv_example
    from modelpack.serving.page import pretty_json, render_page

    summary = describe_package(runtime.model.path, runtime.settings)
    summary["name"] = runtime.model_name
    raw = runtime.serving_example()
    example = None
    csv = None
    if raw is not None:
        parsed = orjson.loads(raw)
        example = pretty_json(parsed)
        csv = csv_example(parsed)
    return render_page(
        summary,
        example,
        csv,
        metrics=runtime.metrics is not None,
        auth=runtime.settings.auth_token is not None,
    )


def _error_response(exc: ModelpackError, debug: bool, v2: bool = False) -> Response:
    body = exc.to_dict()
    headers = None
    request_id = current_request_id()
    if exc.status_code >= 500:
        body["request_id"] = request_id
    if isinstance(exc, Overloaded):
        headers = {"Retry-After": str(exc.retry_after)}
    if isinstance(exc, Overloaded):
        _overload_log.refused(
            exc.message
        )  # the load's doing, not a bug: summed up, not per request
    elif exc.status_code < 500:
        # Once, without a traceback: a client must not be able to fill the log with tracebacks.
        _log_refusal(exc.status_code, exc.error_code, exc.message)
    else:
        line = ("%d %s: %s", exc.status_code, exc.error_code, exc.message)
        extra = {"request_id": request_id}
        if isinstance(exc, RequestTimeout):
            _log.warning(*line, extra=extra)  # the server is busy or the model slow: no bug
        else:
            _log.error(*line, exc_info=exc, extra=extra)
    if debug and (isinstance(exc, PredictionFailed) or exc.status_code >= 500):
        body["stack_trace"] = "".join(traceback.format_exception(exc.__cause__ or exc))
    if v2:  # V2's format: {"error": "..."} (a stack trace beside it when debugging)
        extra = {k: body[k] for k in ("request_id", "stack_trace") if k in body}
        content = error_body(exc.message, **extra)
    else:
        content = orjson.dumps(body)
    return Response(content, status_code=exc.status_code, headers=headers, media_type=_JSON)


class _OverloadLog:
    """Under overload every refusal is one more request: the log says how many, every 10 s."""

    def __init__(self, every: float = 10.0) -> None:
        self._every = every
        self._since = 0.0
        self._count = 0

    def refused(self, message: str) -> None:
        now = time.monotonic()
        self._count += 1
        if now - self._since >= self._every:
            _log.warning(
                "503 TEMPORARILY_UNAVAILABLE: %d request(s) refused since the last report: %s",
                self._count,
                message,
            )
            self._since, self._count = now, 0


_overload_log = _OverloadLog()


def _log_refusal(status: int, error_code: str, message: str) -> None:
    """The one INFO line (no traceback) for a request answered with a 4xx or a 503."""
    _log.info("%d %s: %s", status, error_code, message, extra={"request_id": current_request_id()})


_HTTP_CODES = {404: "ENDPOINT_NOT_FOUND", 405: "METHOD_NOT_ALLOWED"}


async def _http_error(paths: list[str], request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    path = request.url.path if len(request.url.path) <= 100 else request.url.path[:97] + "..."
    if exc.status_code == 404 and is_v2_path(request.url.path):
        message = f"no endpoint at {path}; the V2 endpoints are {V2_ENDPOINTS}"
    elif exc.status_code == 404:
        message = f"no endpoint at {path}; the endpoints are {', '.join(paths)}"
    elif exc.status_code == 405:
        allowed = (exc.headers or {}).get("Allow", "")
        message = f"{request.method} is not allowed on {path}; use {allowed}"
    else:
        message = str(exc.detail)
    body = {"error_code": _HTTP_CODES.get(exc.status_code, "BAD_REQUEST"), "message": message}
    _log_refusal(exc.status_code, body["error_code"], message)
    content = error_body(message) if is_v2_path(request.url.path) else orjson.dumps(body)
    return Response(content, status_code=exc.status_code, headers=exc.headers, media_type=_JSON)


async def _internal_error(request: Request, exc: Exception) -> Response:
    # The server logs the traceback after this response (starlette re-raises), never sends it.
    request_id = current_request_id()
    _log.error(
        "500 INTERNAL_ERROR: unhandled %s", type(exc).__name__, extra={"request_id": request_id}
    )
    message = "internal server error; see the server log"
    if is_v2_path(request.url.path):
        return Response(error_body(message, request_id=request_id), 500, media_type=_JSON)
    body = {"error_code": "INTERNAL_ERROR", "message": message, "request_id": request_id}
    return Response(orjson.dumps(body), status_code=500, media_type=_JSON)
