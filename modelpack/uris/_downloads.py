"""Fetching bytes: HTTP(S) and object stores with one-line errors, a progress line on a terminal.

Every failure becomes a modelpack error that says where and why: ``AccessDenied`` for 401/403,
``ModelNotFound`` for 404 or a missing object, ``RemoteError`` for an unreachable address or a
server failure. Callers add the model URI in front.
"""

from __future__ import annotations

import sys
import time
import urllib.error
import urllib.request
from collections.abc import Mapping
from http.client import HTTPResponse
from pathlib import Path
from typing import IO, Any
from urllib.parse import urlsplit

from modelpack.errors import (
    AccessDenied,
    InvalidModel,
    MissingDependency,
    ModelNotFound,
    ModelpackError,
    RemoteError,
)
from modelpack.uris._archives import safe_join

__all__ = [
    "OBJECT_STORE_PACKAGES",
    "Progress",
    "address",
    "fetch_tree",
    "filesystem",
    "http_error",
    "open_url",
    "save",
    "store_error",
]

_CHUNK = 1024 * 1024
TIMEOUT = 30.0

# fsspec protocol -> the distribution that implements it (what to tell the user to install).
OBJECT_STORE_PACKAGES = {
    "s3": "s3fs",
    "s3a": "s3fs",
    "gs": "gcsfs",
    "gcs": "gcsfs",
    "abfs": "adlfs",
    "abfss": "adlfs",
    "az": "adlfs",
}


class Progress:
    """A one-line byte counter on stderr, shown only when stderr is a terminal."""

    def __init__(self, label: str, total: int | None = None, stream: IO[str] | None = None) -> None:
        self.label = label
        self.total = total
        self.done = 0
        self._stream = stream if stream is not None else sys.stderr
        self._enabled = self._stream.isatty()
        self._shown = 0.0

    def update(self, n: int) -> None:
        """Count ``n`` more bytes; redraw at most ten times a second."""
        self.done += n
        now = time.monotonic()
        if self._enabled and now - self._shown >= 0.1:
            self._shown = now
            self._draw()

    def close(self) -> None:
        """Draw the final count and end the line."""
        if self._enabled and self.done:
            self._draw()
            self._stream.write("\n")
            self._stream.flush()

    def _draw(self) -> None:
        text = f"\r{self.label}: {self.done / 1e6:.1f} MB"
        if self.total:
            text += f" / {self.total / 1e6:.1f} MB ({100 * self.done // self.total}%)"
        self._stream.write(text)
        self._stream.flush()


def http_error(code: int, where: str, detail: str) -> ModelpackError:
    """The modelpack error for an HTTP status ``code`` answered by ``where``."""
    if code in (401, 403):
        return AccessDenied(f"{where} refused access (HTTP {code}): {detail}")
    if code == 404:
        return ModelNotFound(f"{detail} (HTTP 404 from {where})")
    return RemoteError(f"{where} answered HTTP {code}: {detail}")


def open_url(
    url: str, headers: Mapping[str, str] | None = None, timeout: float = TIMEOUT
) -> HTTPResponse:
    """GET ``url``; HTTP and connection failures become modelpack errors naming the address."""
    request = urllib.request.Request(url, headers=dict(headers or {}))
    try:
        response: HTTPResponse = urllib.request.urlopen(request, timeout=timeout)
    except urllib.error.HTTPError as exc:
        exc.close()  # it holds the connection open otherwise
        detail = f"nothing at {url}" if exc.code == 404 else str(exc.reason)
        raise http_error(exc.code, address(url), detail) from None
    except (TimeoutError, urllib.error.URLError, ConnectionError) as exc:
        reason = exc.reason if isinstance(exc, urllib.error.URLError) else exc
        raise RemoteError(f"cannot reach {address(url)}: {reason}") from None
    return response


def save(response: IO[bytes], dest: Path, progress: Progress, max_bytes: int, name: str) -> int:
    """Stream ``response`` into ``dest``; refuse more than ``max_bytes``. Returns the byte count."""
    written = 0
    with dest.open("wb") as out:
        while chunk := response.read(_CHUNK):
            written += len(chunk)
            if written > max_bytes:
                raise InvalidModel(
                    f"{name} is larger than {max_bytes} bytes; refused "
                    "(raise MODELPACK_MAX_ARCHIVE_BYTES if you trust it)"
                )
            out.write(chunk)
            progress.update(len(chunk))
    return written


def filesystem(uri: str) -> tuple[Any, str]:
    """The fsspec filesystem and the path inside it for an object-store URI."""
    protocol = urlsplit(uri).scheme
    dist = OBJECT_STORE_PACKAGES.get(protocol, protocol)
    try:
        import fsspec

        return fsspec.core.url_to_fs(uri)
    except ImportError:
        command = "pip install 'modelpack[s3]'" if dist == "s3fs" else f"pip install fsspec {dist}"
        raise MissingDependency(f"'{protocol}://' URIs need fsspec and {dist}: {command}") from None


def fetch_tree(uri: str, dest: Path, max_bytes: int) -> None:
    """Copy every object under the object-store prefix ``uri`` into ``dest``."""
    fs, root = filesystem(uri)
    try:
        found = fs.find(root, detail=True)
        if not found:
            raise ModelNotFound(f"no objects under {uri}")
        total = sum(int(info.get("size") or 0) for info in found.values())
        if total > max_bytes:
            raise InvalidModel(
                f"{uri} holds {total} bytes, more than the limit of {max_bytes}; refused "
                "(raise MODELPACK_MAX_ARCHIVE_BYTES if you trust it)"
            )
        progress = Progress(f"Downloading {uri}", total)
        for key, info in sorted(found.items()):
            relative = key[len(root) :].lstrip("/") if key.startswith(root) else key
            target = safe_join(dest, relative)
            target.parent.mkdir(parents=True, exist_ok=True)
            fs.get_file(key, str(target))
            progress.update(int(info.get("size") or 0))
        progress.close()
    except ModelpackError:
        raise
    except Exception as exc:
        raise store_error(uri, exc) from exc


def store_error(uri: str, exc: Exception) -> ModelpackError:
    """An object-store library's exception as a modelpack error (one line, naming ``uri``)."""
    detail = f"{type(exc).__name__}: {exc}".splitlines()[0]
    if isinstance(exc, FileNotFoundError):
        return ModelNotFound(f"no such object: {uri}")
    if isinstance(exc, PermissionError):
        return AccessDenied(f"access to {uri} was refused: {detail}")
    return RemoteError(f"cannot read {uri}: {detail}")


def address(url: str) -> str:
    """``scheme://host:port`` of ``url``, without any credentials it carries."""
    parts = urlsplit(url)
    host = parts.netloc.rsplit("@", 1)[-1]
    return f"{parts.scheme}://{host}" if host else url
