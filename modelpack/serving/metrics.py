"""Prometheus metrics: counted in shared memory on the hot path, rendered by prometheus_client.

Each process keeps its numbers in a fixed table of float64 slots, one slot per counter, gauge,
histogram bucket and sum (the layout is the same in every process, so no names are stored).
Recording a request is a few slot increments, about a microsecond in all; prometheus_client's
own metric objects take a lock and, in its multiprocess mode, write a file entry per
increment, which measured several times the 3% budget of a 1-row request (see the report of
the observability issue). prometheus_client still writes the exposition text at scrape time.

With several workers the table of each worker is a memory-mapped file in a directory the server
makes before forking (and removes on exit): a scrape, whichever worker answers it, sums the
files of all workers, so every scrape reports the same totals. Counters of a worker that died
keep counting in the sums; its gauges are zeroed by the supervisor (``mark_process_dead``).
With one worker the table is plain memory.
"""

from __future__ import annotations

import mmap
import os
from bisect import bisect_left
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from modelpack._version import __version__

__all__ = ["CONTENT_TYPE", "PROTOCOLS", "Metrics"]

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
PROTOCOLS = ("mlflow", "v2", "grpc")
"""Values of the ``protocol`` label."""
_HTTP_CODES = range(100, 600)
_GRPC_CODES = (
    "OK",
    "CANCELLED",
    "UNKNOWN",
    "INVALID_ARGUMENT",
    "DEADLINE_EXCEEDED",
    "NOT_FOUND",
    "ALREADY_EXISTS",
    "PERMISSION_DENIED",
    "RESOURCE_EXHAUSTED",
    "FAILED_PRECONDITION",
    "ABORTED",
    "OUT_OF_RANGE",
    "UNIMPLEMENTED",
    "INTERNAL",
    "UNAVAILABLE",
    "DATA_LOSS",
    "UNAUTHENTICATED",
)
DURATION_BUCKETS = (
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0
)  # fmt: skip
WAIT_BUCKETS = (
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
    5.0, 10.0,
)  # fmt: skip
ROWS_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 2048, 4096, 8192, 16384, 65536)


class _Layout:
    """Where each number lives in a process's table of float64 slots."""

    def __init__(self) -> None:
        self.requests: dict[tuple[str, int | str], int] = {}
        """(protocol, code) -> slot; HTTP protocols count status codes, gRPC its code names."""
        size = 0
        for protocol in PROTOCOLS:
            codes: Sequence[int | str] = _GRPC_CODES if protocol == "grpc" else _HTTP_CODES
            for code in codes:
                self.requests[(protocol, code)] = size
                size += 1
        self.other = {protocol: size + i for i, protocol in enumerate(PROTOCOLS)}
        """A code outside the tables above (counted as code "other")."""
        size += len(PROTOCOLS)
        self.duration: dict[str, int] = {}
        for protocol in PROTOCOLS:
            self.duration[protocol] = size
            size += len(DURATION_BUCKETS) + 2  # the buckets, +Inf, the sum
        self.rows = size
        self.batch_rows = size + 1
        size = self.batch_rows + len(ROWS_BUCKETS) + 2
        self.queue_wait = size
        size += len(WAIT_BUCKETS) + 2
        self.queue_depth = size
        self.inflight = size + 1
        self.gauges = (self.queue_depth, self.inflight)
        """Slots that say how things are now, summed over live workers only."""
        self.size = size + 2


_LAYOUT = _Layout()
_BYTES = _LAYOUT.size * 8
_SUFFIX = ".slots"


