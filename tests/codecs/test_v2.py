"""V2 codecs without HTTP: tensors from JSON and raw bytes, the metadata a signature gives, a
request as model input, and model output as outputs named and shaped as the metadata says."""

from __future__ import annotations

import base64
import datetime as dt
from typing import Any

import numpy as np
import orjson
import pandas as pd
import pytest
from hypothesis import given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from modelpack.codecs import (
    DATATYPES,
    RequestedOutput,
    V2Output,
    V2Signature,
    encode_v2_response,
    parse_v2_request,
    raw_bytes,
    v2_tensor,
)
from modelpack.errors import InvalidOutput, MalformedInput, ModelpackError, SignatureMismatch
from modelpack.signature import (
    ColSpec,
    DataType,
    ModelSignature,
    ParamSchema,
    ParamSpec,
    Schema,
    TensorSpec,
    enforce_input,
)


def body(*inputs: dict[str, Any], **fields: Any) -> bytes:
    return orjson.dumps({"inputs": list(inputs), **fields})


def tensor(name: str, datatype: str, shape: list[int], data: Any, **parameters: Any) -> dict:
    out = {"name": name, "datatype": datatype, "shape": shape, "data": data}
    if parameters:
        out["parameters"] = parameters
    return out


# -- tensors from JSON ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "data", [[1.5, 2.5, 3.5, 4.5], [[1.5, 2.5], [3.5, 4.5]]], ids=["flat", "nested"]
)
def test_json_data_flat_or_nested_is_read_row_major(data: list[Any]) -> None:
    got = v2_tensor("x", "FP32", [2, 2], data=data)

    assert got.values.dtype == np.float32
    np.testing.assert_array_equal(got.values, [[1.5, 2.5], [3.5, 4.5]])


def test_a_bare_scalar_is_one_element() -> None:
    assert v2_tensor("x", "INT64", [1], data=7).values.tolist() == [7]


def test_null_in_a_float_tensor_is_nan() -> None:
    assert np.isnan(v2_tensor("x", "FP64", [2], data=[1.0, None]).values[1])


def test_whole_floats_are_integers_but_fractions_are_refused() -> None:
    assert v2_tensor("x", "INT8", [2], data=[1.0, -3]).values.tolist() == [1, -3]
    with pytest.raises(MalformedInput) as caught:
        v2_tensor("x", "INT8", [2], data=[1, 2.5])
    assert str(caught.value) == (
        "input 'x': INT8 data holds the fraction float 2.5 at position 1; send whole numbers, "
        "or a floating-point datatype"
    )


@pytest.mark.parametrize(
    ("datatype", "data", "message"),
    [
        (
            "UINT8",
            [256],
            "input 'x': int 256 at position 0 is beyond the range of UINT8 (0 to 255)",
        ),
        ("INT64", [2**63], f"input 'x': int {2**63} at position 0 is beyond the range of INT64"),
        ("FP32", [1e39], "input 'x': float 1e+39 at position 0 is beyond the range of float32"),
        ("FP64", [True], "input 'x': FP64 data holds true at position 0; FP64 takes numbers"),
        ("INT32", ["1"], "input 'x': INT32 data holds str '1' at position 0; INT32 takes numbers"),
        ("BOOL", [1], "input 'x': BOOL data holds int 1 at position 0; BOOL takes booleans"),
        ("BYTES", [1], "input 'x': BYTES data holds int 1 at position 0; BYTES takes strings"),
    ],
)
def test_elements_that_do_not_fit_the_datatype(datatype: str, data: list, message: str) -> None:
    with pytest.raises(MalformedInput) as caught:
        v2_tensor("x", datatype, [1], data=data)

    assert str(caught.value).startswith(message)


@pytest.mark.parametrize(
    ("shape", "data", "message"),
    [
        ([3], [1.0, 2.0], "input 'x': its shape holds 3 elements, but 'data' has 2"),
        ([2, 2], [[1.0, 2.0], [3.0]], "input 'x': 'data' is ragged"),
        ([-1], [1.0], "input 'x': 'shape' must be a list of non-negative integers, got [-1]"),
        ("2", [1.0], "input 'x': 'shape' must be a list of non-negative integers, got '2'"),
    ],
)
def test_shape_that_disagrees_with_the_data(shape: Any, data: Any, message: str) -> None:
    with pytest.raises(MalformedInput) as caught:
        v2_tensor("x", "FP64", shape, data=data)

    assert str(caught.value).startswith(message)


