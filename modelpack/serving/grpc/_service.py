"""The six RPCs of ``GRPCInferenceService`` on ``V2Service``, and the messages both ways.

Handlers are coroutines on the worker's event loop (``grpc.aio``), beside uvicorn: inference
awaits the engine as ``/invocations`` and the V2 REST route do, so gRPC shares their queue,
deadlines and batching. Tensors arrive as ``raw_input_contents`` (tritonclient's default) or as
typed ``contents``; outputs always leave as ``raw_output_contents``, which every V2 client reads.
Errors are gRPC statuses with the message REST would give (``INVALID_ARGUMENT`` for a 400).
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
import hmac
import logging
import time
from collections.abc import Callable
from typing import Any

import grpc
import numpy as np

from modelpack.codecs import (
    DATATYPES,
    RequestedOutput,
    V2Request,
    V2Tensor,
    raw_bytes,
    request_from_parts,
    v2_tensor,
)
from modelpack.engine import ClientGone, count_rows
from modelpack.errors import MalformedInput, ModelpackError, clip, internal_error
from modelpack.serving._v2_service import V2Service
from modelpack.serving.auth import _bearer_token
from modelpack.serving.grpc._messages import SERVICE, messages
from modelpack.serving.metrics import Metrics

__all__ = ["STATUS", "AuthInterceptor", "Handlers", "status_of"]

_log = logging.getLogger("modelpack.serving")

STATUS = {
    400: grpc.StatusCode.INVALID_ARGUMENT,
    401: grpc.StatusCode.UNAUTHENTICATED,
    403: grpc.StatusCode.PERMISSION_DENIED,
    404: grpc.StatusCode.NOT_FOUND,
    413: grpc.StatusCode.RESOURCE_EXHAUSTED,
    415: grpc.StatusCode.INVALID_ARGUMENT,
    503: grpc.StatusCode.UNAVAILABLE,
    504: grpc.StatusCode.DEADLINE_EXCEEDED,
}
"""gRPC status codes for the HTTP statuses of modelpack's errors (anything else: INTERNAL)."""

_ROWS: contextvars.ContextVar[int] = contextvars.ContextVar("modelpack_grpc_rows", default=0)
"""Rows of the ModelInfer call being answered (set by the handler, read by ``_guarded``)."""

OPEN_METHODS = frozenset({f"/{SERVICE}/ServerLive", f"/{SERVICE}/ServerReady"})
"""RPCs served without a token (the health probes, as ``/v2/health/*`` on REST)."""

# The typed-contents field of each datatype (FP16 has none: it travels as raw contents).
_CONTENTS = {
    "BOOL": "bool_contents",
    "INT8": "int_contents",
    "INT16": "int_contents",
    "INT32": "int_contents",
    "INT64": "int64_contents",
    "UINT8": "uint_contents",
    "UINT16": "uint_contents",
    "UINT32": "uint_contents",
    "UINT64": "uint64_contents",
    "FP32": "fp32_contents",
    "FP64": "fp64_contents",
    "BYTES": "bytes_contents",
}


def status_of(exc: ModelpackError) -> grpc.StatusCode:
    return STATUS.get(exc.status_code, grpc.StatusCode.INTERNAL)