class Metrics:
    """One server's metrics: the hot-path recorders, the engine observer and the scrape.

    ``directory`` is where the workers' tables live when there are several workers (None: this
    process alone, in memory). ``model``, ``flavor``: the labels of ``modelpack_info``;
    ``load_seconds``: how long loading the package took, when known.
    """

    def __init__(
        self,
        model: str,
        flavor: str,
        *,
        directory: Path | None = None,
        load_seconds: float | None = None,
    ) -> None:
        self.model = model
        self.flavor = flavor
        self.directory = directory
        self.load_seconds = load_seconds
        self._file: mmap.mmap | None = None
        self._memory = bytearray(_BYTES)  # this process's table when there is no directory
        self._slots: memoryview[float] = memoryview(self._memory).cast("d")
        self._pid = os.getpid()

    # -- life cycle ------------------------------------------------------------------------------

    def open_worker(self) -> None:
        """Give this (forked) worker its own table in ``directory``; before its first request."""
        if self.directory is None:
            return
        self._pid = os.getpid()
        path = self.directory / f"worker-{self._pid}{_SUFFIX}"
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            os.ftruncate(fd, _BYTES)
            self._file = mmap.mmap(fd, _BYTES)
        finally:
            os.close(fd)
        self._slots = memoryview(self._file).cast("d")

    def mark_process_dead(self, pid: int) -> None:
        """Zero the gauges of a worker that ended (its counters keep counting in the sums)."""
        if self.directory is None:
            return
        path = self.directory / f"worker-{pid}{_SUFFIX}"
        try:
            fd = os.open(path, os.O_RDWR)
        except FileNotFoundError:
            return
        try:
            if os.fstat(fd).st_size != _BYTES:
                return
            with mmap.mmap(fd, _BYTES) as table:
                slots = memoryview(table).cast("d")
                for slot in _LAYOUT.gauges:
                    slots[slot] = 0.0
                slots.release()
        finally:
            os.close(fd)

    # -- recording (hot path) --------------------------------------------------------------------

    def record_request(self, protocol: str, code: int | str, seconds: float, rows: int = 0) -> None:
        """One prediction request answered: its protocol (``PROTOCOLS``), its status (an HTTP
        status, or a gRPC code name), how long it took and the rows it was answered for (0 when
        it failed). What the HTTP middleware calls for every prediction route; a gRPC servicer
        calls it itself."""
        slots = self._slots
        slot = _LAYOUT.requests.get((protocol, code))
        slots[_LAYOUT.other[protocol] if slot is None else slot] += 1.0
        base = _LAYOUT.duration[protocol]
        slots[base + bisect_left(DURATION_BUCKETS, seconds)] += 1.0
        slots[base + len(DURATION_BUCKETS) + 1] += seconds
        if rows:
            slots[_LAYOUT.rows] += rows

    def inflight(self, delta: int) -> None:
        """A prediction request started (+1) or ended (-1)."""
        self._slots[_LAYOUT.inflight] += delta

    # The engine's observer (``modelpack.engine.EngineObserver``).

    def on_depth(self, depth: int) -> None:
        self._slots[_LAYOUT.queue_depth] = depth

    def on_call(self, rows: int, waits: Sequence[float]) -> None:
        slots = self._slots
        base = _LAYOUT.batch_rows
        slots[base + bisect_left(ROWS_BUCKETS, rows)] += 1.0
        slots[base + len(ROWS_BUCKETS) + 1] += rows
        base = _LAYOUT.queue_wait
        total = base + len(WAIT_BUCKETS) + 1
        for wait in waits:
            slots[base + bisect_left(WAIT_BUCKETS, wait)] += 1.0
            slots[total] += wait

    # -- the scrape ------------------------------------------------------------------------------

    def scrape(self) -> bytes:
        """The Prometheus text exposition of every worker's numbers."""
        from prometheus_client.exposition import generate_latest

        return generate_latest(_Families(self, self._sum()))

    def _sum(self) -> np.ndarray:
        """The tables of all workers added up (gauges of live workers only)."""
        if self.directory is None:
            return np.frombuffer(self._memory, dtype=np.float64).copy()
        total = np.zeros(_LAYOUT.size)
        for path in self.directory.glob(f"*{_SUFFIX}"):
            try:
                data = path.read_bytes()
            except FileNotFoundError:
                continue  # removed as the server stops
            if len(data) == _BYTES:  # a worker still making its file is skipped
                total += np.frombuffer(data, dtype=np.float64)
        return total


