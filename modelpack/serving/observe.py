"""The one middleware around every request: its id, its metrics and its access-log line.

A pure ASGI middleware (one layer, so that the 1-row fast path pays for one wrapper, not three):
it gives the request its id (``request_id``) and holds it in the context for the log lines made
while the request runs, puts ``X-Request-ID`` on the response, and when the request was a
prediction (``protocol_of``) records it in the metrics. With the access log on, it writes one
line per request on the ``modelpack.access`` logger.

A prediction endpoint says how many rows the request held by setting ``scope[ROWS]``.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from modelpack._logs import reset_request_id, set_request_id
from modelpack.serving.metrics import Metrics
from modelpack.serving.request_id import HEADER, request_id_for

__all__ = ["ROWS", "Observe", "protocol_of"]

ROWS = "modelpack.rows"
"""Key of the ASGI scope under which a prediction endpoint puts the rows of its input."""
_GONE = 499
"""Status recorded for a request whose client left before any answer (nginx's code)."""

access_log = logging.getLogger("modelpack.access")


def protocol_of(path: str) -> str | None:
    """The ``protocol`` label of a prediction route, or None for every other path."""
    if path == "/invocations":
        return "mlflow"
    if path.startswith("/v2/models/") and path.endswith("/infer"):
        return "v2"
    return None


class Observe:
    """Request id, metrics (``metrics`` may be None: off) and access log (``access``)."""

    def __init__(self, app: ASGIApp, metrics: Metrics | None = None, access: bool = False) -> None:
        self._app = app
        self._metrics = metrics
        self._access = access

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self._app(scope, receive, send)
            return
        rid = request_id_for(scope["headers"])
        header = (HEADER, rid.encode("ascii"))
        metrics = self._metrics
        protocol = protocol_of(scope["path"]) if metrics is not None else None
        started = time.perf_counter()
        status = 0

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message = {**message, "headers": [*message.get("headers", ()), header]}
            await send(message)

        token = set_request_id(rid)
        if protocol is not None:
            metrics.inflight(1)  # type: ignore[union-attr]
        try:
            await self._app(scope, receive, send_with_id)
        finally:
            if protocol is not None or self._access:
                self._done(scope, protocol, status or _GONE, time.perf_counter() - started)
        # Left set when the app raised: the server logs the exception after this returns, in
        # the request's own task, and that line should carry the id too.
        reset_request_id(token)

    def _done(self, scope: Scope, protocol: str | None, status: int, seconds: float) -> None:
        rows = scope.get(ROWS, 0) if status == 200 else 0
        if protocol is not None:
            metrics: Any = self._metrics
            metrics.inflight(-1)
            metrics.record_request(protocol, status, seconds, rows)
        if self._access:
            client = scope.get("client")
            path = scope["path"] if len(scope["path"]) <= 200 else scope["path"][:197] + "..."
            ms = seconds * 1e3
            access_log.info(
                '%s "%s %s" %d rows=%s %.1f ms',
                client[0] if client else "-",
                scope["method"],
                path,
                status,
                scope.get(ROWS, "-"),
                ms,
                extra={
                    "client": client[0] if client else None,
                    "method": scope["method"],
                    "path": path,
                    "status": status,
                    "rows": scope.get(ROWS),
                    "duration_ms": round(ms, 3),
                },
            )