class Handlers:
    """The service's RPCs for one ``V2Service``, as a generic handler for ``grpc.aio``."""

    def __init__(self, service: V2Service) -> None:
        self._service = service
        self._m = messages()
        self._timeout = service.settings.timeout

    def generic_handler(self) -> grpc.GenericRpcHandler:
        m = self._m
        rpcs: dict[str, tuple[Callable[..., Any], str, str]] = {
            "ServerLive": (self.server_live, "ServerLiveRequest", "ServerLiveResponse"),
            "ServerReady": (self.server_ready, "ServerReadyRequest", "ServerReadyResponse"),
            "ModelReady": (self.model_ready, "ModelReadyRequest", "ModelReadyResponse"),
            "ServerMetadata": (
                self.server_metadata,
                "ServerMetadataRequest",
                "ServerMetadataResponse",
            ),
            "ModelMetadata": (
                self.model_metadata,
                "ModelMetadataRequest",
                "ModelMetadataResponse",
            ),
            "ModelInfer": (self.model_infer, "ModelInferRequest", "ModelInferResponse"),
        }
        return grpc.method_handlers_generic_handler(
            SERVICE,
            {
                name: grpc.unary_unary_rpc_method_handler(
                    _guarded(fn, self._service.runtime.metrics if name == "ModelInfer" else None),
                    request_deserializer=m[request].FromString,
                    response_serializer=m[response].SerializeToString,
                )
                for name, (fn, request, response) in rpcs.items()
            },
        )

    # -- health and metadata --------------------------------------------------------------------

    async def server_live(self, request: Any, context: Any) -> Any:
        return self._m["ServerLiveResponse"](live=True)

    async def server_ready(self, request: Any, context: Any) -> Any:
        return self._m["ServerReadyResponse"](ready=self._service.ready)

    async def model_ready(self, request: Any, context: Any) -> Any:
        self._service.check_model(request.name, request.version or None)
        return self._m["ModelReadyResponse"](ready=self._service.ready)

    async def server_metadata(self, request: Any, context: Any) -> Any:
        return self._m["ServerMetadataResponse"](**self._service.server_metadata())

    async def model_metadata(self, request: Any, context: Any) -> Any:
        self._service.check_model(request.name, request.version or None)
        meta = self._service.model_metadata()
        tensor = self._m["ModelMetadataResponse"].TensorMetadata

        def tensors(items: list[dict[str, Any]]) -> list[Any]:
            return [tensor(name=t["name"], datatype=t["datatype"], shape=t["shape"]) for t in items]

        return self._m["ModelMetadataResponse"](
            name=meta["name"],
            versions=meta["versions"],
            platform=meta["platform"],
            inputs=tensors(meta["inputs"]),
            outputs=tensors(meta["outputs"]),
        )

    # -- inference ------------------------------------------------------------------------------

    async def model_infer(self, request: Any, context: Any) -> Any:
        started = time.monotonic()
        remaining = context.time_remaining()
        budget = self._timeout if remaining is None else min(self._timeout, remaining)
        service = self._service
        service.check_model(request.model_name, request.model_version or None)
        with service.runtime.plane.admitted():  # RESOURCE_EXHAUSTED at once when the worker is full
            v2 = _request(request)
            prepared = service.prepare(v2)
            _ROWS.set(count_rows(prepared.data))
            gone = functools.partial(_cancelled, context) if service.waits else None
            try:
                predictions = await service.predict(prepared, started + budget, gone)
            except ClientGone:
                return self._m["ModelInferResponse"]()  # nobody reads it: the call was cancelled
        outputs, content_type = service.outputs(predictions, v2)
        response = self._m["ModelInferResponse"](
            model_name=service.name,
            model_version=service.version or "",
            id=v2.id or "",
        )
        response.parameters["content_type"].string_param = content_type
        try:
            for output in outputs:
                entry = response.outputs.add(
                    name=output.name, datatype=output.datatype, shape=list(output.shape)
                )
                if output.content_type is not None:
                    entry.parameters["content_type"].string_param = output.content_type
                response.raw_output_contents.append(raw_bytes(output.values))
        except Exception as exc:
            raise internal_error(exc, "encoding the answer") from exc
        return response


def _request(message: Any) -> V2Request:
    """A ``ModelInferRequest`` as a decoded ``V2Request``."""
    raw = message.raw_input_contents
    if raw and len(raw) != len(message.inputs):
        raise MalformedInput(
            f"raw_input_contents has {len(raw)} entries for {len(message.inputs)} inputs; give "
            "one per input, or none (and typed contents)"
        )
    tensors: list[V2Tensor] = []
    for i, tensor in enumerate(message.inputs):
        parameters = _parameters(tensor.parameters)
        shape = list(tensor.shape)
        if raw:
            tensors.append(
                v2_tensor(tensor.name, tensor.datatype, shape, raw=raw[i], parameters=parameters)
            )
        else:
            data = _contents(tensor)
            tensors.append(
                v2_tensor(tensor.name, tensor.datatype, shape, data=data, parameters=parameters)
            )
    if not tensors:
        raise MalformedInput("'inputs' must list one or more input tensors")
    outputs = [RequestedOutput(o.name) for o in message.outputs] or None
    parameters = _parameters(message.parameters)
    return request_from_parts(tensors, parameters, outputs, message.id or None)


