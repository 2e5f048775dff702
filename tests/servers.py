"""A real `modelpack serve` process on 127.0.0.1, for the end-to-end tests (``start_server``)."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field

import httpx


@dataclass
class Server:
    process: subprocess.Popen[str]
    port: int
    log: list[str] = field(default_factory=list)
    reader: threading.Thread | None = None
    grpc_port: int | None = None
    seconds_to_ready: float = 0.0
    """From the spawn to the first 200 on /ping."""

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def wait_for(self, text: str) -> str:
        """The log so far, once a line holding ``text`` was read (the reader lags the server)."""
        for _ in range(300):
            log = "".join(self.log)
            if text in log:
                return log
            time.sleep(0.05)
        raise AssertionError(f"{text!r} never appeared in the log: {''.join(self.log)}")

    def stop(self) -> str:
        """SIGTERM, wait for the exit (status 0), and return the whole log."""
        self.process.send_signal(signal.SIGTERM)
        assert self.process.wait(30) == 0, "".join(self.log)
        if self.reader is not None:
            self.reader.join(10)
        return "".join(self.log)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def launch(
    *args: str, port: int = 0, env: dict[str, str] | None = None, start_timeout: float = 120
) -> Server:
    """Starts `modelpack serve ...` (its stdout and stderr read into `Server.log`) and waits for
    /ping (and, with --grpc-port, reads the gRPC port from the log into `Server.grpc_port`);
    ``start_timeout``: seconds until it says where it serves (building an environment first
    takes minutes)."""
    began = time.monotonic()
    command = [sys.executable, "-m", "modelpack", "serve", *args, "-p", str(port)]
    environ = {**os.environ, "MODELPACK_LOG_LEVEL": "info", **(env or {})}
    process = subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=environ
    )
    server = Server(process, port)
    ready = threading.Event()

    def read() -> None:
        assert process.stdout is not None
        for line in process.stdout:
            server.log.append(line)
            grpc = re.search(r"serving gRPC \(Open Inference Protocol\) on [^ ]+:(\d+)", line)
            if grpc:
                server.grpc_port = int(grpc.group(1))
            found = re.search(r"serving on http://127\.0\.0\.1:(\d+)", line)
            if found and server.port == 0:
                server.port = int(found.group(1))
            if found:
                ready.set()
        ready.set()

    server.reader = threading.Thread(target=read, daemon=True)
    server.reader.start()
    try:
        assert ready.wait(start_timeout), "server did not start: " + "".join(server.log)
        assert process.poll() is None, "".join(server.log)
        for _ in range(600):
            try:
                if httpx.get(f"{server.url}/ping", timeout=5).status_code == 200:
                    server.seconds_to_ready = time.monotonic() - began
                    return server
            except httpx.TransportError:
                time.sleep(0.1)
        raise AssertionError("no 200 from /ping: " + "".join(server.log))
    except BaseException:
        finish(server)
        raise


def finish(server: Server) -> None:
    """Stop the server if it still runs (SIGTERM, then SIGKILL after 30 s), and wait for it
    and its log reader."""
    if server.process.poll() is None:
        # SIGTERM first: with workers, killing the parent alone would leave them running.
        server.process.send_signal(signal.SIGTERM)
        try:
            server.process.wait(30)
        except subprocess.TimeoutExpired:
            server.process.kill()
    server.process.wait(30)
    if server.reader is not None:
        server.reader.join(10)
    if server.process.stdout is not None:
        server.process.stdout.close()


def wait_ready(server: Server) -> None:
    """Until ``/v2/health/ready`` answers 200 (the worker has warmed up)."""
    for _ in range(600):
        if httpx.get(f"{server.url}/v2/health/ready", timeout=5).status_code == 200:
            return
        time.sleep(0.05)
    raise AssertionError("never ready: " + "".join(server.log))
