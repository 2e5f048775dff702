"""signature.frames: what it reads from pandas' block manager equals pandas' own answer."""

from __future__ import annotations

import pandas as pd
from hypothesis import given
from hypothesis import strategies as st

from modelpack.signature.frames import column_dtypes


@given(
    st.lists(
        st.sampled_from(["float64", "float32", "int64", "int32", "bool", "object", "string"]),
        min_size=0,
        max_size=6,
    )
)
def test_column_dtypes_are_the_frames_dtypes(kinds: list[str]) -> None:
    df = pd.DataFrame({f"c{i}": pd.Series([1, 0], dtype=kind) for i, kind in enumerate(kinds)})

    assert column_dtypes(df) == df.dtypes.tolist()
