"""Request ids: every response carries ``X-Request-ID``; error bodies and log lines quote it.

The id is taken from the request's ``X-Request-ID`` header when it is a sane token (so a proxy's
id is kept end to end), else made (``request_id_for``). The middleware (``observe.Observe``)
holds it in a context variable for the error handler and the logs (``current_request_id()``)
while the request runs; the engine carries it into its prediction thread.
"""

from __future__ import annotations

import os
import re

from modelpack._logs import current_request_id

__all__ = ["HEADER", "current_request_id", "request_id_for"]

HEADER = b"x-request-id"
_SANE = re.compile(rb"[A-Za-z0-9._-]{1,128}")


def request_id_for(headers: list[tuple[bytes, bytes]]) -> str:
    """The request's own id when it sent a sane one, else a new one (32 hex digits)."""
    for name, value in headers:
        if name == HEADER:
            if _SANE.fullmatch(value):
                return value.decode("ascii")
            break
    # 128 random bits, as uuid4().hex, at a sixth of its cost.
    return os.urandom(16).hex()