# -- requests -------------------------------------------------------------------------------------


def test_request_parameters_split_into_protocol_and_params() -> None:
    request = parse_v2_request(
        body(
            tensor("x", "FP64", [1], [1.0]),
            id="r",
            parameters={"content_type": "pd", "binary_data_output": True, "k": 3, "headers": {}},
            outputs=[{"name": "y", "parameters": {"binary_data": False}}],
        )
    )

    assert (request.id, request.content_type, request.binary_output) == ("r", "pd", True)
    assert request.params == {"k": 3}
    assert request.outputs == [RequestedOutput("y", False)]


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (b"[1]", "a V2 inference request is a JSON object, got a list"),
        (b'{"inputs": []}', "'inputs' must be a list of one or more input tensors"),
        (b'{"input": []}', "unknown fields ['input'] in the request"),
        (body(tensor("x", "FP64", [1], [1.0]), id=3), "'id' must be a string, got a number"),
        (
            body(tensor("x", "FP64", [1], [1.0]), tensor("x", "FP64", [1], [1.0])),
            "inputs ['x'] are sent more than once",
        ),
        (
            body(tensor("x", "FP64", [1], [1.0], content_type="str")),
            "input 'x': content_type 'str' reads BYTES, not FP64",
        ),
        (
            body(tensor("x", "FP64", [1], [1.0]), parameters={"content_type": "csv"}),
            "unknown request content_type 'csv'; use one of ['pd', 'np', 'dict', 'str']",
        ),
        (
            body(tensor("x", "FP64", [1], [1.0], binary_data_size=8)),
            "input 'x' has both 'data' and a binary_data_size",
        ),
    ],
)
def test_malformed_requests(raw: bytes, message: str) -> None:
    with pytest.raises(MalformedInput) as caught:
        parse_v2_request(raw)

    assert str(caught.value).startswith(message)


# -- the binary extension -------------------------------------------------------------------------


def binary_body(
    inputs: list[tuple[str, str, list[int], bytes]], **fields: Any
) -> tuple[bytes, int]:
    header = orjson.dumps(
        {
            "inputs": [
                {"name": n, "datatype": d, "shape": s, "parameters": {"binary_data_size": len(b)}}
                for n, d, s, b in inputs
            ],
            **fields,
        }
    )
    return header + b"".join(b for *_, b in inputs), len(header)


def test_binary_inputs_are_read_in_order_little_endian() -> None:
    raw, length = binary_body(
        [
            ("a", "FP32", [2], np.array([1.5, -2.0], dtype="<f4").tobytes()),
            ("b", "BYTES", [2], b"\x01\x00\x00\x00x\x03\x00\x00\x00\xc3\xa9t"),
            ("c", "BOOL", [3], b"\x01\x00\x01"),
        ]
    )

    a, b, c = parse_v2_request(raw, length).inputs

    assert a.values.tolist() == [1.5, -2.0]
    assert b.values.tolist() == [b"x", "ét".encode()]
    assert c.values.tolist() == [True, False, True]


@pytest.mark.parametrize(
    ("inputs", "tail", "message"),
    [
        ([("a", "FP64", [2], b"\x00" * 8)], b"", "input 'a': 8 bytes of binary data, but its"),
        ([("a", "FP64", [1], b"\x00" * 8)], b"!", "the binary data after the JSON header has 9"),
        ([("a", "BOOL", [1], b"\x02")], b"", "input 'a': BOOL elements are one byte each, 0 or 1"),
        ([("a", "BYTES", [1], b"\x05\x00\x00\x00ab")], b"", "input 'a': BYTES element 0 says"),
        ([("a", "BYTES", [2], b"\x01\x00\x00\x00a")], b"", "input 'a': the binary data ends"),
    ],
)
def test_malformed_binary_data(inputs: list, tail: bytes, message: str) -> None:
    raw, length = binary_body(inputs)

    with pytest.raises(MalformedInput) as caught:
        parse_v2_request(raw + tail, length)

    assert str(caught.value).startswith(message)


NUMERIC = [d for d in DATATYPES if d != "BYTES"]


