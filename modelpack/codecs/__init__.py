"""Codecs: request bytes -> model input, model output -> response bytes. No HTTP in here.

The server and the batch ``predict`` command share these::

    plan = InputPlan.for_model(model)                 # once per model
    media = parse_content_type("application/json")    # MediaType(kind="json", orient=None)
    decoded = decode_json(body, plan, orient=media.orient)
    frame = decode_csv(body, plan)                    # CSV: a typed DataFrame
    out = model.predict(decoded.data, params=decoded.params)
    body = encode_predictions(out, bare=decoded.bare)
"""

from __future__ import annotations

from modelpack.codecs._csv import csv_dtypes, csv_separator, decode_csv, read_csv_frames
from modelpack.codecs._json import ENVELOPES, Decoded, decode_json, decode_value, loads
from modelpack.codecs._media import MediaType, parse_content_type
from modelpack.codecs._output import encode_predictions, jsonable
from modelpack.codecs._plan import InputPlan

__all__ = [
    "ENVELOPES",
    "Decoded",
    "InputPlan",
    "MediaType",
    "csv_dtypes",
    "csv_separator",
    "decode_csv",
    "decode_json",
    "decode_value",
    "encode_predictions",
    "jsonable",
    "loads",
    "parse_content_type",
    "read_csv_frames",
]
