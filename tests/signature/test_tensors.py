"""Tensor signatures: shapes and dtypes checked exactly, as MLflow does; lists and frame columns,
which have no dtype of their own, take the spec's."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from modelpack.errors import SignatureMismatch
from modelpack.signature.enforce import enforce_input
from modelpack.signature.schema import Schema, TensorSpec


def test_tensor_dtype_must_match_exactly() -> None:
    schema = Schema([TensorSpec(np.dtype("float32"), (-1, 4))])
    with pytest.raises(SignatureMismatch) as info:
        enforce_input(np.zeros((2, 4)), schema)
    assert str(info.value) == (
        "input 'input': expected dtype float32, got float64. "
        "Tensor inputs are not converted: send the declared dtype."
    )


def test_tensor_shape_names_expected_and_found() -> None:
    schema = Schema([TensorSpec(np.dtype("float64"), (-1, 4))])
    with pytest.raises(SignatureMismatch) as info:
        enforce_input(np.zeros((2, 3)), schema)
    assert str(info.value) == "input 'input': expected shape (-1, 4), got (2, 3)"


def test_frame_into_a_2d_tensor_uses_its_columns() -> None:
    schema = Schema([TensorSpec(np.dtype("float64"), (-1, 2))])
    out = enforce_input(pd.DataFrame({"a": [1.0], "b": [2.0]}), schema)
    assert out.tolist() == [[1.0, 2.0]]


def test_named_tensors_need_every_name() -> None:
    schema = Schema(
        [TensorSpec(np.dtype("float64"), (-1,), "a"), TensorSpec(np.dtype("float64"), (-1,), "b")]
    )
    with pytest.raises(SignatureMismatch, match=r"Model is missing inputs \['b'\]"):
        enforce_input({"a": np.zeros(2)}, schema)


def test_a_list_takes_the_specs_dtype() -> None:
    schema = Schema([TensorSpec(np.dtype("float32"), (-1, 2))])
    out = enforce_input([[1, 2], [3, 4]], schema)
    assert out.dtype == np.float32 and out.shape == (2, 2)


def test_a_list_that_is_not_numbers_names_the_input() -> None:
    schema = Schema([TensorSpec(np.dtype("float32"), (-1, 2))])
    with pytest.raises(SignatureMismatch) as info:
        enforce_input([["a", "b"]], schema)
    assert str(info.value).startswith("input 'input': expected float32 values of shape (-1, 2):")


def test_a_column_of_arrays_is_stacked_into_a_tensor() -> None:
    schema = Schema([TensorSpec(np.dtype("float64"), (-1, 3))])
    frame = pd.DataFrame({"x": [np.zeros(3), np.ones(3)]})
    out = enforce_input(frame, schema)
    assert out.shape == (2, 3) and out[1].tolist() == [1.0, 1.0, 1.0]


def test_fixed_sizes_are_checked_and_free_ones_are_not() -> None:
    schema = Schema([TensorSpec(np.dtype("int64"), (-1, 2, -1))])
    assert enforce_input(np.zeros((5, 2, 7), dtype=np.int64), schema).shape == (5, 2, 7)
    with pytest.raises(SignatureMismatch) as info:
        enforce_input(np.zeros((5, 3, 7), dtype=np.int64), schema)
    assert str(info.value) == "input 'input': expected shape (-1, 2, -1), got (5, 3, 7)"


def test_named_tensors_come_back_as_a_dict_of_checked_arrays() -> None:
    schema = Schema(
        [TensorSpec(np.dtype("float64"), (-1,), "a"), TensorSpec(np.dtype("int64"), (-1,), "b")]
    )
    out = enforce_input({"a": [1.0, 2.0], "b": np.array([3, 4])}, schema)
    assert set(out) == {"a", "b"}
    assert out["a"].dtype == np.float64 and out["b"].tolist() == [3, 4]


def test_a_column_of_flat_arrays_is_reshaped_to_the_tensor_as_mlflow_does() -> None:
    """A Spark array column (ndarray cells keep their dtype) or JSON lists (cast to the spec's):
    one flat array per row, reshaped in C order."""
    schema = Schema([TensorSpec(np.dtype("float32"), (-1, 2, 2))])
    cells = pd.DataFrame({"x": [np.arange(4, dtype=np.float32), np.arange(4, 8, dtype=np.float32)]})
    lists = pd.DataFrame({"x": [[0, 1, 2, 3], [4, 5, 6, 7]]})

    from_cells, from_lists = enforce_input(cells, schema), enforce_input(lists, schema)

    expected = np.arange(8, dtype=np.float32).reshape(2, 2, 2)
    np.testing.assert_array_equal(from_cells, expected)
    np.testing.assert_array_equal(from_lists, expected)
    assert from_cells.dtype == from_lists.dtype == np.float32


def test_a_column_of_arrays_that_do_not_fit_the_tensor_says_so() -> None:
    schema = Schema([TensorSpec(np.dtype("float64"), (-1, 3))])
    with pytest.raises(SignatureMismatch) as info:
        enforce_input(pd.DataFrame({"x": [np.zeros(4), np.zeros(4)]}), schema)
    assert str(info.value) == (
        "input 'input': the arrays in the column do not reshape to (-1, 3): each row needs 3 values"
    )