class _Families:
    """The metric families of one scrape, as prometheus_client's exposition reads them."""

    def __init__(self, metrics: Metrics, values: np.ndarray) -> None:
        self._metrics = metrics
        self._values = values

    def collect(self) -> Iterator[Any]:
        from prometheus_client.core import (
            CounterMetricFamily,
            GaugeMetricFamily,
            HistogramMetricFamily,
        )

        v = self._values
        requests = CounterMetricFamily(
            "modelpack_requests",
            "Prediction requests answered, by protocol and status code.",
            labels=["protocol", "code"],
        )
        for (protocol, code), slot in _LAYOUT.requests.items():
            if v[slot]:
                requests.add_metric([protocol, str(code)], float(v[slot]))
        for protocol, slot in _LAYOUT.other.items():
            if v[slot]:
                requests.add_metric([protocol, "other"], float(v[slot]))
        yield requests

        duration = HistogramMetricFamily(
            "modelpack_request_duration_seconds",
            "Time from the request's arrival to the end of its answer, by protocol.",
            labels=["protocol"],
        )
        for protocol, base in _LAYOUT.duration.items():
            counts = v[base : base + len(DURATION_BUCKETS) + 1]
            if protocol == "mlflow" or counts.any():
                duration.add_metric(
                    [protocol],
                    _buckets(DURATION_BUCKETS, counts),
                    float(v[base + len(DURATION_BUCKETS) + 1]),
                )
        yield duration

        yield CounterMetricFamily(
            "modelpack_rows",
            "Input rows of prediction requests answered with predictions.",
            value=float(v[_LAYOUT.rows]),
        )
        base = _LAYOUT.batch_rows
        yield HistogramMetricFamily(
            "modelpack_batch_rows",
            "Rows per model call (a call may answer several merged requests).",
            buckets=_buckets(ROWS_BUCKETS, v[base : base + len(ROWS_BUCKETS) + 1]),
            sum_value=float(v[base + len(ROWS_BUCKETS) + 1]),
        )
        base = _LAYOUT.queue_wait
        yield HistogramMetricFamily(
            "modelpack_queue_wait_seconds",
            "Time a request waited in the queue before its model call started.",
            buckets=_buckets(WAIT_BUCKETS, v[base : base + len(WAIT_BUCKETS) + 1]),
            sum_value=float(v[base + len(WAIT_BUCKETS) + 1]),
        )
        yield GaugeMetricFamily(
            "modelpack_queue_depth",
            "Requests waiting for the model now (all workers).",
            value=float(v[_LAYOUT.queue_depth]),
        )
        yield GaugeMetricFamily(
            "modelpack_inflight_requests",
            "Prediction requests being answered now (all workers).",
            value=float(v[_LAYOUT.inflight]),
        )
        if self._metrics.load_seconds is not None:
            yield GaugeMetricFamily(
                "modelpack_model_load_seconds",
                "Seconds it took to load the model package (once, before the workers started).",
                value=self._metrics.load_seconds,
            )
        info = GaugeMetricFamily(
            "modelpack_info",
            "The model served, its flavor and the modelpack version (always 1).",
            labels=["model", "flavor", "version"],
        )
        info.add_metric([self._metrics.model, self._metrics.flavor, __version__], 1.0)
        yield info


def _buckets(bounds: Sequence[float], counts: np.ndarray) -> list[tuple[str, float]]:
    """Cumulative (le, count) pairs from per-bucket counts (the last one is +Inf)."""
    from prometheus_client.utils import floatToGoString

    cumulative = np.cumsum(counts)
    out = [(floatToGoString(b), float(c)) for b, c in zip(bounds, cumulative[:-1], strict=True)]
    out.append(("+Inf", float(cumulative[-1])))
    return out
