"""Model output -> JSON bytes: MLflow's shapes, always valid JSON."""

from __future__ import annotations

import datetime as dt
import json

import numpy as np
import pandas as pd
import pytest
from hypothesis import given
from strategies import json_values

from modelpack.codecs import encode_predictions
from modelpack.errors import InvalidOutput


@pytest.mark.parametrize(
    ("predictions", "expected"),
    [
        (np.array([1.5, 2.0]), b'{"predictions":[1.5,2.0]}'),
        (np.array([[1, 2], [3, 4]], dtype=np.int32), b'{"predictions":[[1,2],[3,4]]}'),
        (np.array([[1, 2], [3, 4]]).T, b'{"predictions":[[1,3],[2,4]]}'),
        (np.array(["a", "b"]), b'{"predictions":["a","b"]}'),
        (np.array([np.nan, np.inf, -np.inf]), b'{"predictions":[null,null,null]}'),
        (float("nan"), b'{"predictions":null}'),
        (pd.DataFrame({"y": [1, 2]}), b'{"predictions":[{"y":1},{"y":2}]}'),
        (pd.DataFrame({"y": [1.0, np.nan]}), b'{"predictions":[{"y":1.0},{"y":null}]}'),
        (pd.Series([1, 2]), b'{"predictions":[{"0":1},{"0":2}]}'),
        (pd.Series([1.5], name="score"), b'{"predictions":[{"score":1.5}]}'),
        (
            pd.DataFrame({"t": pd.to_datetime(["2024-01-02 03:04:05", None])}),
            b'{"predictions":[{"t":"2024-01-02T03:04:05"},{"t":null}]}',
        ),
        (dt.datetime(2024, 1, 2, 3, 4, 5), b'{"predictions":"2024-01-02T03:04:05"}'),
        (dt.date(2024, 1, 2), b'{"predictions":"2024-01-02"}'),
        (b"\x00\xff", b'{"predictions":"AP8="}'),
        (np.array([b"ab"], dtype=object), b'{"predictions":["YWI="]}'),
        (np.float32(0.5), b'{"predictions":0.5}'),
        (np.int64(3), b'{"predictions":3}'),
        ({"a": np.array([1]), 2: "x"}, b'{"predictions":{"a":[1],"2":"x"}}'),
        ([1, "a", None, True], b'{"predictions":[1,"a",null,true]}'),
        ({1, 2}, b'{"predictions":[1,2]}'),
        (7, b'{"predictions":7}'),
    ],
)
def test_encodings(predictions: object, expected: bytes) -> None:
    assert encode_predictions(predictions) == expected


def test_bare_answer_has_no_wrapper() -> None:
    assert encode_predictions(np.array([1.0]), bare=True) == b"[1.0]"


def test_pydantic_models_encode_as_their_dump() -> None:
    pydantic = pytest.importorskip("pydantic")

    class Answer(pydantic.BaseModel):
        text: str

    assert encode_predictions(Answer(text="hi")) == b'{"predictions":{"text":"hi"}}'


def test_unencodable_output_is_a_server_error() -> None:
    with pytest.raises(InvalidOutput) as info:
        encode_predictions(object())
    assert info.value.status_code == 500
    assert info.value.message == (
        "the model's output cannot be encoded as JSON (object): "
        "Type is not JSON serializable: object"
    )


@given(json_values)
def test_json_values_encode_to_themselves(value: object) -> None:
    assert json.loads(encode_predictions(value, bare=True)) == value
