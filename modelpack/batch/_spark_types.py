"""The Spark type a UDF returns, and predictions shaped for it, as ``mlflow.pyfunc.spark_udf``.

``result_type`` is a DDL string or a ``pyspark.sql.types.DataType``; None means: from the
model's output schema, else ``double`` (MLflow 3). ``to_spark`` keeps MLflow's rules: a scalar
type takes the leftmost prediction column of a fitting dtype, an array type every such column,
a struct type the columns of its field names; ``string`` turns every value into text.
Everything pyspark is imported inside the functions: this module loads without it.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from modelpack.errors import InvalidArgument, InvalidOutput
from modelpack.signature.datatypes import Array, DataType
from modelpack.signature.schema import ColSpec, Schema, TensorSpec

__all__ = ["infer_result_type", "parse_result_type", "to_spark"]

_ALLOWED = (
    "int, long, float, double, string, boolean, an array of those, or a struct of those and "
    "arrays of them"
)


def parse_result_type(result_type: Any, output_schema: Schema | None) -> Any:
    """The ``DataType`` a UDF returns: parsed from DDL, given, or inferred (None)."""
    if result_type is None:
        return infer_result_type(output_schema)
    if isinstance(result_type, str):
        parsed = _parse_ddl(result_type)
    else:
        parsed = result_type
    if not _supported(parsed):
        name = parsed.simpleString() if hasattr(parsed, "simpleString") else repr(parsed)
        raise InvalidArgument(f"result_type {name} is not supported; use {_ALLOWED}")
    return parsed


def _parse_ddl(text: str) -> Any:
    from pyspark.sql.functions import udf
    from pyspark.sql.utils import AnalysisException

    ddl = "boolean" if text.strip() == "bool" else text
    try:
        # The public way to parse a DDL string: a UDF's return type is parsed by the JVM.
        return udf(lambda x: x, returnType=ddl).returnType
    except (AnalysisException, ValueError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise InvalidArgument(f"result_type {text!r} is not a Spark type: {first}") from None


def _supported(data_type: Any) -> bool:
    from pyspark.sql import types as T

    if isinstance(data_type, _primitives()):
        return True
    if isinstance(data_type, T.ArrayType):
        return _supported(data_type.elementType)
    if isinstance(data_type, T.StructType):
        return all(_supported(field.dataType) for field in data_type.fields)
    return False


def _primitives() -> tuple[type, ...]:
    from pyspark.sql import types as T

    return (
        T.IntegerType,
        T.LongType,
        T.FloatType,
        T.DoubleType,
        T.StringType,
        T.BooleanType,
    )


def infer_result_type(output_schema: Schema | None) -> Any:
    """MLflow's choice from the output schema: one spec gives its type, several a struct."""
    from pyspark.sql import types as T

    if output_schema is None:
        return T.DoubleType()
    specs = output_schema.inputs
    if len(specs) == 1:
        return _spec_type(specs[0])
    return T.StructType(
        [T.StructField(spec.name or str(i), _spec_type(spec)) for i, spec in enumerate(specs)]
    )


def _spec_type(spec: ColSpec | TensorSpec) -> Any:
    from pyspark.sql import types as T

    if isinstance(spec, TensorSpec):
        # As MLflow: a tensor of shape (-1,) is an array per row, (-1, n) an array of arrays.
        element = _numpy_type(spec.type)
        if len(spec.shape) == 1:
            return T.ArrayType(element)
        if len(spec.shape) == 2:
            return T.ArrayType(T.ArrayType(element))
        raise InvalidArgument(
            f"the model's output '{spec.name or 0}' has shape {spec.shape}; only 1-d and 2-d "
            "tensors fit a Spark column: give result_type"
        )
    if isinstance(spec.type, DataType):
        return _scalar_type(spec.type)
    if isinstance(spec.type, Array) and isinstance(spec.type.dtype, DataType):
        return T.ArrayType(_scalar_type(spec.type.dtype))
    raise InvalidArgument(
        f"the model's output column '{spec.name}' is {type(spec.type).__name__}, which has no "
        "Spark type here: give result_type"
    )


def _scalar_type(data_type: DataType) -> Any:
    from pyspark.sql import types as T

    table = {
        DataType.boolean: T.BooleanType(),
        DataType.integer: T.IntegerType(),
        DataType.long: T.LongType(),
        DataType.float: T.FloatType(),
        DataType.double: T.DoubleType(),
        DataType.string: T.StringType(),
        DataType.binary: T.BinaryType(),
        DataType.datetime: T.TimestampType(),
    }
    return table[data_type]


