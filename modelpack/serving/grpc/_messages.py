"""The V2 gRPC message classes, built from the committed descriptor set in a private pool.

A private pool keeps these ``inference.*`` messages apart from any other copy in the process
(tritonclient's, KServe's), and needs no generated code tied to one protobuf release.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

__all__ = ["DESCRIPTOR_SET", "SERVICE", "messages"]

DESCRIPTOR_SET = Path(__file__).with_name("grpc_predict_v2.binpb")
"""``grpc_predict_v2.proto`` compiled by protoc (the command is in the package docstring)."""
SERVICE = "inference.GRPCInferenceService"

_NAMES = (
    "ServerLiveRequest",
    "ServerLiveResponse",
    "ServerReadyRequest",
    "ServerReadyResponse",
    "ModelReadyRequest",
    "ModelReadyResponse",
    "ServerMetadataRequest",
    "ServerMetadataResponse",
    "ModelMetadataRequest",
    "ModelMetadataResponse",
    "ModelInferRequest",
    "ModelInferResponse",
    "InferParameter",
    "InferTensorContents",
)


def messages() -> dict[str, Any]:
    """The message classes by short name (``ModelInferRequest`` ...)."""
    files = descriptor_pb2.FileDescriptorSet.FromString(DESCRIPTOR_SET.read_bytes())
    pool = descriptor_pool.DescriptorPool()
    for file in files.file:
        pool.Add(file)
    return {
        name: message_factory.GetMessageClass(pool.FindMessageTypeByName(f"inference.{name}"))
        for name in _NAMES
    }
