"""A model's side of V2: its metadata, its input from tensors, its output as tensors.

The metadata is derived from the signature as MLServer derives it for MLflow models: one tensor
per column (shape ``[-1, 1]``, model content type ``pd``), the spec's name, dtype and shape for
tensor specs (``input-0``/``output-0`` when unnamed, content type ``np``), plus the params schema
under ``parameters`` (MLServer leaves it out). Unlike MLServer, outputs come back named and shaped
exactly as the metadata advertises (MLServer advertises ``output-0 [-1]`` and answers
``output-1 [n, 1]``).

A request becomes what ``PyFuncModel.check`` takes: a DataFrame with one column per input
(``pd``), one array (``np``), a dict of arrays (``dict``) or a list of strings (``str``). Columns
of unequal length, 2-d tensors as columns and datatypes a column cannot take are refused here
(MLServer pads with NaN, or fails in the model); enforcement then applies MLflow's casting rules.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from modelpack.codecs._v2 import RequestedOutput, V2Output, V2Request
from modelpack.codecs._v2_outputs import column_output, tensor_output
from modelpack.codecs._v2_tensors import (
    V2Tensor,
    base64_elements,
    datatype_of,
    json_elements,
    text_elements,
)
from modelpack.errors import MalformedInput, SignatureMismatch, clip
from modelpack.signature.casting import cast_values
from modelpack.signature.datatypes import DataType
from modelpack.signature.frames import frame_from_block
from modelpack.signature.schema import ColSpec, ParamSchema, Schema, TensorSpec

__all__ = ["V2Signature"]

_COLUMN_TYPES = {
    DataType.boolean: ("BOOL", "np"),
    DataType.integer: ("INT32", "np"),
    DataType.long: ("INT64", "np"),
    DataType.float: ("FP32", "np"),
    DataType.double: ("FP64", "np"),
    DataType.string: ("BYTES", "str"),
    DataType.binary: ("BYTES", "base64"),
    DataType.datetime: ("BYTES", "datetime"),
}
_NESTED = ("BYTES", "pd_json")  # Array, Object, Map and Any columns: one JSON text per cell
_NUMERIC = frozenset(
    {"INT8", "INT16", "INT32", "INT64", "UINT8", "UINT16", "UINT32", "UINT64"}
    | {"FP16", "FP32", "FP64"}
)


class V2Signature:
    """What V2 needs to know about one model, worked out once from its signature."""

    def __init__(
        self,
        input_schema: Schema | None = None,
        output_schema: Schema | None = None,
        params_schema: ParamSchema | None = None,
    ) -> None:
        self.input_schema = input_schema
        self.output_schema = output_schema
        self.params_schema = params_schema
        self.inputs = _tensors(input_schema, "input")
        self.outputs = _tensors(output_schema, "output")
        self.content_type = _model_content_type(input_schema)
        """How a request without its own content type is read (``pd``, ``np``, ``dict``); None
        without a signature (then it depends on the inputs, see ``decode``)."""
        self._input_content = {t["name"]: t["parameters"]["content_type"] for t in self.inputs}
        self._columns: dict[str, ColSpec] = (
            {str(s.name): s for s in input_schema.inputs if isinstance(s, ColSpec) and s.name}
            if input_schema is not None
            else {}
        )
        self._output_columns = output_schema is not None and not output_schema.is_tensor_spec()
        self._output_names = [t["name"] for t in self.outputs]
        self._indexes: dict[tuple[Hashable, ...], pd.Index] = {}

    @classmethod
    def for_model(cls, model: Any) -> V2Signature:
        """The V2 view of a ``PyFuncModel`` (its input, output and params schemas)."""
        metadata = getattr(model, "metadata", None)
        output = metadata.get_output_schema() if metadata is not None else None
        return cls(
            getattr(model, "input_schema", None), output, getattr(model, "params_schema", None)
        )

    # -- metadata -------------------------------------------------------------------------------

    def metadata(
        self, name: str, versions: Sequence[str] = (), platform: str = ""
    ) -> dict[str, Any]:
        """The model metadata response (``GET /v2/models/{name}``), MLServer's keys in order."""
        parameters: dict[str, Any] = {}
        if self.content_type is not None:
            parameters["content_type"] = self.content_type
        if self.params_schema is not None:
            parameters["params"] = self.params_schema.to_dict()
        return {
            "name": name,
            "versions": list(versions),
            "platform": platform,
            "inputs": self.inputs,
            "outputs": self.outputs,
            "parameters": parameters,
        }

    # -- requests -------------------------------------------------------------------------------

    def check_outputs(self, requested: Sequence[RequestedOutput] | None) -> None:
        """Refuse unknown or repeated output names before predicting, when the signature names
        the outputs (without an output schema, ``encode`` checks them after)."""
        if requested is None:
            return
        names = [r.name for r in requested]
        for name in names:
            if names.count(name) > 1:
                raise MalformedInput(f"output '{clip(name, 40)}' is requested more than once")
        if self.output_schema is not None:
            _known(names, self._output_names)

    def decode(self, request: V2Request) -> Any:
        """The model input for ``request`` (``PyFuncModel.check`` converts and checks it)."""
        tensors = [self._read(t) for t in request.inputs]
        content_type = request.content_type or self.content_type
        if content_type is None:  # no signature: a lone tensor is an array, else columns
            lone = len(tensors) == 1 and len(tensors[0].shape) >= 2 and tensors[0].shape[1] != 1
            content_type = "np" if lone else "pd"
        if content_type == "pd":
            return self._frame(tensors)
        if content_type == "np":
            if len(tensors) != 1:
                raise MalformedInput(
                    f"content_type 'np' reads exactly one input tensor, got {len(tensors)}; "
                    "send one, or use 'pd' (columns) or 'dict' (named tensors)"
                )
            return tensors[0].values
        if content_type == "dict":
            return {t.name: t.values for t in tensors}
        if len(tensors) != 1 or tensors[0].datatype != "BYTES":  # "str"
            raise MalformedInput("content_type 'str' reads exactly one BYTES input")
        return [_text(v) for v in text_elements(tensors[0].values, tensors[0].name).ravel()]

    def _read(self, tensor: V2Tensor) -> V2Tensor:
        """BYTES elements read by the input's content type (its own, else the metadata's)."""
        if tensor.datatype != "BYTES":
            return tensor
        how = tensor.content_type or self._input_content.get(tensor.name)
        label = clip(tensor.name, 40)
        if how == "base64":
            values = base64_elements(tensor.values, label)
        elif how == "pd_json":
            values = json_elements(tensor.values, label)
        elif how in ("str", "datetime") or (how is None and self._is_text(tensor.name)):
            values = text_elements(tensor.values, label)
        else:
            return tensor
        return V2Tensor(tensor.name, tensor.datatype, tensor.shape, values, how)

    def _is_text(self, name: str) -> bool:
        spec = self._columns.get(name)
        return spec is None or spec.type in (DataType.string, DataType.datetime)

    def _frame(self, tensors: list[V2Tensor]) -> pd.DataFrame:
        columns: list[np.ndarray] = []
        for tensor in tensors:
            label = clip(tensor.name, 40)
            shape = tensor.shape
            if len(shape) > 2 or (len(shape) == 2 and shape[1] != 1) or not shape:
                raise SignatureMismatch(
                    f"input '{label}' has shape {list(shape)}, but in a DataFrame each input is "
                    "one column, of shape [n] or [n, 1]; send a tensor with content_type 'np'"
                )
            self._check_datatype(tensor, label)
            columns.append(self._column(tensor, label))
        lengths = {len(c) for c in columns}
        if len(lengths) > 1:
            # MLServer pads the short columns with NaN; a row needs a value in every column.
            counts = {clip(t.name, 40): t.shape[0] for t in tensors}
            raise SignatureMismatch(
                f"inputs have different numbers of rows {counts}; every input is a column, "
                "and every row needs a value in each"
            )
        index = self._columns_index(tuple(t.name for t in tensors))
        first = columns[0]
        if first.dtype.kind in "biuf" and all(c.dtype == first.dtype for c in columns):
            return frame_from_block(np.stack(columns), index)
        data = {
            i: pd.Series(c, dtype=object, copy=False) if c.dtype == object else c
            for i, c in enumerate(columns)
        }
        frame = pd.DataFrame(data)
        frame.columns = index
        return frame

    def _columns_index(self, names: tuple[Hashable, ...]) -> pd.Index:
        """The column labels; kept for the usual few, as building one costs more than the rest."""
        index = self._indexes.get(names)
        if index is None:
            index = pd.Index(list(names), dtype=object)
            if len(self._indexes) < 16:
                self._indexes[names] = index
        return index

    def _check_datatype(self, tensor: V2Tensor, label: str) -> None:
        spec = self._columns.get(tensor.name)
        if spec is None or not isinstance(spec.type, DataType):
            return  # not in the schema (enforcement drops it), or a nested column (JSON cells)
        expected = _COLUMN_TYPES[spec.type][0]
        numeric = expected in _NUMERIC and tensor.datatype in _NUMERIC
        if tensor.datatype != expected and not numeric:
            raise SignatureMismatch(
                f"input '{label}': the signature's {spec.type.name} column is {expected}, "
                f"got {tensor.datatype}",
                column=tensor.name,
            )

    def _column(self, tensor: V2Tensor, label: str) -> np.ndarray:
        values = tensor.values.reshape(-1)
        spec = self._columns.get(tensor.name)
        if spec is not None and spec.type == DataType.datetime:
            return np.asarray(cast_values(values.tolist(), spec, label))  # parses the text
        return values

    # -- answers --------------------------------------------------------------------------------

    def encode(
        self, predictions: Any, requested: Sequence[RequestedOutput] | None = None
    ) -> tuple[list[V2Output], str]:
        """The model's answer as outputs named and shaped as the metadata says, filtered and
        ordered as ``requested``; and the response's content type (``pd``, ``np``, ``dict``)."""
        outputs, content_type = self._outputs(predictions)
        if requested is None:
            return outputs, content_type
        by_name = {o.name: o for o in outputs}
        _known([r.name for r in requested], list(by_name))
        return [by_name[r.name] for r in requested], content_type

    def _outputs(self, predictions: Any) -> tuple[list[V2Output], str]:
        names = self._output_names
        if isinstance(predictions, pd.Series):
            name = names[0] if len(names) == 1 else _series_name(predictions, bool(names))
            return [column_output(name, predictions)], "pd"
        if isinstance(predictions, pd.DataFrame):
            labels = [str(c) for c in predictions.columns]
            if self._output_columns and not self.output_schema.has_input_names():  # type: ignore[union-attr]
                labels = [f"output-{i}" for i in range(len(labels))]
            return [
                column_output(label, predictions.iloc[:, i]) for i, label in enumerate(labels)
            ], "pd"
        if isinstance(predictions, Mapping):
            return [
                self._array_output(str(k), np.asarray(v)) for k, v in predictions.items()
            ], "dict"
        if isinstance(predictions, list) and predictions and type(predictions[0]) is dict:
            return self._outputs(pd.DataFrame(predictions))
        array = np.asarray(predictions)
        if array.ndim == 0:
            array = array.reshape(1)
        if self._output_columns and len(names) > 1 and array.ndim == 2:
            if array.shape[1] == len(names):  # one array column per signature column
                return [column_output(n, pd.Series(array[:, i])) for i, n in enumerate(names)], "pd"
        name = names[0] if names else "output-0"
        return [self._array_output(name, array)], "np"

    def _array_output(self, name: str, array: np.ndarray) -> V2Output:
        if self._output_columns and array.ndim == 1:
            array = array.reshape(-1, 1)  # a column: [n, 1], as advertised
        return tensor_output(name, array.shape, array.reshape(-1), "np")