def _numpy_type(dtype: np.dtype) -> Any:
    from pyspark.sql import types as T

    kinds = {
        "b": T.BooleanType(),
        "f": T.FloatType() if dtype.itemsize <= 4 else T.DoubleType(),
        "i": T.IntegerType() if dtype.itemsize <= 4 else T.LongType(),
        "u": T.IntegerType() if dtype.itemsize <= 2 else T.LongType(),
        "U": T.StringType(),
        "O": T.StringType(),
        "S": T.BinaryType(),
    }
    if dtype.kind not in kinds:
        raise InvalidArgument(
            f"the model's output dtype {dtype} has no Spark type: give result_type"
        )
    return kinds[dtype.kind]


# ---------------------------------------------------------------------------------------------
# predictions -> Spark values


def to_spark(result: Any, result_type: Any) -> pd.Series | pd.DataFrame:
    """One batch's predictions as the pandas value a UDF of ``result_type`` yields."""
    from pyspark.sql import types as T

    if isinstance(result, dict):
        result = {k: list(v) for k, v in result.items()}
    if isinstance(result_type, T.StructType):
        return _struct(pd.DataFrame(result), result_type)
    if isinstance(result_type, T.ArrayType) and isinstance(result_type.elementType, T.ArrayType):
        return pd.Series([_nested(row, result_type) for row in _rows(result)])
    if not isinstance(result, pd.DataFrame):
        result = pd.DataFrame([result]) if np.isscalar(result) else pd.DataFrame(result)
    element = result_type.elementType if isinstance(result_type, T.ArrayType) else result_type
    result = _columns_of(result, element)
    if isinstance(result_type, T.ArrayType):
        return pd.Series(result.to_numpy().tolist())
    return result[result.columns[0]]


def _rows(result: Any) -> list[Any]:
    if isinstance(result, pd.DataFrame):
        return list(result.to_numpy())
    if isinstance(result, pd.Series):
        return list(result)
    return list(np.asarray(result, dtype=object)) if not isinstance(result, list) else result


def _nested(value: Any, array_type: Any) -> Any:
    """One cell of an array column: nested lists, the innermost cast to the element type."""
    from pyspark.sql import types as T

    if value is None or (isinstance(value, float) and np.isnan(value)):
        return None
    if isinstance(array_type.elementType, T.ArrayType):
        return [_nested(v, array_type.elementType) for v in value]
    return np.asarray(value, dtype=_numpy_dtype(array_type.elementType))


def _casts() -> list[tuple[type, list[Any], Any]]:
    """MLflow's table: per scalar Spark type, the dtypes of prediction columns that fit it and
    the numpy type they are cast to."""
    from pyspark.sql import types as T

    small_ints = [np.byte, np.ubyte, np.short, np.ushort]
    return [
        (T.IntegerType, [*small_ints, np.int32], np.int32),
        (T.LongType, [*small_ints, int], np.int64),
        (T.FloatType, [np.number], np.float32),
        (T.DoubleType, [np.number], np.float64),
        (T.BooleanType, [bool, np.bool_], np.bool_),
        (T.StringType, [], np.str_),
    ]


def _numpy_dtype(element: Any) -> Any:
    for kind, _, dtype in _casts():
        if isinstance(element, kind):
            return dtype
    raise InvalidOutput(f"no numpy type for Spark's {element.simpleString()}")


def _columns_of(result: pd.DataFrame, element: Any) -> pd.DataFrame:
    """MLflow's rule: the prediction columns of a dtype that fits ``element``, cast to it;
    every column, as text, for ``string``."""
    from pyspark.sql import types as T

    if isinstance(element, T.StringType):
        return result.map(str)
    picked = result
    for kind, include, dtype in _casts():
        if isinstance(element, kind):
            picked = result.select_dtypes(include=include).astype(dtype)
    if len(picked.columns) == 0:
        dtypes = sorted({str(t) for t in result.dtypes})
        raise InvalidOutput(
            f"the model returned no values that fit the result type {element.simpleString()} "
            f"(its output has dtypes {', '.join(dtypes)}); ask for result_type 'string' or "
            "'array<string>'"
        )
    return picked


def _struct(result: pd.DataFrame, struct_type: Any) -> pd.DataFrame:
    from pyspark.sql import types as T

    missing = [name for name in struct_type.fieldNames() if name not in result.columns]
    if missing:
        raise InvalidOutput(
            f"the model's output has no column {missing[0]!r} for the result type's field; "
            f"it has {[str(c) for c in result.columns][:10]}"
        )
    out = {}
    for field in struct_type.fields:
        values = result[field.name]
        if isinstance(field.dataType, T.ArrayType):
            out[field.name] = pd.Series([_nested(v, field.dataType) for v in values])
            continue
        target = _numpy_dtype(field.dataType)
        if not values.isna().all():
            values = values.map(str) if target is np.str_ else values.astype(target)
        out[field.name] = values.reset_index(drop=True)
    return pd.DataFrame(out)
