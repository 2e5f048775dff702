"""Run the app under uvicorn: one process, or workers forked from the process that loaded the model.

The model is loaded once, before the socket is bound; with ``--workers N`` the loaded process
forks N workers that share it (see ``_supervisor``). Each worker starts its engine and warms up
on the package's serving example. With ``--grpc-port`` the parent reserves that port too, and
each worker serves V2 over gRPC on it from its own event loop (``grpc``), started after the
fork. SIGTERM and SIGINT stop a worker gracefully: it answers new predictions with 503 and
``/health/ready`` with 503 while it finishes what it started (within ``graceful_timeout``
seconds; the rest is answered with 503), then closes its sockets and exits 0. A second signal
stops it at once.

With metrics on and several workers, the server owns a temporary directory for the workers'
metric tables (``metrics``), made before the first fork and removed when the server stops.
"""

from __future__ import annotations

import asyncio
import importlib.util
import logging
import shutil
import signal
import socket
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from modelpack.errors import InvalidArgument
from modelpack.serving.auth import check_token
from modelpack.settings import Settings

if TYPE_CHECKING:
    from modelpack.serving.runtime import Runtime

__all__ = ["check", "serve", "uvicorn_config", "with_identity"]

_log = logging.getLogger("modelpack.serving")


def _fastest(module: str, name: str) -> str:
    """uvloop and httptools when installed (2.5-3x the throughput of asyncio + h11 here)."""
    return name if importlib.util.find_spec(module) is not None else "auto"


def check(settings: Settings) -> None:
    """Refuse settings the server cannot run with, naming the option."""
    if settings.workers < 1:
        raise InvalidArgument(f"--workers must be at least 1, got {settings.workers}")
    if not 0 <= settings.port <= 65535:
        raise InvalidArgument(f"--port must be between 0 and 65535, got {settings.port}")
    if settings.grpc_port is not None and not 0 <= settings.grpc_port <= 65535:
        raise InvalidArgument(f"--grpc-port must be between 0 and 65535, got {settings.grpc_port}")
    if settings.timeout <= 0:
        raise InvalidArgument(
            f"--timeout must be a positive number of seconds, got {settings.timeout:g}"
        )
    if not isinstance(logging.getLevelName(settings.log_level.upper()), int):
        raise InvalidArgument(f"MODELPACK_LOG_LEVEL: unknown level {settings.log_level!r}")
    if settings.max_body_bytes < 1:
        raise InvalidArgument(
            f"MODELPACK_MAX_BODY_BYTES must be positive, got {settings.max_body_bytes}"
        )
    if settings.max_queue < 1:
        raise InvalidArgument(f"--max-queue must be at least 1, got {settings.max_queue}")
    if settings.batch_max_rows < 1:
        raise InvalidArgument(f"--batch-max-rows must be at least 1, got {settings.batch_max_rows}")
    if settings.batch_wait_ms < 0:
        raise InvalidArgument(f"--batch-wait-ms must be 0 or more, got {settings.batch_wait_ms:g}")
    if settings.graceful_timeout < 0:
        raise InvalidArgument(
            f"MODELPACK_GRACEFUL_TIMEOUT must be 0 or more, got {settings.graceful_timeout:g}"
        )
    if settings.auth_token is not None:
        check_token(settings.auth_token, "MODELPACK_AUTH_TOKEN")


def uvicorn_config(
    app: Any, settings: Settings, *, port: int | None = None, log_config: Any = None
) -> Any:
    """The uvicorn Config for an app under ``settings`` (``port``: the port actually bound;
    ``log_config``: uvicorn's logging setup, None to keep what ``logs.configure`` set)."""
    import uvicorn

    level = settings.log_level.lower()
    return uvicorn.Config(
        app,
        host=settings.host,
        port=settings.port if port is None else port,
        loop=_fastest("uvloop", "uvloop"),
        http=_fastest("httptools", "httptools"),
        lifespan="off",
        log_level=level,
        log_config=log_config,
        # One line per request costs ~10% at small payloads; --access-log writes our own.
        access_log=level == "debug" and not settings.access_log,
        server_header=False,
        timeout_graceful_shutdown=int(settings.graceful_timeout) + 1,
    )


def _bind(settings: Settings) -> socket.socket:
    family = socket.AF_INET6 if ":" in settings.host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((settings.host, settings.port))
    except OSError as exc:
        sock.close()
        raise InvalidArgument(
            f"cannot listen on {settings.host}:{settings.port}: {exc.strerror}"
        ) from None
    sock.listen(2048)
    sock.set_inheritable(True)
    return sock


def serve(model_uri: str, settings: Settings) -> None:
    """Serve the package at ``model_uri`` until SIGINT or SIGTERM."""
    check(settings)
    settings = with_identity(model_uri, settings)
    reserved = _reserve_grpc(settings)  # before the slow part: a taken port fails at once
    try:
        _serve(model_uri, settings, reserved)
    finally:
        if reserved is not None:
            reserved.close()