@hypothesis_settings(deadline=None)  # a loaded machine, not a slow codec
@given(data=st.data(), datatype=st.sampled_from(NUMERIC))
def test_raw_bytes_read_back_as_the_same_tensor(data: st.DataObject, datatype: str) -> None:
    dtype = DATATYPES[datatype]
    array = data.draw(hnp.arrays(dtype, hnp.array_shapes(max_dims=3, min_side=0, max_side=4)))

    back = v2_tensor("x", datatype, list(array.shape), raw=raw_bytes(array))

    np.testing.assert_array_equal(back.values, array)
    assert back.values.dtype == dtype and back.values.flags.writeable


@hypothesis_settings(deadline=None)  # a loaded machine, not a slow codec
@given(st.lists(st.binary(max_size=8) | st.text(max_size=8), max_size=6))
def test_bytes_elements_read_back(values: list[bytes | str]) -> None:
    expected = [v.encode() if isinstance(v, str) else v for v in values]

    back = v2_tensor(
        "x", "BYTES", [len(values)], raw=raw_bytes(np.array([*values, 0], object)[:-1])
    )

    assert back.values.tolist() == expected


@hypothesis_settings(deadline=None)  # a loaded machine, not a slow codec
@given(st.binary(max_size=64), st.integers(min_value=-2, max_value=80))
def test_any_bytes_are_a_400_or_a_request(raw: bytes, header_length: int) -> None:
    for length in (None, header_length):
        try:
            parse_v2_request(raw, length)
        except MalformedInput:
            pass


# -- responses ------------------------------------------------------------------------------------


def test_json_response_keys_in_mlservers_order_and_nan_as_null() -> None:
    outputs = [V2Output("y", "FP64", (2,), np.array([1.5, np.nan]), "np")]

    text, length = encode_v2_response(
        outputs, [False], model_name="m", model_version="3", request_id="r", content_type="np"
    )

    assert length is None
    assert text == (
        b'{"model_name":"m","model_version":"3","id":"r","parameters":{"content_type":"np"},'
        b'"outputs":[{"name":"y","shape":[2],"datatype":"FP64","parameters":{"content_type":"np"'
        b'},"data":[1.5,null]}]}'
    )


def test_binary_outputs_follow_the_json_header() -> None:
    outputs = [
        V2Output("y", "FP32", (2,), np.array([0.25, 2.0], dtype=np.float32)),
        V2Output("s", "BYTES", (1,), np.array(["hé"], dtype=object), "str"),
    ]

    raw, length = encode_v2_response(outputs, [True, False], model_name="m")

    header = orjson.loads(raw[:length])
    assert header["outputs"] == [
        {"name": "y", "shape": [2], "datatype": "FP32", "parameters": {"binary_data_size": 8}},
        {
            "name": "s",
            "shape": [1],
            "datatype": "BYTES",
            "parameters": {"content_type": "str"},
            "data": ["hé"],
        },
    ]
    assert np.frombuffer(raw[length:], dtype="<f4").tolist() == [0.25, 2.0]


# -- a signature's metadata -----------------------------------------------------------------------

COLUMNS = ModelSignature(
    Schema(
        [
            ColSpec(DataType.double, "age"),
            ColSpec(DataType.string, "name"),
            ColSpec(DataType.binary, "blob", required=False),
            ColSpec(DataType.datetime, "when", required=False),
            ColSpec(DataType.long, "n", required=False),
        ]
    ),
    Schema([ColSpec(DataType.double)]),
    ParamSchema([ParamSpec("k", DataType.long, 1)]),
)


def signature_of(sig: ModelSignature | None) -> V2Signature:
    if sig is None:
        return V2Signature()
    return V2Signature(sig.inputs, sig.outputs, sig.params)


def test_column_signature_metadata_is_mlservers_with_the_params() -> None:
    meta = signature_of(COLUMNS).metadata("m", ["2"])

    assert meta == {
        "name": "m",
        "versions": ["2"],
        "platform": "",
        "inputs": [
            {"name": n, "datatype": d, "shape": [-1, 1], "parameters": {"content_type": c}}
            for n, d, c in [
                ("age", "FP64", "np"),
                ("name", "BYTES", "str"),
                ("blob", "BYTES", "base64"),
                ("when", "BYTES", "datetime"),
                ("n", "INT64", "np"),
            ]
        ],
        "outputs": [
            {
                "name": "output-0",
                "datatype": "FP64",
                "shape": [-1, 1],
                "parameters": {"content_type": "np"},
            }
        ],
        "parameters": {
            "content_type": "pd",
            "params": [{"name": "k", "default": 1, "shape": None, "type": "long"}],
        },
    }