def _contents(tensor: Any) -> np.ndarray:
    """A tensor's typed contents as an array (``v2_tensor`` checks count and range)."""
    label = clip(tensor.name, 40)
    field = _CONTENTS.get(tensor.datatype)
    if field is None:
        if tensor.datatype in DATATYPES:  # FP16
            raise MalformedInput(
                f"input '{label}': {tensor.datatype} has no typed contents; send it as "
                "raw_input_contents"
            )
        return np.empty(0)  # an unknown datatype: v2_tensor names it
    values = getattr(tensor.contents, field)
    if tensor.datatype == "BYTES":
        out = np.empty(len(values), dtype=object)
        for i, value in enumerate(values):
            out[i] = value
        return out
    if not values:
        others = [f for f in set(_CONTENTS.values()) if len(getattr(tensor.contents, f))]
        if others:
            raise MalformedInput(
                f"input '{label}': {tensor.datatype} elements go in contents.{field}, not "
                f"{sorted(others)[0]}"
            )
    # Typed contents of int_contents and uint_contents are wider than INT8/16 and UINT8/16:
    # read them in their wire type, and v2_tensor checks the range.
    wire = {"int_contents": np.int32, "uint_contents": np.uint32}.get(field)
    return np.array(values, dtype=wire or DATATYPES[tensor.datatype])


def _parameters(entries: Any) -> dict[str, Any]:
    out = {}
    for key, parameter in entries.items():
        which = parameter.WhichOneof("parameter_choice")
        out[key] = getattr(parameter, which) if which is not None else None
    return out


def _cancelled(context: Any) -> asyncio.Future[None]:
    """A future that finishes when the RPC is over (cancelled by the client, or done)."""
    future: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    def done(_: Any) -> None:
        if not future.done():
            future.set_result(None)

    context.add_done_callback(done)
    return future


def _guarded(
    fn: Callable[[Any, Any], Any], metrics: Metrics | None = None
) -> Callable[[Any, Any], Any]:
    """Answers a ModelpackError with its status and message, and anything else with INTERNAL
    (the traceback goes to the log, never to the client); with ``metrics``, records the call
    (protocol ``grpc``, its status code's name, duration, rows)."""

    async def handler(request: Any, context: Any) -> Any:
        started = time.perf_counter()
        code = grpc.StatusCode.OK
        try:
            return await fn(request, context)
        except ModelpackError as exc:
            code = status_of(exc)
            if exc.status_code >= 500 and exc.status_code != 503:
                _log.error("gRPC %s: %s", code.name, exc.message, exc_info=exc)
            else:
                _log.info("gRPC %s: %s", code.name, exc.message)
            await context.abort(code, exc.message)
        except Exception:
            code = grpc.StatusCode.INTERNAL
            _log.exception("gRPC INTERNAL: unhandled error")
            await context.abort(code, "internal server error; see the log")
        finally:
            if metrics is not None:
                rows = _ROWS.get() if code == grpc.StatusCode.OK else 0
                metrics.record_request("grpc", code.name, time.perf_counter() - started, rows)

    return handler


class AuthInterceptor(grpc.aio.ServerInterceptor):
    """Requires ``authorization: Bearer <token>`` metadata on every RPC but ``OPEN_METHODS``."""

    def __init__(self, token: str) -> None:
        self._token = token.encode("ascii")

        async def deny(request: Any, context: Any) -> None:
            await context.abort(
                grpc.StatusCode.UNAUTHENTICATED,
                "this server requires a token: send the metadata 'authorization: Bearer <token>'",
            )

        self._deny = grpc.unary_unary_rpc_method_handler(deny)

    def __repr__(self) -> str:
        return "AuthInterceptor(token=<hidden>)"

    async def intercept_service(
        self, continuation: Callable[[Any], Any], details: grpc.HandlerCallDetails
    ) -> Any:
        if details.method in OPEN_METHODS:
            return await continuation(details)
        for key, value in details.invocation_metadata or ():
            if key == "authorization":
                header = value.encode("latin-1") if isinstance(value, str) else value
                sent = _bearer_token(header)
                if sent is not None and hmac.compare_digest(sent, self._token):
                    return await continuation(details)
                break
        _log.info("gRPC UNAUTHENTICATED: %s without a valid token", details.method)
        return self._deny
