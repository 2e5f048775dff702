"""The V2 binary tensor extension: tensors as raw little-endian bytes, both ways.

A binary request body is a JSON header (``Inference-Header-Content-Length`` bytes) followed by
the tensors whose ``parameters.binary_data_size`` says how many bytes each takes, in the order
of the inputs. Fixed-size datatypes are their values' bytes, row-major and little-endian (BOOL
one byte each); BYTES elements are each a 4-byte little-endian length and the bytes. gRPC's
``raw_input_contents`` and ``raw_output_contents`` hold the same bytes, one entry per tensor.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from typing import Any

import numpy as np

from modelpack.errors import MalformedInput

__all__ = ["bytes_elements", "from_raw", "raw_bytes", "split_body"]

_LENGTH = struct.Struct("<I")
_LITTLE = np.dtype("<u4").byteorder  # "=" on little-endian machines, "<" otherwise


def split_body(body: bytes, header_length: int) -> tuple[memoryview, memoryview]:
    """The JSON header and the binary tail of a body sent with the binary extension."""
    if not 0 < header_length <= len(body):
        raise MalformedInput(
            f"Inference-Header-Content-Length is {header_length}, but the body has "
            f"{len(body)} bytes; it must be the length of the JSON header at the body's start"
        )
    view = memoryview(body)
    return view[:header_length], view[header_length:]


def from_raw(raw: bytes | memoryview, dtype: np.dtype, count: int, name: str) -> Any:
    """``count`` elements of a tensor from its raw bytes: a writable array of ``dtype``, or, for
    BYTES (``dtype`` object), an object array of ``bytes``."""
    if dtype.kind == "O":
        return bytes_elements(raw, count, name)
    expected = count * dtype.itemsize
    if len(raw) != expected:
        raise MalformedInput(
            f"input '{name}': {len(raw)} bytes of binary data, but its shape and datatype take "
            f"{expected} ({count} elements of {dtype.itemsize} bytes)"
        )
    if dtype == np.bool_:
        octets = np.frombuffer(raw, dtype=np.uint8)
        if octets.size and octets.max() > 1:
            raise MalformedInput(
                f"input '{name}': BOOL elements are one byte each, 0 or 1; element "
                f"{int(np.argmax(octets > 1))} is {int(octets[np.argmax(octets > 1)])}"
            )
        return octets.astype(np.bool_)
    # A copy: frombuffer over the request's bytes is read-only, and models may write to input.
    return np.frombuffer(raw, dtype=dtype.newbyteorder("<")).astype(dtype)


def bytes_elements(raw: bytes | memoryview, count: int, name: str) -> np.ndarray:
    """The elements of a BYTES tensor: each a 4-byte little-endian length, then the bytes."""
    view = memoryview(raw)
    out = np.empty(count, dtype=object)
    pos = 0
    for i in range(count):
        if pos + 4 > len(view):
            raise MalformedInput(
                f"input '{name}': the binary data ends after {i} of {count} BYTES elements"
            )
        (size,) = _LENGTH.unpack_from(view, pos)
        pos += 4
        if pos + size > len(view):
            raise MalformedInput(
                f"input '{name}': BYTES element {i} says it has {size} bytes, but only "
                f"{len(view) - pos} are left"
            )
        out[i] = bytes(view[pos : pos + size])
        pos += size
    if pos != len(view):
        raise MalformedInput(
            f"input '{name}': {len(view) - pos} bytes are left after its {count} BYTES elements"
        )
    return out


def raw_bytes(values: np.ndarray | Sequence[Any]) -> bytes:
    """The raw bytes of a tensor's values (row-major): fixed-size dtypes little-endian, BOOL
    one byte each, and BYTES (text is UTF-8) length-prefixed."""
    if isinstance(values, np.ndarray) and values.dtype != object:
        if values.dtype == np.bool_:
            return values.astype(np.uint8).tobytes()
        if values.dtype.byteorder not in ("|", _LITTLE):
            values = values.astype(values.dtype.newbyteorder("<"))
        return values.tobytes()  # row-major, whatever the array's memory layout
    parts: list[bytes] = []
    for value in values.ravel().tolist() if isinstance(values, np.ndarray) else values:
        data = value.encode("utf-8") if isinstance(value, str) else bytes(value)
        parts.append(_LENGTH.pack(len(data)))
        parts.append(data)
    return b"".join(parts)
