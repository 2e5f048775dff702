"""The engine: a bounded queue in front of one prediction thread that merges requests.

The event loop never runs model code. A request is checked against the signature first (by the
caller, so that a bad input is the caller's 400 and never fails a merged call), then admitted:
when ``max_queue`` requests already wait, it is refused at once (503 with Retry-After). The
prediction thread takes the oldest waiting request and, when batching is on, every waiting request
with the same columns, dtypes and params, up to ``batch_max_rows`` rows; predicts once; and cuts
the answer back by row counts. A request whose deadline passes while it waits is answered 504 and
never predicted; one whose prediction overruns is answered 504 while the prediction finishes, and
nothing else starts on the model until it has (there is only the one thread).
"""

from __future__ import annotations

import asyncio
import collections
import logging
import threading
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import pandas as pd

from modelpack._logs import current_request_id, reset_request_id, set_request_id
from modelpack.engine._batch import count_rows, merge, merge_key, rows_of, split
from modelpack.engine._jobs import (
    ClientGone,
    EngineObserver,
    EngineStats,
    Job,
    Predict,
    joined_ids,
    settle,
)
from modelpack.errors import ModelpackError, Overloaded, RequestTimeout

__all__ = ["ClientGone", "Engine", "EngineObserver", "EngineStats"]

_log = logging.getLogger("modelpack.engine")


