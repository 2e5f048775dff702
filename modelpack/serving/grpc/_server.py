"""A worker's gRPC server: started on the worker's event loop, stopped with it."""

from __future__ import annotations

import logging
from typing import Any

import grpc

from modelpack.errors import InvalidArgument
from modelpack.serving._v2_service import V2Service
from modelpack.serving.grpc._service import AuthInterceptor, Handlers

__all__ = ["GrpcServer"]

_log = logging.getLogger("modelpack.serving")


class GrpcServer:
    """``GRPCInferenceService`` for ``service`` on ``host:port`` (``grpc.aio``, this loop)."""

    def __init__(self, service: V2Service, host: str, port: int) -> None:
        settings = service.settings
        self._address = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
        interceptors = [] if settings.auth_token is None else [AuthInterceptor(settings.auth_token)]
        self._server: Any = grpc.aio.server(
            interceptors=interceptors,
            options=[
                ("grpc.so_reuseport", 1),  # every worker listens on the one port
                ("grpc.max_receive_message_length", settings.max_body_bytes),
                ("grpc.max_send_message_length", -1),
            ],
        )
        self._server.add_generic_rpc_handlers([Handlers(service).generic_handler()])

    async def start(self) -> None:
        if self._server.add_insecure_port(self._address) == 0:
            raise InvalidArgument(f"--grpc-port: cannot listen on {self._address}")
        await self._server.start()
        _log.debug("gRPC listening on %s", self._address)

    async def stop(self, grace: float) -> None:
        """Refuse new calls at once; give running ones ``grace`` seconds."""
        await self._server.stop(grace)
