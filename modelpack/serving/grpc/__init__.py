"""The Open Inference Protocol (KServe V2) over gRPC: ``inference.GRPCInferenceService``.

Six RPCs (ServerLive, ServerReady, ModelReady, ServerMetadata, ModelMetadata, ModelInfer) on
``Settings.grpc_port``, answered by the same ``V2Service`` as the REST routes: the same engine,
limits and bearer token (metadata ``authorization: Bearer <token>``). Needs the ``grpc`` extra
(``pip install 'modelpack[grpc]'``: grpcio and protobuf). Each worker starts its own server on
its event loop after the fork (gRPC must not start before a fork); all bind the one port with
``SO_REUSEPORT``, which the parent reserves first (``reserve_port``).

Why ``grpc.aio`` on the worker's loop, not a synchronous server with ``engine.submit_sync``: the
handlers await the engine as the REST routes do (one code path for deadlines, the queue limit and
a client that leaves), and nothing is left to size. A synchronous server needs a thread per call
in flight, and calls beyond its pool wait inside gRPC, outside the engine's queue limit and
deadlines. Measured on the 2 shared cores here (a no-op pyfunc, 1-row ModelInfer, grpc.aio
client, best of 3 runs of 5 s): 381 (aio) and 457 (sync) requests/s at 1 connection, 905 and
836 at 64, server CPU 1.1-1.6 ms a request both ways; the difference is within the machine's
noise, so the simpler design wins.

The service is ``grpc_predict_v2.proto`` (KServe's, written out from the public spec), compiled
into a descriptor set that is committed beside it. Whoever changes the ``.proto`` runs, from the
repository root (``tests/serving/test_grpc.py`` checks the two agree)::

    python -m grpc_tools.protoc -I modelpack/serving/grpc \\
        --descriptor_set_out=modelpack/serving/grpc/grpc_predict_v2.binpb grpc_predict_v2.proto

Why a descriptor set and no ``*_pb2.py`` stubs: generated stubs register ``inference.*`` in
protobuf's default pool, where tritonclient's and KServe's own copies of these messages live too
(a second registration fails: "duplicate symbol 'inference.ServerLiveRequest'"), and they only
run on the protobuf release that generated them or a later one. The message classes are built
from the descriptor set in a private pool instead (``_messages``), and the service is a generic
handler: any protobuf 4.25 or later, beside any other V2 client in the same process.
"""

from __future__ import annotations

from modelpack.serving.grpc._port import reserve_port

__all__ = ["reserve_port"]
