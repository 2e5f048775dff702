"""Logging pieces every layer may use: the id of the request being worked on, and warnings said
once per cause.

The request id lives here, below the engine and the server, so that the engine can carry it from
the request's context into its prediction thread (a running thread does not inherit the
context of the code that hands it work) and set it around the model call: a line the model or a
flavor logs there carries the id too. The server sets it per request (``serving.request_id``)
and formats it (``serving.logs``).
"""

from __future__ import annotations

import logging
import threading
from contextvars import ContextVar, Token
from typing import Any

__all__ = ["LogOnce", "current_request_id", "log_once", "reset_request_id", "set_request_id"]

_request_id: ContextVar[str | None] = ContextVar("modelpack_request_id", default=None)

_MAX_CAUSES = 1000
"""Distinct causes a ``LogOnce`` remembers: a client that sends a new unknown param name with each
request must not grow the memory without end. Past it, new causes are not logged."""


def current_request_id() -> str | None:
    """The id of the request being served in this context, or None outside a request."""
    return _request_id.get()


def set_request_id(request_id: str | None) -> Token[str | None]:
    """Make ``request_id`` the current one; pass the token to ``reset_request_id``."""
    return _request_id.set(request_id)


def reset_request_id(token: Token[str | None]) -> None:
    _request_id.reset(token)


class LogOnce:
    """Logs each distinct message (format and arguments) once; keep one per owner whose
    warnings should be said once (a loaded model's predictor), or use ``log_once``."""

    def __init__(self) -> None:
        self._seen: set[tuple[str, int, str, str]] = set()
        self._lock = threading.Lock()

    def log(self, logger: logging.Logger, level: int, msg: str, *args: Any) -> None:
        """``logger.log(level, msg, *args)`` the first time, and never again."""
        if not logger.isEnabledFor(level):
            return
        key = (logger.name, level, msg, repr(args))
        if key in self._seen:
            return
        with self._lock:
            if key in self._seen or len(self._seen) >= _MAX_CAUSES:
                return
            self._seen.add(key)
            last = len(self._seen) == _MAX_CAUSES
        logger.log(level, msg, *args)
        if last:
            logger.log(level, "%d distinct warnings logged once each; no new ones are", _MAX_CAUSES)


_process = LogOnce()


def log_once(logger: logging.Logger, level: int, msg: str, *args: Any) -> None:
    """``logger.log(level, msg, *args)`` the first time this message is logged with these
    arguments in this process, and never again: for warnings that every request would repeat
    (params a model ignores, for one)."""
    _process.log(logger, level, msg, *args)
