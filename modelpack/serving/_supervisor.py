"""Workers that share one loaded model: fork after loading, replace the dead, stop together.

The parent loads the package once and binds the socket; ``gc.freeze()`` moves every object made so
far out of the collector's reach, so that collections in the workers do not touch (and so copy)
the model's pages. Each worker is forked from that parent and accepts on the shared socket. No
prediction, thread or thread pool runs in the parent: OpenMP and torch pools do not survive a fork.

The parent then only supervises: a worker that dies is replaced (the model is still in the
parent's memory, so a new worker is ready at once); SIGTERM or SIGINT is passed on to every worker,
and workers still running after the grace period are killed. Workers that die faster than they can
be replaced (a crash loop) stop the server with an error.
"""

from __future__ import annotations

import ctypes
import gc
import logging
import os
import signal
import time
from collections.abc import Callable

__all__ = ["Supervisor"]

_log = logging.getLogger("modelpack.serving")

# A worker that dies within this many seconds of its start counts towards a crash loop.
_EARLY_DEATH = 5.0
_CRASH_LOOP = 5


class Supervisor:
    """Forks ``workers`` processes that each call ``run_worker()`` and exit with its status."""

    def __init__(
        self,
        workers: int,
        run_worker: Callable[[], int],
        grace: float,
        on_exit: Callable[[int], None] | None = None,
    ) -> None:
        """``on_exit(pid)`` is called in the parent when a worker has ended (the metrics zero
        its gauges)."""
        self._count = workers
        self._run_worker = run_worker
        self._grace = grace
        self._on_exit = on_exit
        self._children: dict[int, float] = {}
        """pid -> time it was forked."""
        self._stopping = False
        self._early_deaths = 0

    def run(self) -> int:
        """Fork the workers and supervise them until a signal; the server's exit status."""
        previous = {
            sig: signal.signal(sig, self._on_signal) for sig in (signal.SIGINT, signal.SIGTERM)
        }
        gc.collect()
        gc.freeze()
        try:
            for _ in range(self._count):
                self._spawn()
            return self._watch()
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)

    def _spawn(self) -> None:
        pid = os.fork()
        if pid == 0:  # the worker
            status = 1
            try:
                _die_with_parent()
                for sig in (signal.SIGINT, signal.SIGTERM):
                    signal.signal(sig, signal.SIG_DFL)
                status = self._run_worker()
            except BaseException:
                _log.exception("worker %d failed", os.getpid())
            finally:
                os._exit(status)
        self._children[pid] = time.monotonic()
        _log.info("started worker %d", pid)

    def _on_signal(self, signum: int, frame: object) -> None:
        if self._stopping:
            return
        self._stopping = True
        _log.info("stopping %d worker(s)", len(self._children))
        for pid in list(self._children):
            _kill(pid, signal.SIGTERM)

    def _watch(self) -> int:
        deadline: float | None = None
        while self._children:
            if self._stopping and deadline is None:
                deadline = time.monotonic() + self._grace + 1.0
            if deadline is not None and time.monotonic() > deadline:
                for pid in list(self._children):
                    _log.warning("worker %d did not stop in time; killing it", pid)
                    _kill(pid, signal.SIGKILL)
                deadline = time.monotonic() + 5.0
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                break
            if pid == 0:
                time.sleep(0.05)
                continue
            started = self._children.pop(pid, None)
            if started is not None and self._on_exit is not None:
                self._on_exit(pid)
            if started is None or self._stopping:
                continue
            _log.error("worker %d ended (%s); starting another", pid, _describe(status))
            if time.monotonic() - started < _EARLY_DEATH:
                self._early_deaths += 1
                if self._early_deaths >= _CRASH_LOOP:
                    _log.error("workers keep dying right after they start; stopping the server")
                    self._on_signal(signal.SIGTERM, None)
                    continue
            else:
                self._early_deaths = 0
            self._spawn()
        return 1 if self._early_deaths >= _CRASH_LOOP else 0


def _die_with_parent() -> None:
    """Linux: SIGTERM this worker when the supervisor dies, even by SIGKILL (no orphans)."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass  # not Linux: the supervisor's own shutdown still stops its workers


def _kill(pid: int, sig: int) -> None:
    try:
        os.kill(pid, sig)
    except ProcessLookupError:
        pass


def _describe(status: int) -> str:
    if os.WIFSIGNALED(status):
        return f"killed by signal {os.WTERMSIG(status)}"
    return f"exit status {os.WEXITSTATUS(status)}"