# -- metadata helpers ----------------------------------------------------------------------------


def _tensors(schema: Schema | None, kind: str) -> list[dict[str, Any]]:
    if schema is None:
        return []
    out = []
    for i, spec in enumerate(schema.inputs):
        name = spec.name if spec.name is not None else f"{kind}-{i}"
        if isinstance(spec, TensorSpec):
            datatype = datatype_of(spec.type) or "BYTES"
            shape = list(spec.shape)
            content_type = "np"
        else:
            datatype, content_type = (
                _COLUMN_TYPES[spec.type] if isinstance(spec.type, DataType) else _NESTED
            )
            shape = [-1, 1]
        out.append(
            {
                "name": name,
                "datatype": datatype,
                "shape": shape,
                "parameters": {"content_type": content_type},
            }
        )
    return out


def _model_content_type(schema: Schema | None) -> str | None:
    if schema is None:
        return None
    if not schema.is_tensor_spec():
        return "pd"
    return "dict" if schema.has_input_names() else "np"


def _known(names: Sequence[str], available: Sequence[str]) -> None:
    for name in names:
        if name not in available:
            raise MalformedInput(
                f"unknown output '{clip(name, 40)}'; this model's outputs are "
                f"{[clip(n, 40) for n in available[:20]]}"
            )


def _series_name(series: pd.Series, named_schema: bool) -> str:
    return str(series.name) if series.name is not None and not named_schema else "output-0"


def _text(value: Any) -> str:
    return value if isinstance(value, str) else str(value)
