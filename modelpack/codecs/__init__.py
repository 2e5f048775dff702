"""Codecs: request bytes -> model input, model output -> response bytes. No HTTP in here.

The server and the batch ``predict`` command share these::

    plan = InputPlan.for_model(model)                 # once per model
    media = parse_content_type("application/json")    # MediaType(kind="json", orient=None)
    decoded = decode_json(body, plan, orient=media.orient)
    frame = decode_csv(body, plan)                    # CSV: a typed DataFrame
    out = model.predict(decoded.data, params=decoded.params)
    body = encode_predictions(out, bare=decoded.bare)

The Open Inference Protocol (V2) has its own three steps::

    signature = V2Signature.for_model(model)          # once per model: metadata, names
    request = parse_v2_request(body, header_length)   # JSON, or the binary extension
    data = signature.decode(request)                  # then model.check(data, request.params)
    outputs, content_type = signature.encode(out, request.outputs)
    body, header_length = encode_v2_response(outputs, binary, model_name=...)
"""

from __future__ import annotations

from modelpack.codecs._csv import csv_dtypes, csv_separator, decode_csv, read_csv_frames
from modelpack.codecs._json import ENVELOPES, Decoded, decode_json, decode_value, loads
from modelpack.codecs._media import MediaType, parse_content_type
from modelpack.codecs._output import encode_predictions, jsonable
from modelpack.codecs._plan import InputPlan
from modelpack.codecs._v2 import (
    RequestedOutput,
    V2Output,
    V2Request,
    encode_v2_response,
    parse_v2_request,
    request_from_parts,
)
from modelpack.codecs._v2_binary import raw_bytes
from modelpack.codecs._v2_model import V2Signature
from modelpack.codecs._v2_tensors import DATATYPES, V2Tensor, v2_tensor

__all__ = [
    "DATATYPES",
    "ENVELOPES",
    "Decoded",
    "InputPlan",
    "MediaType",
    "RequestedOutput",
    "V2Output",
    "V2Request",
    "V2Signature",
    "V2Tensor",
    "csv_dtypes",
    "csv_separator",
    "decode_csv",
    "decode_json",
    "decode_value",
    "encode_predictions",
    "encode_v2_response",
    "jsonable",
    "loads",
    "parse_content_type",
    "parse_v2_request",
    "raw_bytes",
    "read_csv_frames",
    "request_from_parts",
    "v2_tensor",
]