def test_named_tensors_are_a_dict_and_no_signature_says_nothing() -> None:
    named = ModelSignature(Schema([TensorSpec(np.dtype("int16"), (-1, 2), "ids")]))

    assert signature_of(named).metadata("m")["inputs"] == [
        {"name": "ids", "datatype": "INT16", "shape": [-1, 2], "parameters": {"content_type": "np"}}
    ]
    assert signature_of(named).metadata("m")["parameters"] == {"content_type": "dict"}
    assert signature_of(None).metadata("m") == {
        "name": "m",
        "versions": [],
        "platform": "",
        "inputs": [],
        "outputs": [],
        "parameters": {},
    }


# -- requests as model input ----------------------------------------------------------------------


def decode(sig: ModelSignature | None, raw: bytes, header_length: int | None = None) -> Any:
    return signature_of(sig).decode(parse_v2_request(raw, header_length))


def test_columns_become_a_frame_that_enforcement_takes() -> None:
    frame = decode(
        COLUMNS,
        body(
            tensor("age", "FP64", [2, 1], [[30.0], [40.5]]),
            tensor("name", "BYTES", [2], ["ann", "bo"]),
            tensor("blob", "BYTES", [2], [base64.b64encode(b"\x00\x01").decode(), ""]),
            tensor("when", "BYTES", [2], ["2024-02-29T12:00:00", "2025-01-01T00:00:00"]),
        ),
    )

    checked = enforce_input(frame, COLUMNS.inputs)
    assert checked["age"].tolist() == [30.0, 40.5]
    assert checked["name"].tolist() == ["ann", "bo"]
    assert checked["blob"].tolist() == [b"\x00\x01", b""]
    assert checked["when"].tolist() == [pd.Timestamp(2024, 2, 29, 12), pd.Timestamp(2025, 1, 1)]


def test_binary_text_for_a_string_column_is_utf8() -> None:
    raw, length = binary_body([("name", "BYTES", [1], b"\x02\x00\x00\x00\xc3\xa9")])

    assert decode(COLUMNS, raw, length)["name"].tolist() == ["é"]


@pytest.mark.parametrize(
    ("inputs", "message"),
    [
        (
            [tensor("age", "BYTES", [1], ["1"])],
            "input 'age': the signature's double column is FP64, got BYTES",
        ),
        (
            [tensor("age", "FP64", [1, 2], [1.0, 2.0])],
            "input 'age' has shape [1, 2], but in a DataFrame each input is one column",
        ),
        (
            [tensor("age", "FP64", [2], [1.0, 2.0]), tensor("name", "BYTES", [1], ["a"])],
            "inputs have different numbers of rows {'age': 2, 'name': 1}",
        ),
    ],
)
def test_inputs_that_cannot_be_columns(inputs: list[dict], message: str) -> None:
    with pytest.raises(SignatureMismatch) as caught:
        decode(COLUMNS, body(*inputs))

    assert str(caught.value).startswith(message)


def test_np_reads_one_tensor_and_dict_names_them() -> None:
    tensors = ModelSignature(Schema([TensorSpec(np.dtype("float32"), (-1, 2))]))
    one = body(tensor("anything", "FP32", [1, 2], [1.0, 2.0]))
    two = body(tensor("a", "FP32", [1], [1.0]), tensor("b", "FP32", [1], [2.0]))

    assert decode(tensors, one).tolist() == [[1.0, 2.0]]
    with pytest.raises(MalformedInput) as caught:
        decode(tensors, two)
    assert str(caught.value).startswith("content_type 'np' reads exactly one input tensor, got 2")
    named = decode(tensors, body(*orjson.loads(two)["inputs"], parameters={"content_type": "dict"}))
    assert {k: v.tolist() for k, v in named.items()} == {"a": [1.0], "b": [2.0]}


