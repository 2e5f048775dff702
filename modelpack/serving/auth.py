"""Bearer-token authentication: a pure ASGI middleware in front of the whole app.

Every route needs ``Authorization: Bearer <token>`` except ``OPEN_PATHS`` (the health probes,
which orchestrators call without credentials, ``/metrics``, which scrapers do, and the model
page and its OpenAPI document, which a browser opens without one: they describe the model; the
page's "Try it" form sends the token the user types). Refusals are MLflow's JSON error envelope
(V2's ``{"error": ...}`` under ``/v2``) with status 401 and ``WWW-Authenticate: Bearer`` (RFC
6750). The token is compared in constant time and never written to a log, a message or a repr.
"""

from __future__ import annotations

import hmac
import logging

import orjson
from starlette.types import ASGIApp, Receive, Scope, Send

from modelpack.errors import InvalidArgument, Unauthenticated
from modelpack.serving.request_id import current_request_id

__all__ = ["OPEN_PATHS", "BearerAuth", "check_token"]

OPEN_PATHS = frozenset(
    {
        "/ping",
        "/health",
        "/health/live",
        "/health/ready",
        "/v2/health/live",
        "/v2/health/ready",
        "/metrics",
        "/",
        "/openapi.json",
    }
)
"""Paths served without a token."""

_log = logging.getLogger("modelpack.serving")
_NO_TOKEN = b"Bearer"
_WRONG_TOKEN = b'Bearer error="invalid_token"'
_HOW = "send the header 'Authorization: Bearer <token>'"


def check_token(token: str, source: str) -> None:
    """Refuse a token no client could send (``source`` names where it came from; the token
    itself is never quoted)."""
    if not token:
        raise InvalidArgument(
            f"{source} is empty; set a token, or leave it out to serve without one"
        )
    if not all("!" <= ch <= "~" for ch in token):
        raise InvalidArgument(
            f"{source} must be printable ASCII without spaces (as an HTTP header carries it)"
        )


class BearerAuth:
    """Requires ``Authorization: Bearer <token>`` on every path but ``OPEN_PATHS``."""

    def __init__(self, app: ASGIApp, token: str) -> None:
        check_token(token, "the auth token")
        self._app = app
        self._token = token.encode("ascii")

    def __repr__(self) -> str:
        return "BearerAuth(token=<hidden>)"

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket") or scope["path"] in OPEN_PATHS:
            await self._app(scope, receive, send)
            return
        header = _authorization(scope["headers"])
        sent = _bearer_token(header) if header is not None else None
        # compare_digest takes time independent of where the tokens differ.
        if sent is not None and hmac.compare_digest(sent, self._token):
            await self._app(scope, receive, send)
            return
        if scope["type"] == "websocket":
            await send({"type": "websocket.close", "code": 1008})  # policy violation
            return
        if header is None:
            error = Unauthenticated(f"this server requires a token: {_HOW}")
        elif sent is None:
            error = Unauthenticated(f"the Authorization header holds no bearer token; {_HOW}")
        else:
            error = Unauthenticated("the bearer token is not the one this server accepts")
        _log.info(
            "%d %s: %s",
            error.status_code,
            error.error_code,
            error.message,
            extra={"request_id": current_request_id()},
        )
        v2 = scope["path"] == "/v2" or scope["path"].startswith("/v2/")
        body = orjson.dumps({"error": error.message} if v2 else error.to_dict())
        challenge = _WRONG_TOKEN if sent is not None else _NO_TOKEN
        await send(
            {
                "type": "http.response.start",
                "status": error.status_code,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode()),
                    (b"www-authenticate", challenge),
                ],
            }
        )
        head = scope["method"] == "HEAD"
        await send({"type": "http.response.body", "body": b"" if head else body})


def _authorization(headers: list[tuple[bytes, bytes]]) -> bytes | None:
    """The value of the first Authorization header (ASGI lower-cases header names)."""
    for name, value in headers:
        if name == b"authorization":
            return value
    return None


def _bearer_token(header: bytes) -> bytes | None:
    """The credentials of a ``Bearer`` header (the scheme is case-insensitive), else None."""
    scheme, _, credentials = header.strip().partition(b" ")
    if scheme.lower() != b"bearer":
        return None
    return credentials.strip() or None
