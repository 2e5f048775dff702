"""Merging checked inputs of several requests into one model call, and splitting the answer.

Pure functions, no threads: the engine decides when to merge; these decide whether two inputs can
be merged (``merge_key``), how (``merge``), and how the model's answer is cut back into one
answer per request (``split``). An answer that cannot be cut by rows makes ``split`` return None,
and the engine then predicts each request alone.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from modelpack.signature.frames import column_dtypes

__all__ = ["count_rows", "merge", "merge_key", "rows_of", "split"]


def rows_of(data: Any) -> int | None:
    """The number of rows of a mergeable input, or None when it cannot be merged."""
    if isinstance(data, pd.DataFrame):
        return len(data)
    if isinstance(data, np.ndarray):
        return int(data.shape[0]) if data.ndim >= 1 and data.dtype != object else None
    if isinstance(data, Mapping) and data:
        counts = {rows_of(v) if isinstance(v, np.ndarray) else None for v in data.values()}
        if len(counts) == 1:
            return counts.pop()
    return None


def count_rows(data: Any) -> int:
    """How many rows an input holds, for counting (any input; 1 for a single value)."""
    rows = rows_of(data)
    if rows is not None:
        return rows
    if isinstance(data, np.ndarray):
        return int(data.shape[0]) if data.ndim >= 1 else 1
    if isinstance(data, list):
        return len(data)
    if isinstance(data, Mapping) and data:
        first = next(iter(data.values()))
        return len(first) if isinstance(first, list | np.ndarray | pd.Series) else 1
    return 1


def merge_key(data: Any, params: Mapping[str, Any] | None) -> Hashable | None:
    """Inputs with equal keys can be merged into one call; None means never merge this one.

    The key holds the input's kind, its columns and dtypes (or shape past the first axis), and
    the params: requests with other params or other columns are answered by separate calls.
    """
    try:
        frozen_params = _freeze(params or {})
    except TypeError:
        return None  # unhashable param values: not worth comparing
    if isinstance(data, pd.DataFrame):
        if not data.columns.is_unique:
            return None
        # A few us: not ``data.dtypes`` (it builds a Series) nor ``str`` of each dtype (~5 us
        # each), and the columns' tuple made once per Index object (the codecs hand every
        # request of one plan the same one).
        dtypes = tuple(column_dtypes(data))
        return ("frame", _names(data.columns), dtypes, _index_kind(data.index), frozen_params)
    if isinstance(data, np.ndarray):
        if data.ndim < 1 or data.dtype == object:
            return None
        return ("array", data.shape[1:], data.dtype.str, frozen_params)
    if isinstance(data, Mapping) and data and all(isinstance(v, np.ndarray) for v in data.values()):
        arrays = tuple((k, v.shape[1:], v.dtype.str) for k, v in data.items())
        if any(v.ndim < 1 or v.dtype == object for v in data.values()):
            return None
        return ("dict", arrays, frozen_params)
    return None


def merge(inputs: Sequence[Any]) -> Any:
    """One input holding the rows of ``inputs`` in order (all share one ``merge_key``)."""
    first = inputs[0]
    if isinstance(first, pd.DataFrame):
        # Block-wise concatenation: each dtype stays one C-contiguous block (see frames).
        # Requests' own 0..n-1 indexes would repeat: the merged frame counts its rows afresh.
        fresh = all(isinstance(d.index, pd.RangeIndex) for d in inputs)
        return pd.concat(inputs, axis=0, ignore_index=fresh)
    if isinstance(first, np.ndarray):
        return np.concatenate(inputs, axis=0)
    return {k: np.concatenate([d[k] for d in inputs], axis=0) for k in first}


def split(
    output: Any, counts: Sequence[int], indexes: Sequence[pd.Index] | None = None
) -> list[Any] | None:
    """``output`` cut into one answer per request, or None when it is not one row per input row.

    ``indexes`` are the requests' own input indexes: a frame answer indexed like the merged
    input gets them back, as if each request had been predicted alone.
    """
    total = sum(counts)
    if isinstance(output, pd.DataFrame | pd.Series):
        if len(output) != total:
            return None
        parts = [output.iloc[a:b] for a, b in _bounds(counts)]
        if indexes is not None and isinstance(output.index, pd.RangeIndex):
            for part, index in zip(parts, indexes, strict=True):
                part.index = index
        return parts
    if isinstance(output, np.ndarray):
        if output.ndim < 1 or output.shape[0] != total:
            return None
        return [output[a:b] for a, b in _bounds(counts)]
    if isinstance(output, list):
        if len(output) != total:
            return None
        return [output[a:b] for a, b in _bounds(counts)]
    if isinstance(output, Mapping) and output:
        columns: dict[Any, list[Any]] = {}
        for name, value in output.items():
            cut = split(value, counts)
            if cut is None:
                return None
            columns[name] = cut
        return [{k: cut[i] for k, cut in columns.items()} for i in range(len(counts))]
    return None


def _bounds(counts: Sequence[int]) -> list[tuple[int, int]]:
    out = []
    start = 0
    for n in counts:
        out.append((start, start + n))
        start += n
    return out


_last_names: tuple[Any, tuple[Any, ...]] = (None, ())
"""The last columns Index seen and its names as a tuple (an Index cannot change); rebound as
one tuple, so that a thread never reads one Index with another's names."""


def _names(columns: pd.Index) -> tuple[Any, ...]:
    global _last_names
    seen, names = _last_names
    if seen is not columns:
        names = tuple(columns.tolist())
        _last_names = (columns, names)
    return names


def _index_kind(index: pd.Index) -> Hashable:
    # A RangeIndex starting at 0 per request concatenates into repeated labels; any other index
    # is kept as it is. Both are fine for splitting by position; the kind keeps them apart.
    return "range" if isinstance(index, pd.RangeIndex) else str(index.dtype)


def _freeze(value: Any) -> Hashable:
    if isinstance(value, Mapping):
        return tuple(sorted((str(k), _freeze(v)) for k, v in value.items()))
    if isinstance(value, list | tuple):
        return tuple(_freeze(v) for v in value)
    hash(value)
    return (type(value).__name__, value)
