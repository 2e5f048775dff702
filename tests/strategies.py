"""Hypothesis strategies shared by the property tests (attrs style: small, composable)."""

from __future__ import annotations

from typing import Any

from hypothesis import strategies as st

json_scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**63 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20)
)
"""Scalars orjson writes and reads back."""

json_values: st.SearchStrategy[Any] = st.recursive(
    json_scalars,
    lambda children: (
        st.lists(children, max_size=5) | st.dictionaries(st.text(max_size=10), children, max_size=5)
    ),
    max_leaves=25,
)
"""Any JSON document."""

envelope_keys = st.sampled_from(
    ["dataframe_split", "dataframe_records", "instances", "inputs", "params", "columns", "data"]
)

request_bodies: st.SearchStrategy[Any] = st.one_of(
    json_values,
    st.dictionaries(envelope_keys, json_values, min_size=1, max_size=3),
    st.fixed_dictionaries(
        {
            "dataframe_split": st.fixed_dictionaries(
                {"columns": st.lists(st.text(max_size=8), max_size=4)},
                optional={"data": json_values, "index": json_values},
            )
        }
    ),
)
"""JSON bodies biased towards the envelopes, so the decoders are reached, not only the gate."""


def request_bodies_naming(names: list[str]) -> st.SearchStrategy[Any]:
    """JSON bodies whose objects use a signature's column ``names`` as keys (besides any text),
    holding values of every JSON kind, so that each column's cast is reached with odd values."""
    keys = st.sampled_from(names) | st.text(max_size=4)
    scalars = (
        st.none()
        | st.booleans()
        | st.integers(min_value=-(2**70), max_value=2**70)  # beyond 64 bits too
        | st.floats()  # NaN and infinity too (the standard library fallback reads them)
        | st.text(max_size=6)
        | st.sampled_from(["1", "1.5", "nan", "aGVsbG8="])
    )
    values = st.recursive(
        scalars,
        lambda children: (
            st.lists(children, max_size=4) | st.dictionaries(keys, children, max_size=4)
        ),
        max_leaves=20,
    )
    rows = st.lists(st.dictionaries(keys, values, max_size=4), max_size=4)
    table = st.lists(st.lists(scalars, max_size=3) | scalars, max_size=4)  # rows as lists
    return st.one_of(
        values,
        st.dictionaries(st.sampled_from(["params", "columns", "data", "index"]), values),
        st.fixed_dictionaries(
            {
                "dataframe_split": st.fixed_dictionaries(
                    {"columns": st.lists(keys, max_size=4)},
                    optional={"data": table | values, "index": values},
                )
            }
        ),
        st.fixed_dictionaries({"dataframe_records": rows | table | values}),
        st.fixed_dictionaries({"instances": rows | table | values}),
        st.fixed_dictionaries({"inputs": st.dictionaries(keys, values, max_size=4) | values}),
    )


# -- the Open Inference Protocol (V2) -------------------------------------------------------------

V2_DATATYPES = [
    "BOOL",
    "INT8",
    "INT16",
    "INT32",
    "INT64",
    "UINT8",
    "UINT16",
    "UINT32",
    "UINT64",
    "FP16",
    "FP32",
    "FP64",
    "BYTES",
]
V2_CONTENT_TYPES = ["pd", "np", "dict", "str", "base64", "datetime", "pd_json"]

v2_elements = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**65), max_value=2**65)
    | st.floats()  # NaN and infinity too: the body is written by the standard library
    | st.text(max_size=6)
    | st.sampled_from(["aGVsbG8=", "2024-02-29T12:00:00", "[1, 2]", '{"a": 1}', "1.5"])
)
"""Tensor elements of every JSON kind, and texts that some content type reads."""


_TYPED: dict[str, st.SearchStrategy[Any]] = {
    "BOOL": st.booleans(),
    "BYTES": st.text(max_size=6)
    | st.sampled_from(["aGVsbG8=", "2024-02-29T12:00:00", "[1, 2]", '{"a": 1}', "1.5"]),
    **dict.fromkeys(
        ["INT8", "INT16", "INT32", "INT64", "UINT8", "UINT16", "UINT32", "UINT64"],
        st.integers(min_value=-300, max_value=300) | st.integers(),
    ),
    **dict.fromkeys(["FP16", "FP32", "FP64"], st.floats(width=32) | st.floats() | st.integers()),
}
"""Elements a datatype takes (and some it refuses: out of range, non-finite)."""


