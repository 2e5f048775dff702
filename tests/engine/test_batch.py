"""Merging inputs and splitting answers: pure functions, checked against predicting alone."""

from __future__ import annotations

import numpy as np
import pandas as pd
from hypothesis import given
from hypothesis import strategies as st

from modelpack.engine import merge, merge_key, rows_of, split
from modelpack.signature.frames import has_pandas_layout


def _frame(rows: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame({"a": rng.normal(size=rows), "b": rng.integers(0, 9, size=rows)})


@given(st.lists(st.integers(1, 20), min_size=1, max_size=6))
def test_frames_merge_and_split_back_into_the_same_rows(sizes: list[int]) -> None:
    frames = [_frame(n, i) for i, n in enumerate(sizes)]
    assert len({merge_key(f, {}) for f in frames}) == 1
    merged = merge(frames)
    assert len(merged) == sum(sizes) == sum(rows_of(f) or 0 for f in frames)
    assert has_pandas_layout(merged)
    parts = split(merged, sizes, [f.index for f in frames])
    assert parts is not None
    for part, frame in zip(parts, frames, strict=True):
        pd.testing.assert_frame_equal(part, frame)


@given(st.lists(st.integers(1, 20), min_size=1, max_size=6))
def test_arrays_and_dicts_of_arrays_split_by_rows(sizes: list[int]) -> None:
    arrays = [np.full((n, 3), i, dtype=np.float32) for i, n in enumerate(sizes)]
    parts = split(merge(arrays), sizes)
    assert parts is not None
    for part, array in zip(parts, arrays, strict=True):
        np.testing.assert_array_equal(part, array)
    dicts = [{"x": a, "y": a[:, 0]} for a in arrays]
    assert len({merge_key(d, None) for d in dicts}) == 1
    out = split(merge(dicts), sizes)
    assert out is not None
    for part, d in zip(out, dicts, strict=True):
        np.testing.assert_array_equal(part["x"], d["x"])
        np.testing.assert_array_equal(part["y"], d["y"])


def test_inputs_that_differ_do_not_share_a_key() -> None:
    frame = _frame(3, 0)
    assert merge_key(frame, {"k": 1}) != merge_key(frame, {"k": 2})
    assert merge_key(frame, None) != merge_key(frame[["b", "a"]], None)
    assert merge_key(frame, None) != merge_key(frame.astype({"b": "float64"}), None)
    assert merge_key(np.zeros((2, 3)), None) != merge_key(np.zeros((2, 4)), None)
    assert merge_key(np.zeros((2, 3)), None) != merge_key(np.zeros((2, 3), np.float32), None)


def test_keys_follow_the_columns_when_frames_share_or_swap_index_objects() -> None:
    shared = pd.Index(["a", "b"])
    one = pd.DataFrame(np.zeros((1, 2)), columns=shared)
    two = pd.DataFrame(np.ones((2, 2)), columns=shared)
    other = pd.DataFrame(np.zeros((1, 2)), columns=pd.Index(["b", "c"]))
    # Alternating Index objects (the one-entry cache of column names is replaced each time).
    keys = [merge_key(f, None) for f in (one, other, two, other, one)]
    assert keys[0] == keys[2] == keys[4] != keys[1] == keys[3]
    assert merge_key(pd.DataFrame(np.zeros((1, 2)), columns=pd.Index(["a", "b"])), None) == keys[0]


def test_categories_that_differ_do_not_share_a_key() -> None:
    red = pd.DataFrame({"c": pd.Categorical(["red"], categories=["red", "blue"])})
    big = pd.DataFrame({"c": pd.Categorical(["big"], categories=["big", "small"])})
    assert merge_key(red, None) != merge_key(big, None)
    assert merge_key(red, None) == merge_key(red.copy(), None)


def test_inputs_that_cannot_be_merged_have_no_key() -> None:
    assert merge_key([1, 2], None) is None
    assert merge_key("text", None) is None
    assert merge_key(np.array(3.0), None) is None
    assert merge_key(np.array([{"a": 1}], dtype=object), None) is None
    assert merge_key(_frame(2, 0), {"unhashable": {1, 2}}) is None
    assert rows_of({"x": np.zeros(2), "y": np.zeros(3)}) is None


def test_answers_that_are_not_one_row_per_input_row_do_not_split() -> None:
    assert split(np.float64(3.0), [1, 2]) is None
    assert split(np.zeros(2), [1, 2]) is None
    assert split([1, 2, 3, 4], [1, 2]) is None
    assert split({"n": 3}, [1, 2]) is None
    assert split(pd.Series([1.0]), [1, 2]) is None
    assert split([1, 2, 3], [1, 2]) == [[1], [2, 3]]
