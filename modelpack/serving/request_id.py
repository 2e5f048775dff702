"""Request ids: every response carries ``X-Request-ID``; error bodies and log lines quote it.

A pure ASGI middleware takes the id from the request's ``X-Request-ID`` header when it is a sane
token (so a proxy's id is kept end to end), else makes one, and holds it in a context variable
for the error handler and the logs (``current_request_id()``) while the request runs.
"""

from __future__ import annotations

import re
import uuid
from contextvars import ContextVar

from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = ["HEADER", "RequestId", "current_request_id"]

HEADER = b"x-request-id"
_SANE = re.compile(rb"[A-Za-z0-9._-]{1,128}")
_current: ContextVar[str | None] = ContextVar("modelpack_request_id", default=None)


def current_request_id() -> str | None:
    """The id of the request being served in this context, or None outside a request."""
    return _current.get()


class RequestId:
    """Gives every HTTP request an id and puts it on the response as ``X-Request-ID``."""

    def __init__(self, app: ASGIApp) -> None:
        self._app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self._app(scope, receive, send)
            return
        rid = _from_headers(scope["headers"]) or uuid.uuid4().hex
        header = (HEADER, rid.encode("ascii"))

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                message = {**message, "headers": [*message.get("headers", ()), header]}
            await send(message)

        reset = _current.set(rid)
        try:
            await self._app(scope, receive, send_with_id)
        finally:
            _current.reset(reset)


def _from_headers(headers: list[tuple[bytes, bytes]]) -> str | None:
    for name, value in headers:
        if name == HEADER:
            return value.decode("ascii") if _SANE.fullmatch(value) else None
    return None
