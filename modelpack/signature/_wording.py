"""How the casting rulebook words a refusal, and the type groups its parts share.

Every refusal is a ``SignatureMismatch`` made by ``mismatch``: ``column 'pH': expected double, got
str 'acidic' (row 3)``; ``describe`` and ``cell_text`` show one value.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from modelpack.errors import SignatureMismatch, short_repr
from modelpack.signature.datatypes import (
    DataType,
)

if TYPE_CHECKING:
    pass

__all__ = [
    "FLOATS",
    "INTEGERS",
    "MISSING_HINT",
    "NAIVE_ONLY",
    "OBJECT",
    "TEXT",
    "cell_text",
    "describe",
    "first_refused",
    "mismatch",
    "shown",
]

MISSING_HINT = (
    "integer columns cannot hold missing or infinite values: declare the column as double in the "
    "signature, or fill the missing values"
)
NAIVE_ONLY = "only timezone-naive datetimes are supported"
INTEGERS = (DataType.integer, DataType.long)
FLOATS = (DataType.float, DataType.double)
TEXT = (DataType.string, DataType.binary)
OBJECT = np.dtype(object)


def mismatch(
    column: str, expected: str, found: str, row: int | None = None, reason: str = ""
) -> SignatureMismatch:
    """The one refusal: ``column 'x': expected double, got str 'acidic' (row 3)[; reason]``.

    ``found`` is a value (``describe``) or a dtype; ``row`` is the position in the column.
    """
    why = f"; {reason}" if reason else ""
    where = f" (row {row})" if row is not None else ""
    return SignatureMismatch(
        f"column '{column}': expected {expected}, got {found}{where}{why}",
        column=column,
        row=row,
        reason=f"expected {expected}, got {found}{why}",
    )


def describe(value: Any) -> str:
    """A value as messages show it, type and short repr: ``str 'acidic'``, ``float64 1.5``."""
    return f"{type(value).__name__} {shown(value)}"


def shown(value: Any) -> str:
    return short_repr(value.item() if isinstance(value, np.generic) else value)


def cell_text(values: pd.Series, pos: int) -> str:
    """The value at ``pos`` of a typed column, named by the column's dtype (``Int64 <NA>``)."""
    if values.dtype == OBJECT:
        return describe(values.iloc[pos])
    value = values.iloc[pos]
    return f"{values.dtype} {short_repr(value.item() if isinstance(value, np.generic) else value)}"


def first_refused(
    values: pd.Series, name: str, expected: DataType, ok: Callable[[Any], bool]
) -> SignatureMismatch:
    """The refusal of the first value ``ok`` refuses, or of the column as a whole."""
    for row, value in enumerate(values):
        if not ok(value):
            hint = MISSING_HINT if value is None and expected in INTEGERS else ""
            return mismatch(name, expected.name, describe(value), row, hint)
    return mismatch(name, expected.name, str(values.dtype))
