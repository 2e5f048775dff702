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
