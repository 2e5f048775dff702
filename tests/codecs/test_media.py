"""Content-Type headers -> codec choice, and the 415s."""

from __future__ import annotations

import pytest

from modelpack.codecs import MediaType, parse_content_type
from modelpack.errors import UnsupportedMediaType


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("application/json", MediaType("json")),
        ("application/json; charset=UTF-8", MediaType("json")),
        ("Application/JSON;charset=utf8", MediaType("json")),
        ("application/json; format=pandas-split", MediaType("json", "split")),
        ("application/json;format=pandas-records", MediaType("json", "records")),
        ("application/json; format=pandas-split; charset=utf-8", MediaType("json", "split")),
        ("text/csv", MediaType("csv")),
        ("text/csv; charset=utf-8", MediaType("csv")),
        ("application/csv", MediaType("csv")),
    ],
)
def test_accepted_content_types(header: str, expected: MediaType) -> None:
    assert parse_content_type(header) == expected


@pytest.mark.parametrize(
    ("header", "message"),
    [
        (None, "the request has no Content-Type header; send application/json or text/csv"),
        ("  ", "the request has no Content-Type header; send application/json or text/csv"),
        ("text/plain", "unsupported Content-Type 'text/plain'; send application/json or text/csv"),
        (
            "application/json; charset=latin-1",
            "unsupported charset 'latin-1' in Content-Type 'application/json; charset=latin-1'; "
            "request bodies must be UTF-8",
        ),
        (
            "application/json; format=pandas-index",
            "unsupported format 'pandas-index' in Content-Type 'application/json; "
            "format=pandas-index'; use format=pandas-split or format=pandas-records (MLflow 1.x), "
            "or none",
        ),
        (
            "application/json; something=something",
            "unrecognized Content-Type parameter(s) ['something'] in 'application/json; "
            "something=something'; only charset (and format for JSON) are understood",
        ),
        (
            "text/csv; format=pandas-split",
            "unrecognized Content-Type parameter(s) ['format'] in 'text/csv; "
            "format=pandas-split'; only charset (and format for JSON) are understood",
        ),
    ],
)
def test_refused_content_types(header: str | None, message: str) -> None:
    with pytest.raises(UnsupportedMediaType) as info:
        parse_content_type(header)
    assert info.value.status_code == 415
    assert info.value.message == message


def test_a_long_header_is_shortened_in_the_message() -> None:
    with pytest.raises(UnsupportedMediaType) as info:
        parse_content_type("x/" + "y" * 500)
    assert len(info.value.message) < 150
