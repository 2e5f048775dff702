"""Content-Type headers -> which codec reads the body.

A pure function of the header text, so the server and the batch command agree on what
``application/json; format=pandas-split`` or ``text/csv; charset=utf-8`` mean.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Literal

from modelpack.errors import UnsupportedMediaType, clip

__all__ = ["CSV_TYPES", "JSON_TYPES", "MediaType", "parse_content_type"]

JSON_TYPES = frozenset({"application/json"})
CSV_TYPES = frozenset({"text/csv", "application/csv"})
_ORIENTS: dict[str, Literal["split", "records"]] = {
    "pandas-split": "split",
    "pandas-records": "records",
}
_SUPPORTED = "application/json or text/csv"


@dataclass(frozen=True)
class MediaType:
    """What a Content-Type header asks for."""

    kind: Literal["json", "csv"]
    """Which codec reads the body."""
    orient: Literal["split", "records"] | None = None
    """MLflow 1.x ``format=pandas-split|pandas-records``: a bare body, answered with a bare list."""


def parse_content_type(header: str | None) -> MediaType:
    """Read a Content-Type header, or raise ``UnsupportedMediaType`` (415) saying what is wrong.

    Accepts ``application/json`` (optionally ``format=pandas-split`` or ``format=pandas-records``,
    MLflow 1.x), ``text/csv`` and ``application/csv``, each with an optional ``charset=utf-8``.
    """
    if header is None or not header.strip():
        raise UnsupportedMediaType(f"the request has no Content-Type header; send {_SUPPORTED}")
    return _parse(header)


@lru_cache(maxsize=64)
def _parse(header: str) -> MediaType:
    mime, *parts = (p.strip() for p in header.split(";"))
    mime = mime.lower()
    params: dict[str, str] = {}
    for part in parts:
        if part:
            key, _, value = part.partition("=")
            params[key.strip().lower()] = value.strip().strip('"')
    shown = clip(header, 80)
    if mime in JSON_TYPES:
        kind: Literal["json", "csv"] = "json"
    elif mime in CSV_TYPES:
        kind = "csv"
    else:
        raise UnsupportedMediaType(f"unsupported Content-Type '{shown}'; send {_SUPPORTED}")
    charset = params.pop("charset", "utf-8").lower()
    if charset not in ("utf-8", "utf8"):
        raise UnsupportedMediaType(
            f"unsupported charset '{clip(charset, 80)}' in Content-Type '{shown}'; "
            "request bodies must be UTF-8"
        )
    orient = None
    if kind == "json" and "format" in params:
        value = params.pop("format")
        orient = _ORIENTS.get(value.lower())
        if orient is None:
            raise UnsupportedMediaType(
                f"unsupported format '{clip(value, 80)}' in Content-Type '{shown}'; "
                "use format=pandas-split or format=pandas-records (MLflow 1.x), or none"
            )
    if params:
        raise UnsupportedMediaType(
            f"unrecognized Content-Type parameter(s) {sorted(params)} in '{shown}'; "
            "only charset (and format for JSON) are understood"
        )
    return MediaType(kind, orient)