class Engine:
    """One model's queue and prediction thread.

    ``predict`` is the checked model call (``PyFuncModel.predict_checked``). ``batching`` says
    whether merging requests leaves every answer's bits unchanged for this model (the flavor
    knows, see ``PyFuncModel.batch_exact``) and is allowed by the settings.
    """

    def __init__(
        self,
        predict: Predict,
        *,
        max_queue: int,
        batching: bool,
        batch_max_rows: int,
        batch_wait_ms: float = 0.0,
        retry_after: int = 1,
        timeout: float | None = None,
        observer: EngineObserver | None = None,
    ) -> None:
        self._predict = predict
        self._max_queue = max_queue
        self._batching = batching
        self._batch_max_rows = batch_max_rows
        self._batch_wait = batch_wait_ms / 1000.0
        self._retry_after = retry_after
        self._limit = "" if timeout is None else f" of {timeout:g} s"
        self._queue: collections.deque[Job] = collections.deque()
        self._cond = threading.Condition(threading.Lock())
        self._thread: threading.Thread | None = None
        self._accepting = True
        self._running = False
        self._busy = False
        self._current: list[Job] = []
        """The jobs being predicted (read by ``close``)."""
        self._unmergeable = False
        """Set when a merged answer could not be split by rows: never merge again."""
        self.stats = EngineStats()
        self.observer = observer
        """Told about queue depth and model calls; may be set before the first request."""

    # -- life cycle ------------------------------------------------------------------------------

    def start(self) -> None:
        """Start the prediction thread (in the process that serves: threads do not survive fork).

        ``submit`` starts it on first use too."""
        with self._cond:
            if self._thread is not None:
                return
            self._running = True
        self._thread = threading.Thread(target=self._run, name="modelpack-predict", daemon=True)
        self._thread.start()

    def stop_accepting(self) -> None:
        """Refuse new requests (503) from now on; waiting ones are still predicted."""
        with self._cond:
            self._accepting = False

    def close(self, reason: str = "the server is shutting down") -> None:
        """Refuse new requests and answer every waiting one, and the one being predicted, with
        503 at once (its prediction keeps running; its answer is dropped)."""
        with self._cond:
            self._accepting = False
            left = list(self._queue)
            self._queue.clear()
            left.extend(self._current)
            self._current = []
        for job in left:
            if not job.abandoned:
                job.abandoned = True
                job.deliver(None, self._overloaded(reason))

    def drain(self, timeout: float) -> bool:
        """Wait up to ``timeout`` s for the queue to empty and the current call to return; then
        answer whatever still waits with 503. True when everything finished in time."""
        end = time.monotonic() + timeout
        with self._cond:
            self._accepting = False
            while (self._queue or self._busy) and time.monotonic() < end:
                self._cond.wait(min(0.05, max(0.0, end - time.monotonic())))
            left = list(self._queue)
            self._queue.clear()
            finished = not self._busy
            self._running = False
            self._cond.notify_all()
        for job in left:
            job.deliver(None, self._overloaded("the server is shutting down"))
        return finished and not left

    @property
    def depth(self) -> int:
        """Requests waiting (not counting the one being predicted)."""
        return len(self._queue)

    @property
    def busy(self) -> bool:
        """A prediction is running."""
        return self._busy

    # -- submitting ------------------------------------------------------------------------------

    async def submit(
        self,
        data: Any,
        params: Mapping[str, Any],
        deadline: float,
        gone: Callable[[], Awaitable[Any]] | None = None,
    ) -> Any:
        """The model's answer for checked ``data``, awaited on the running event loop.

        Raises ``Overloaded`` (503) when the queue is full, ``RequestTimeout`` (504) when
        ``deadline`` (``time.monotonic()``) passes first, ``ClientGone`` when ``gone()`` (an
        awaitable that finishes when the client disconnects; made only once the request is
        admitted) finishes first, or the prediction's own error. A request dropped this way is
        never predicted if it has not started.
        """
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Any] = loop.create_future()

        def deliver(result: Any, error: BaseException | None) -> None:
            try:
                loop.call_soon_threadsafe(settle, future, result, error)
            except RuntimeError:
                pass  # the loop is closed: nobody waits for this answer any more

        job = self._admit(data, params, deadline, deliver)
        timer = loop.call_later(max(0.0, deadline - time.monotonic()), self._expire, job, future)
        watcher = None if gone is None else asyncio.ensure_future(gone())
        if watcher is not None:
            watcher.add_done_callback(lambda _: self._leave(job, future))
        try:
            return await future
        finally:
            timer.cancel()
            if watcher is not None:
                watcher.cancel()

    def _leave(self, job: Job, future: asyncio.Future[Any]) -> None:
        job.abandoned = True
        if not future.done():
            future.set_exception(ClientGone())

    def submit_sync(
        self, data: Any, params: Mapping[str, Any], deadline: float, *, observed: bool = True
    ) -> Any:
        """``submit`` for a caller without an event loop (blocks the calling thread).

        ``observed=False`` keeps the call out of what the observer is told (a warm-up call)."""
        done = threading.Event()
        box: list[Any] = [None, None]

        def deliver(result: Any, error: BaseException | None) -> None:
            box[0], box[1] = result, error
            done.set()

        job = self._admit(data, params, deadline, deliver, observed)
        if not done.wait(max(0.0, deadline - time.monotonic())):
            job.abandoned = True
            raise self._timeout()
        if box[1] is not None:
            raise box[1]
        return box[0]

    def _admit(
        self,
        data: Any,
        params: Mapping[str, Any],
        deadline: float,
        deliver: Callable[[Any, BaseException | None], None],
        observed: bool = True,
    ) -> Job:
        mergeable = self._batching and not self._unmergeable
        rows = rows_of(data) if mergeable else None
        key = merge_key(data, params) if rows is not None else None
        job = Job(
            data,
            params,
            rows,
            key,
            deadline,
            deliver,
            current_request_id(),
            time.monotonic(),
            observed,
        )
        if self._thread is None:
            self.start()  # on first use, in the process that serves
        with self._cond:
            if not self._accepting:
                raise self._overloaded("the server is shutting down")
            if len(self._queue) >= self._max_queue:
                self.stats.refused += 1
                raise self._overloaded(
                    f"{len(self._queue)} requests are already waiting (--max-queue)"
                )
            self._queue.append(job)
            if self.observer is not None:
                self.observer.on_depth(len(self._queue))
            self._cond.notify()
        return job

    def _expire(self, job: Job, future: asyncio.Future[Any]) -> None:
        job.abandoned = True
        if not future.done():
            future.set_exception(self._timeout())

    def _overloaded(self, why: str) -> Overloaded:
        return Overloaded(
            f"the model is busy: {why}; retry after {self._retry_after} s",
            retry_after=self._retry_after,
        )

    def _timeout(self) -> RequestTimeout:
        return RequestTimeout(
            f"the request was not answered within the time limit{self._limit} (--timeout); "
            "a prediction that started keeps running until it returns"
        )

    # -- the prediction thread -------------------------------------------------------------------

    def _run(self) -> None:
        while True:
            with self._cond:
                while self._running and not self._queue:
                    self._cond.wait()
                if not self._running:
                    return
                batch = self._take()
                if self.observer is not None:
                    self.observer.on_depth(len(self._queue))
                self._busy = bool(batch)
                self._current = batch
            if batch and self._batch_wait and len(batch) == 1 and batch[0].key is not None:
                batch = self._wait_for_more(batch)
            try:
                if batch:
                    self._call(batch)
            finally:
                with self._cond:
                    self._busy = False
                    self._current = []
                    self._cond.notify_all()

    def _take(self) -> list[Job]:
        """The oldest live job and every waiting job it can be merged with (lock held)."""
        now = time.monotonic()
        first = None
        while self._queue:
            job = self._queue.popleft()
            if job.abandoned or job.deadline <= now:
                self._drop(job)
                continue
            first = job
            break
        if first is None:
            return []
        batch = [first]
        if first.key is None or self._unmergeable:
            return batch
        rows = first.rows or 0
        kept: collections.deque[Job] = collections.deque()
        while self._queue:
            job = self._queue.popleft()
            if job.abandoned or job.deadline <= now:
                self._drop(job)
            elif job.key == first.key and rows + (job.rows or 0) <= self._batch_max_rows:
                batch.append(job)
                rows += job.rows or 0
            else:
                kept.append(job)
        self._queue = kept
        return batch

    def _wait_for_more(self, batch: list[Job]) -> list[Job]:
        """Give other requests ``batch_wait_ms`` to arrive when the predictor was idle."""
        end = time.monotonic() + self._batch_wait
        with self._cond:
            while time.monotonic() < end:
                self._cond.wait(end - time.monotonic())
            self._queue.appendleft(batch[0])
            taken = self._take()
            if self.observer is not None:
                self.observer.on_depth(len(self._queue))
            return taken

    def _drop(self, job: Job) -> None:
        self.stats.expired += 1
        if not job.abandoned:
            job.abandoned = True
            job.deliver(None, self._timeout())

    def _call(self, batch: list[Job]) -> None:
        if len(batch) == 1:
            job = batch[0]
            self._deliver_one(job)
            return
        counts = [job.rows or 0 for job in batch]
        inputs = [job.data for job in batch]
        started = time.monotonic()
        token = set_request_id(joined_ids(batch))
        try:
            merged = merge(inputs)
            output = self._predict(merged, batch[0].params)
        except Exception:
            # One request's rows may be what the model refused: answer each on its own.
            for job in batch:
                self._deliver_one(job)
            return
        finally:
            reset_request_id(token)
        fresh = isinstance(merged, pd.DataFrame) and isinstance(merged.index, pd.RangeIndex)
        indexes = [d.index for d in inputs] if fresh else None
        parts = split(output, counts, indexes)
        self._count(sum(counts), merged=True)
        if parts is None:
            self._unmergeable = True
            _log.info("the model's answer is not one row per input row: requests are not merged")
            for job in batch:
                self._deliver_one(job)
            return
        if self.observer is not None:
            observed = [job for job in batch if job.observed]
            if observed:
                self.observer.on_call(
                    sum(counts[i] for i, job in enumerate(batch) if job.observed),
                    [started - job.admitted for job in observed],
                )
        for job, part in zip(batch, parts, strict=True):
            if not job.abandoned:
                job.deliver(part, None)

    def _deliver_one(self, job: Job) -> None:
        started = time.monotonic()
        token = set_request_id(job.request_id)
        result, error = None, None
        try:
            result = self._predict(job.data, job.params)
        except Exception as exc:
            error = exc
        except BaseException as exc:  # SystemExit or KeyboardInterrupt inside a model
            job.deliver(None, ModelpackError(f"the prediction was interrupted: {exc!r}"))
            raise
        finally:
            reset_request_id(token)
        # Counted before the answer goes out (as merged calls are): its client finds it counted.
        self._count(job.rows or 0, merged=False)
        if self.observer is not None and job.observed:
            rows = job.rows if job.rows is not None else count_rows(job.data)
            self.observer.on_call(rows, (started - job.admitted,))
        if not job.abandoned:
            job.deliver(result, error)

    def _count(self, rows: int, *, merged: bool) -> None:
        stats = self.stats
        stats.calls += 1
        stats.merged_calls += merged
        stats.rows += rows