def _serve(model_uri: str, settings: Settings, reserved: socket.socket | None) -> None:
    from modelpack.pyfunc import load_model
    from modelpack.serving import logs
    from modelpack.serving.app import create_app
    from modelpack.serving.runtime import Runtime

    log_config = logs.configure(settings)
    started = time.perf_counter()
    model = load_model(model_uri, settings=settings)  # once, before any worker exists
    load_seconds = time.perf_counter() - started
    _log.info("loaded %s model from %s", model.flavor_name, model_uri)
    metrics_dir = None
    if settings.metrics and settings.workers > 1:
        metrics_dir = Path(tempfile.mkdtemp(prefix="modelpack-metrics-"))
    try:
        # Starts nothing: threads do not survive a fork.
        runtime = Runtime(model, settings, metrics_dir=metrics_dir, load_seconds=load_seconds)
        app = create_app(model, settings, runtime)
        grpc_port = reserved.getsockname()[1] if reserved is not None else None
        sock = _bind(settings)
        port = sock.getsockname()[1]
        host = f"[{settings.host}]" if ":" in settings.host else settings.host
        _log.info(
            "serving on http://%s:%d with %d worker(s) (Ctrl+C to stop)",
            host,
            port,
            settings.workers,
        )
        if grpc_port is not None:
            _log.info("serving gRPC (Open Inference Protocol) on %s:%d", host, grpc_port)

        def run_worker() -> int:
            return _run_worker(app, runtime, settings, sock, port, log_config, grpc_port)

        if settings.workers == 1:
            status = run_worker()
        else:
            from modelpack.serving._supervisor import Supervisor

            on_exit = runtime.metrics.mark_process_dead if runtime.metrics is not None else None
            supervisor = Supervisor(
                settings.workers, run_worker, settings.graceful_timeout, on_exit=on_exit
            )
            status = supervisor.run()
        sock.close()
    finally:
        if metrics_dir is not None:
            shutil.rmtree(metrics_dir, ignore_errors=True)
    if status:
        raise SystemExit(status)


def _reserve_grpc(settings: Settings) -> socket.socket | None:
    """The gRPC port, held for the workers (see ``grpc.reserve_port``); None without gRPC."""
    if settings.grpc_port is None:
        return None
    _require_grpc()
    from modelpack.serving.grpc import reserve_port

    return reserve_port(settings.host, settings.grpc_port)  # no grpc in the parent


def with_identity(model_uri: str, settings: Settings) -> Settings:
    """``settings`` with the V2 name and version the URI gives, where none is set."""
    from modelpack.serving._v2_service import identity_from_uri

    name, version = identity_from_uri(model_uri)
    changes: dict[str, str] = {}
    if settings.model_name is None and not settings.enable_mlserver and name:
        changes["model_name"] = name
    if settings.model_version is None and version:
        changes["model_version"] = version
    return settings.replace(**changes) if changes else settings


def _require_grpc() -> None:
    """Refuse ``--grpc-port`` without the grpc extra (checked without importing grpc)."""
    from modelpack.errors import MissingDependency

    for module in ("grpc", "google.protobuf"):
        try:
            found = importlib.util.find_spec(module) is not None
        except ModuleNotFoundError:
            found = False
        if not found:
            raise MissingDependency(
                f"--grpc-port needs {module.split('.')[0]}: pip install 'modelpack[grpc]'"
            )


def _run_worker(
    app: Any,
    runtime: Runtime,
    settings: Settings,
    sock: socket.socket,
    port: int,
    log_config: Any,
    grpc_port: int | None = None,
) -> int:
    """One worker: start the engine, warm up, serve until a signal; its exit status."""
    import uvicorn

    runtime.start()
    grpc_server: Any = None

    class _Server(uvicorn.Server):
        """Drains on the first signal with its socket open, so that probes see 503 from
        /health/ready and new predictions get 503 with Retry-After rather than a refused
        connection; stops once nothing is queued or running (or the grace period is over)."""

        drain_signal: int | None = None

        def handle_exit(self, sig: int, frame: Any) -> None:
            if self.drain_signal is not None or not self.started:  # a second signal: stop now
                super().handle_exit(sig, frame)
                return
            # Only a flag: a signal handler may run while this thread holds the engine's lock.
            self.drain_signal = sig

        async def on_tick(self, counter: int) -> bool:  # every 0.1 s, on the event loop
            if self.drain_signal is not None and not self.should_exit:
                if not runtime.draining:
                    runtime.begin_shutdown(settings.graceful_timeout)
                if runtime.drained():
                    super().handle_exit(self.drain_signal, None)
            return await super().on_tick(counter)

        async def startup(self, sockets: list[socket.socket] | None = None) -> None:
            nonlocal grpc_server
            await super().startup(sockets)
            if grpc_port is not None and not self.should_exit:
                # Here, in the worker and on its loop: gRPC must not start before the fork.
                from modelpack.serving._v2_service import V2Service
                from modelpack.serving.grpc._server import GrpcServer

                grpc_server = GrpcServer(V2Service(runtime), settings.host, grpc_port)
                await grpc_server.start()

        async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
            if grpc_server is None:
                await super().shutdown(sockets)
                return
            await asyncio.gather(
                grpc_server.stop(settings.graceful_timeout), super().shutdown(sockets)
            )

    server = _Server(uvicorn_config(app, settings, port=port, log_config=log_config))
    # uvicorn re-raises the signal it caught once it has shut down, which would end the process
    # by the signal (status -15) or with a KeyboardInterrupt; these handlers make it a clean exit.
    previous = {sig: signal.signal(sig, _exit_cleanly) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        server.run(sockets=[sock])
    except SystemExit as exc:
        return int(exc.code or 0)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return 0 if server.started else 1


def _exit_cleanly(signum: int, frame: object) -> None:
    raise SystemExit(0)
