"""The progress line and HTTP error mapping."""

from __future__ import annotations

import io

import pytest

from modelpack.errors import AccessDenied, ModelNotFound, RemoteError
from modelpack.uris._downloads import Progress, address, http_error


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_is_drawn_on_a_terminal() -> None:
    stream = _Terminal()
    progress = Progress("Downloading wine.tar.gz", total=4_000_000, stream=stream)
    progress.update(1_000_000)
    progress.update(3_000_000)
    progress.close()
    # Redraws are throttled to ten a second; the first update and the final count always show.
    first = "\rDownloading wine.tar.gz: 1.0 MB / 4.0 MB (25%)"
    last = "\rDownloading wine.tar.gz: 4.0 MB / 4.0 MB (100%)\n"
    text = stream.getvalue()
    assert (text[: len(first)], text[-len(last) :]) == (first, last)


def test_progress_is_silent_when_not_a_terminal() -> None:
    stream = io.StringIO()
    progress = Progress("Downloading wine.tar.gz", total=10, stream=stream)
    progress.update(10)
    progress.close()
    assert stream.getvalue() == ""


@pytest.mark.parametrize(
    ("code", "kind", "message"),
    [
        (401, AccessDenied, "http://h:1 refused access (HTTP 401): Unauthorized"),
        (403, AccessDenied, "http://h:1 refused access (HTTP 403): Unauthorized"),
        (404, ModelNotFound, "Unauthorized (HTTP 404 from http://h:1)"),
        (502, RemoteError, "http://h:1 answered HTTP 502: Unauthorized"),
    ],
)
def test_http_errors_map_to_one_class_each(code: int, kind: type, message: str) -> None:
    error = http_error(code, "http://h:1", "Unauthorized")
    assert (type(error), str(error)) == (kind, message)


def test_address_drops_credentials() -> None:
    assert address("https://ana:secret@mlflow.example.com:8443/x?y=1") == (
        "https://mlflow.example.com:8443"
    )
