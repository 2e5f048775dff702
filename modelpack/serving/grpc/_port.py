"""The gRPC port, reserved in the parent before any worker starts gRPC (without importing grpc:
gRPC must not be initialized before a fork)."""

from __future__ import annotations

import socket

from modelpack.errors import InvalidArgument

__all__ = ["reserve_port"]


def reserve_port(host: str, port: int) -> socket.socket:
    """A socket bound to ``host:port`` with ``SO_REUSEPORT`` and not listening: it holds the
    port (port 0: picks one, ``getsockname()`` says which) while each worker's gRPC server binds
    the same port with ``SO_REUSEPORT``; connections go to the listening servers only.

    Refuses a port another program listens on (``InvalidArgument``, naming the option).
    """
    if not hasattr(socket, "SO_REUSEPORT"):
        raise InvalidArgument("--grpc-port needs SO_REUSEPORT, which this platform lacks")
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise InvalidArgument(
            f"--grpc-port: cannot listen on {host}:{port}: {exc.strerror}"
        ) from None
    return sock
