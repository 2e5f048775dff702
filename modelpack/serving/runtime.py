"""What one serving process shares between its routes and its life cycle.

A ``Runtime`` holds the loaded model, its engine, its metrics and the two facts the health routes
report: ``ready`` (warmed up on the package's serving example, not draining) and ``draining``
(SIGTERM came: new requests get 503, queued ones are answered within the grace period);
``readiness()`` says both in one answer for every protocol's readiness route. It starts nothing
when it is made, so that a server can make it before forking its workers.
"""

from __future__ import annotations

import logging
import threading
import time
from pathlib import Path
from typing import Any

from modelpack.codecs import parse_content_type
from modelpack.engine import DataPlane
from modelpack.errors import ModelpackError
from modelpack.serving.metrics import Metrics
from modelpack.settings import Settings

__all__ = ["Runtime"]

_log = logging.getLogger("modelpack.serving")


class Runtime:
    """One model served by one process: its engine, readiness and shutdown."""

    def __init__(
        self,
        model: Any,
        settings: Settings,
        *,
        metrics_dir: Path | None = None,
        load_seconds: float | None = None,
    ) -> None:
        """``metrics_dir``: where the workers keep their metrics (None: this process alone);
        ``load_seconds``: how long loading the package took (for the metrics)."""
        self.model = model
        self.settings = settings
        self.plane = DataPlane(model, settings)
        self.engine = self.plane.engine
        self.model_name = _name_of(model)
        self.metrics: Metrics | None = None
        if settings.metrics:
            self.metrics = Metrics(
                self.model_name,
                str(getattr(model, "flavor_name", "unknown")),
                directory=metrics_dir,
                load_seconds=load_seconds,
            )
        self.engine.observer = self.metrics
        self.ready = False
        self.draining = False
        self._drain_deadline = 0.0
        self._warmed = threading.Event()

    def readiness(self) -> str | None:
        """None when predictions can be served; else why not (warming up, shutting down)."""
        if self.draining:
            return "the server is shutting down"
        if not self.ready:
            return "the model is warming up"
        return None

    def start(self, warm_up: bool = True) -> None:
        """Start the engine, then warm the model up on its serving example (in the background:
        the server answers ``/health/live`` meanwhile, and ``ready`` turns true when done)."""
        if self.metrics is not None:
            self.metrics.open_worker()
        self.engine.start()
        if not warm_up:
            self._set_ready()
            return
        threading.Thread(target=self._warm_up, name="modelpack-warm-up", daemon=True).start()

    def wait_ready(self, timeout: float) -> bool:
        """Block until the warm-up finished (for callers without an event loop)."""
        return self._warmed.wait(timeout)

    def _warm_up(self) -> None:
        started = time.perf_counter()
        example = self.serving_example()
        if example is not None:
            try:
                prepared = self.plane.prepare(parse_content_type("application/json"), example)
                deadline = time.monotonic() + max(self.settings.timeout, 60.0)
                self.engine.submit_sync(prepared.data, prepared.params, deadline, observed=False)
            except ModelpackError as exc:
                _log.warning("warming up on the package's serving example failed: %s", exc)
            except Exception:
                _log.exception("warming up on the package's serving example failed")
            else:
                _log.info("warmed up in %.0f ms", (time.perf_counter() - started) * 1e3)
        self._set_ready()

    def serving_example(self) -> bytes | None:
        """The package's ``serving_input_example.json`` (a request body), if it has one."""
        path = getattr(self.model, "path", None)
        file = None if path is None else path / "serving_input_example.json"
        return file.read_bytes() if file is not None and file.is_file() else None

    def _set_ready(self) -> None:
        if not self.draining:
            self.ready = True
        self._warmed.set()

    def begin_shutdown(self, grace: float) -> None:
        """SIGTERM: refuse new requests, answer whatever is left after ``grace`` seconds."""
        if self.draining:
            return
        self.draining = True
        self.ready = False
        self._drain_deadline = time.monotonic() + grace
        self.engine.stop_accepting()
        _log.info("shutting down: new requests get 503; finishing what started (%g s)", grace)
        timer = threading.Timer(grace, self.engine.close, args=("the server is shutting down",))
        timer.daemon = True
        timer.start()

    def drained(self) -> bool:
        """After ``begin_shutdown``: nothing is queued or running, or the grace period is over
        (a hung prediction is not waited for)."""
        if time.monotonic() >= self._drain_deadline:
            return True
        return self.engine.depth == 0 and not self.engine.busy


def _name_of(model: Any) -> str:
    """The model's name: its package directory's."""
    path = getattr(model, "path", None)
    name = path.resolve().name if path is not None else ""
    return name or "model"
