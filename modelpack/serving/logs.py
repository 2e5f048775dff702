"""The server's log lines: text or JSON, each line about a request with the request's id.

``configure(settings)`` sets up modelpack's loggers and the root logger (where the model's own
lines go; in JSON also uvicorn's and Python's warnings, so that every line on stderr is one JSON
object) and returns the ``log_config`` to give uvicorn. A filter on the handler stamps each
record with the id of the request being served (``modelpack._logs``; the engine carries it into
its prediction thread); the text format appends it as ``[request <id>]``, the JSON format has it
as ``request_id``.
"""

from __future__ import annotations

import datetime as _dt
import logging
import sys
from typing import Any

import orjson

from modelpack._logs import current_request_id
from modelpack.settings import Settings

__all__ = ["FORMATS", "JsonFormatter", "RequestIdFilter", "TextFormatter", "configure"]

FORMATS = ("text", "json")
# Attributes every LogRecord has: what is left on a record beyond these came with `extra=`.
_STANDARD = frozenset(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {
    "message",
    "asctime",
    "request_id",
    "color_message",  # uvicorn's message again, with terminal colours
}


class RequestIdFilter(logging.Filter):
    """Puts ``request_id`` (None outside a request) on every record that reaches a handler."""

    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(record, "request_id", None) is None:
            record.request_id = current_request_id()
        return True


class TextFormatter(logging.Formatter):
    """``LEVEL:     logger: message [request id]``, as uvicorn's lines look."""

    def __init__(self) -> None:
        super().__init__("%(levelname)s:     %(name)s: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        request_id = getattr(record, "request_id", None)
        if request_id is None:
            return line
        first, newline, rest = line.partition("\n")  # after the message, before a traceback
        return f"{first} [request {request_id}]{newline}{rest}"


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, request_id, the record's
    ``extra`` fields, and ``exc_info`` (the traceback as text) when there is one."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": _dt.datetime.fromtimestamp(record.created, _dt.timezone.utc).isoformat(
                timespec="milliseconds"
            ),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "request_id": getattr(record, "request_id", None),
        }
        for key, value in vars(record).items():
            if key not in _STANDARD and key not in entry:
                entry[key] = value
        if record.exc_info:
            entry["exc_info"] = self.formatException(record.exc_info)
        elif record.exc_text:
            entry["exc_info"] = record.exc_text
        if record.stack_info:
            entry["stack_info"] = self.formatStack(record.stack_info)
        return orjson.dumps(entry, default=str, option=orjson.OPT_NON_STR_KEYS).decode()


def _handler(formatter: logging.Formatter) -> logging.Handler:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(formatter)
    handler.addFilter(RequestIdFilter())
    return handler


def configure(settings: Settings) -> dict[str, Any] | None:
    """Set up the server's logging under ``settings``; the ``log_config`` for uvicorn (None:
    leave uvicorn's loggers as configured here)."""
    level = settings.log_level.upper()
    modelpack = logging.getLogger("modelpack")
    modelpack.setLevel(level)
    if settings.log_format == "json":
        handler = _handler(JsonFormatter())
        root = logging.getLogger()
        root.handlers = [handler]
        for name in ("modelpack", "uvicorn", "uvicorn.error", "uvicorn.access", "py.warnings"):
            logger = logging.getLogger(name)
            logger.handlers = []
            logger.propagate = True
        logging.captureWarnings(True)
        return None
    if not any(isinstance(h.formatter, TextFormatter) for h in modelpack.handlers):
        modelpack.addHandler(_handler(TextFormatter()))
        modelpack.propagate = False
    root = logging.getLogger()
    if not root.handlers:  # the model's own lines (WARNING and up), with the request's id
        root.addHandler(_handler(TextFormatter()))
    from uvicorn.config import LOGGING_CONFIG

    return LOGGING_CONFIG