# -- model output as outputs ----------------------------------------------------------------------


def encode(sig: ModelSignature | None, predictions: Any, names: list[str] | None = None) -> list:
    requested = None if names is None else [RequestedOutput(n) for n in names]
    outputs, _ = signature_of(sig).encode(predictions, requested)
    return [(o.name, o.datatype, o.shape, o.values.tolist(), o.content_type) for o in outputs]


def test_an_unnamed_tensor_output_is_output_0_in_its_own_shape() -> None:
    sig = ModelSignature(
        Schema([ColSpec(DataType.double, "a")]), Schema([TensorSpec(np.dtype("float64"), (-1,))])
    )

    # MLServer advertises output-0 [-1] and answers output-1 [n, 1].
    assert encode(sig, np.array([1.0, 2.0])) == [("output-0", "FP64", (2,), [1.0, 2.0], "np")]


def test_a_column_output_is_n_by_1_under_its_name() -> None:
    sig = ModelSignature(
        Schema([ColSpec(DataType.double, "a")]), Schema([ColSpec(DataType.long, "y")])
    )

    assert encode(sig, np.array([3, 4])) == [("y", "INT64", (2, 1), [3, 4], "np")]
    assert encode(sig, pd.Series([3, 4])) == [("y", "INT64", (2, 1), [3, 4], "np")]


def test_a_frame_is_one_output_per_column_filtered_as_asked() -> None:
    sig = ModelSignature(
        Schema([ColSpec(DataType.double, "a")]),
        Schema([ColSpec(DataType.string, "s"), ColSpec(DataType.double, "v")]),
    )
    frame = pd.DataFrame({"s": ["x", "y"], "v": [0.5, 1.5]})

    assert encode(sig, frame) == [
        ("s", "BYTES", (2, 1), ["x", "y"], "str"),
        ("v", "FP64", (2, 1), [0.5, 1.5], "np"),
    ]
    assert encode(sig, frame, ["v"]) == [("v", "FP64", (2, 1), [0.5, 1.5], "np")]
    with pytest.raises(MalformedInput) as caught:
        signature_of(sig).check_outputs([RequestedOutput("output-1")])
    assert str(caught.value) == "unknown output 'output-1'; this model's outputs are ['s', 'v']"


def test_dates_bytes_and_cells_are_bytes_with_their_content_type() -> None:
    frame = pd.DataFrame(
        {
            "t": pd.to_datetime(["2024-02-29 12:00"]),
            "b": [b"\x00"],
            "cells": [[1, 2]],
            "when": [dt.date(2024, 1, 2)],
        }
    )

    assert encode(None, frame) == [
        ("t", "BYTES", (1, 1), ["2024-02-29T12:00"], "datetime"),
        ("b", "BYTES", (1, 1), [b"\x00"], "base64"),
        ("cells", "BYTES", (1, 1), ["[1,2]"], "pd_json"),
        ("when", "BYTES", (1, 1), ["2024-01-02"], "datetime"),
    ]


def test_a_missing_text_value_is_the_models_fault_not_the_clients() -> None:
    with pytest.raises(InvalidOutput) as caught:
        encode(None, pd.DataFrame({"s": ["x", None]}))

    assert str(caught.value).startswith("output 's': row 1 is missing (")  # None, or NaN
    assert caught.value.status_code == 500


@hypothesis_settings(deadline=None)  # a loaded machine, not a slow codec
@given(st.lists(st.floats(allow_nan=False, allow_infinity=False) | st.none(), max_size=5))
def test_json_output_reads_back_as_the_same_tensor(values: list[float | None]) -> None:
    array = np.array([np.nan if v is None else v for v in values])
    raw, _ = encode_v2_response(
        [V2Output("y", "FP64", (len(values),), array)], [False], model_name="m"
    )

    data = orjson.loads(raw)["outputs"][0]["data"]

    np.testing.assert_array_equal(v2_tensor("y", "FP64", [len(values)], data=data).values, array)


def test_only_modelpack_errors_leave_the_decoder() -> None:
    # A request the codec cannot read is always one of its 4xx errors.
    with pytest.raises(ModelpackError) as caught:
        decode(COLUMNS, body(tensor("age", "FP64", [1], [1.0], content_type="pd")))
    assert caught.value.status_code == 400
