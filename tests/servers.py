"""A real `modelpack serve` process on 127.0.0.1, for the end-to-end tests (``start_server``)."""

from __future__ import annotations

import signal
import socket
import subprocess
import threading
import time
from dataclasses import dataclass, field


@dataclass
class Server:
    process: subprocess.Popen[str]
    port: int
    log: list[str] = field(default_factory=list)
    reader: threading.Thread | None = None

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
        """SIGTERM, wait for the exit, and return the whole log."""
        self.process.send_signal(signal.SIGTERM)
        assert self.process.wait(30) == 0
        if self.reader is not None:
            self.reader.join(10)
        return "".join(self.log)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])
