"""``POST /invocations``: MLflow's scoring route, on the engine.

A plain ASGI endpoint: it reads the body in chunks against the size limit, picks a codec from the
Content-Type, decodes and checks the input (on the event loop for small bodies, in a thread for
large ones: that is our code, never the model's), and awaits the engine, which runs the model on
its own thread under the request's deadline. The answer is encoded the same way round.
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
import logging
import time
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from modelpack.codecs import MediaType, parse_content_type
from modelpack.engine import ClientGone, Prepared, count_rows
from modelpack.errors import PayloadTooLarge
from modelpack.serving.observe import ROWS
from modelpack.serving.runtime import Runtime

__all__ = [
    "INLINE_BODY",
    "Invocations",
    "in_thread",
    "media_of",
    "read_request",
    "until_disconnect",
]

_log = logging.getLogger("modelpack.serving")
_JSON_HEADER = (b"content-type", b"application/json")
# Bodies (and answers for inputs) up to this size are decoded and encoded on the event loop:
# ~0.1 ms of our code, cheaper than a hop to a thread. Larger ones go to a thread, so that /ping
# and small requests are never held up behind a 10,000-row body.
INLINE_BODY = 16 * 1024

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]


class Disconnected(Exception):
    """The client went away before sending its whole body."""


async def read_body(receive: Receive, limit: int) -> bytes:
    """The whole request body, refused with 413 as soon as it passes ``limit`` bytes."""
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise Disconnected
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise too_large(limit)  # stop reading: the rest is never held in memory
        chunks.append(chunk)
        if not message.get("more_body", False):
            return chunks[0] if len(chunks) == 1 else b"".join(chunks)


async def read_request(scope: Scope, receive: Receive, limit: int) -> bytes | None:
    """The request's whole body, or None when the client went away first; refused with 413 as
    soon as its Content-Length or the bytes read pass ``limit``."""
    if declared_too_large(scope, limit):
        raise too_large(limit)
    try:
        return await read_body(receive, limit)
    except Disconnected:
        return None


def too_large(limit: int) -> PayloadTooLarge:
    return PayloadTooLarge(
        f"the request body is larger than the limit of {limit} bytes (MODELPACK_MAX_BODY_BYTES)"
    )


def declared_too_large(scope: Scope, limit: int) -> bool:
    """Content-Length says more than ``limit``: refuse before a byte of the body is read."""
    for name, value in scope["headers"]:
        if name == b"content-length":
            return bool(value.isdigit() and int(value) > limit)
    return False


async def until_disconnect(receive: Receive) -> None:
    """Returns when the client disconnects (the body has been read already)."""
    while (await receive())["type"] != "http.disconnect":
        pass


class Invocations:
    """The ``POST /invocations`` endpoint for one served model."""

    def __init__(self, runtime: Runtime) -> None:
        self._plane = runtime.plane
        self._engine = runtime.engine
        self._limit = runtime.settings.max_body_bytes
        self._timeout = runtime.settings.timeout

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        deadline = time.monotonic() + self._timeout
        with self._plane.admitted():  # 503 at once when the worker is full, before any work
            await self._serve(scope, receive, send, deadline)

    async def _serve(self, scope: Scope, receive: Receive, send: Send, deadline: float) -> None:
        media = media_of(scope)
        body = await read_request(scope, receive, self._limit)
        if body is None:
            return
        large = len(body) > INLINE_BODY
        if large:
            prepared = await in_thread(self._plane.prepare, media, body)
        else:
            prepared = self._plane.prepare(media, body)
        scope[ROWS] = count_rows(prepared.data)  # for the metrics and the access log
        out = await self._answer(prepared, deadline, receive, large)
        if out is None:
            return
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [_JSON_HEADER, (b"content-length", str(len(out)).encode())],
            }
        )
        await send({"type": "http.response.body", "body": out})

    async def _answer(
        self, prepared: Prepared, deadline: float, receive: Receive, large: bool
    ) -> bytes | None:
        # Watching for a disconnect costs a task; only worth it when the request has to wait.
        waits = self._engine.busy or self._engine.depth > 0
        gone = functools.partial(until_disconnect, receive) if waits else None
        try:
            predictions = await self._plane.submit(prepared, deadline, gone)
        except ClientGone:
            _log.debug("the client went away before its answer was ready")
            return None
        if large:
            return await in_thread(self._plane.encode, predictions, prepared.bare)
        return self._plane.encode(predictions, prepared.bare)


async def in_thread(fn: Callable[..., Any], *args: Any) -> Any:
    """``fn(*args)`` in the default thread pool, with the request's context (its id, for logs)."""
    context = contextvars.copy_context()
    return await asyncio.get_running_loop().run_in_executor(None, context.run, fn, *args)


def media_of(scope: Scope) -> MediaType:
    """The request's media type, from its Content-Type header."""
    for name, value in scope["headers"]:
        if name == b"content-type":
            return parse_content_type(value.decode("latin-1"))
    return parse_content_type(None)