@st.composite
def v2_tensors(draw: st.DrawFn, name: str, datatype: str, shape: list[int]) -> dict[str, Any]:
    """One input tensor, mostly as the model advertises it (``datatype``, ``shape`` with ``-1``
    for any number of rows, data of the datatype's kind and length, flat or nested), sometimes
    not (any datatype, shape, element or field)."""
    odd = draw(st.integers(min_value=0, max_value=9)) == 0
    if odd or draw(st.integers(min_value=0, max_value=5)) == 0:
        datatype = draw(st.sampled_from(V2_DATATYPES))
    rows = draw(st.integers(min_value=0, max_value=3))
    dims = [rows if d == -1 else d for d in shape]
    if odd and draw(st.booleans()):
        dims = draw(st.lists(st.integers(min_value=0, max_value=3), max_size=3))
    count = 1
    for dim in dims:
        count *= dim
    elements = v2_elements if odd else _TYPED[datatype]
    flat = draw(st.lists(elements, min_size=count, max_size=count))
    if len(dims) == 2 and draw(st.booleans()):
        data: Any = [flat[i * dims[1] : (i + 1) * dims[1]] for i in range(dims[0])]
    else:
        data = flat
    tensor: dict[str, Any] = {"name": name, "datatype": datatype, "shape": dims, "data": data}
    if odd and draw(st.booleans()):
        tensor[draw(st.sampled_from(["shape", "data", "datatype", "name"]))] = draw(json_values)
    if draw(st.integers(min_value=0, max_value=5)) == 0:
        content_type = st.sampled_from(V2_CONTENT_TYPES) | st.text(max_size=4)
        tensor["parameters"] = {"content_type": draw(content_type)}
        if odd:
            tensor["parameters"]["binary_data_size"] = draw(st.integers(-1, 8))
    return tensor


@st.composite
def v2_requests(
    draw: st.DrawFn, inputs: dict[str, tuple[str, list[int]]], params: list[str]
) -> dict[str, Any]:
    """A V2 inference request for a model whose ``inputs`` map names to (datatype, shape) as
    its metadata says: some of them (and sometimes another name), request parameters (content
    types, binary outputs, ``params``) and requested outputs."""
    names = draw(st.lists(st.sampled_from(sorted(inputs)), min_size=1, max_size=4, unique=True))
    if draw(st.integers(min_value=0, max_value=5)) == 0:
        names.append(draw(st.text(max_size=4)))
    tensors = [draw(v2_tensors(n, *inputs.get(n, ("FP64", [-1])))) for n in names]
    request: dict[str, Any] = {"inputs": tensors}
    if draw(st.booleans()):
        request["parameters"] = draw(
            st.dictionaries(
                st.sampled_from(["content_type", "binary_data_output", *params])
                | st.text(max_size=4),
                st.sampled_from(V2_CONTENT_TYPES) | json_scalars,
                max_size=3,
            )
        )
    if draw(st.booleans()):
        request["outputs"] = draw(
            st.lists(
                st.fixed_dictionaries(
                    {"name": st.sampled_from([*inputs, "output-0"]) | st.text(max_size=4)},
                    optional={"parameters": st.fixed_dictionaries({"binary_data": st.booleans()})},
                ),
                max_size=2,
            )
        )
    if draw(st.booleans()):
        request["id"] = draw(st.text(max_size=4) if draw(st.booleans()) else json_scalars)
    return request


def v2_bodies(
    inputs: dict[str, tuple[str, list[int]]], params: list[str]
) -> st.SearchStrategy[Any]:
    """V2 inference request bodies (as Python values): mostly ``v2_requests``, sometimes any
    JSON at all."""
    return st.integers(min_value=0, max_value=9).flatmap(
        lambda pick: json_values if pick == 0 else v2_requests(inputs, params)
    )
