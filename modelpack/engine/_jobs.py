"""What the engine queues and what it reports: a request's job, the counters, the observer.

A ``Job`` is one admitted request: its checked input, its deadline and how to deliver its
answer. ``EngineStats`` are the engine's own counters; an ``EngineObserver`` (the server's
metrics) is told the queue depth and each model call as they happen.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Hashable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

__all__ = ["ClientGone", "EngineObserver", "EngineStats", "Job", "Predict", "joined_ids", "settle"]


class ClientGone(Exception):
    """The client disconnected before its answer was ready (nobody to answer)."""


Predict = Callable[[Any, Mapping[str, Any]], Any]
"""Predicts checked input with checked params (``PyFuncModel.predict_checked``)."""


class EngineObserver(Protocol):
    """What the engine reports as it works (the server's metrics implement it).

    Both methods are called on the engine's hot path, ``on_depth`` with the engine's lock held:
    they must be quick and must not call back into the engine.
    """

    def on_depth(self, depth: int) -> None:
        """The number of requests waiting changed to ``depth``."""
        ...

    def on_call(self, rows: int, waits: Sequence[float]) -> None:
        """A model call that answered ``len(waits)`` requests with ``rows`` rows in all
        returned; ``waits`` are the seconds each of them waited in the queue."""
        ...


@dataclass(eq=False)
class Job:
    """One admitted request: its checked input, its deadline and how to answer it."""

    data: Any
    params: Mapping[str, Any]
    rows: int | None
    """Rows of a mergeable input; None when it cannot be merged."""
    key: Hashable | None
    deadline: float
    """``time.monotonic()`` after which the answer is no longer wanted."""
    deliver: Callable[[Any, BaseException | None], None]
    """Called once, from the prediction thread, with the answer or the error."""
    request_id: str | None
    """The id of the request (set around its model call, for the log lines made there)."""
    admitted: float
    """``time.monotonic()`` when it joined the queue."""
    observed: bool = True
    """Reported to the observer (the server's warm-up call is not)."""
    abandoned: bool = False
    """The caller stopped waiting (deadline passed or client gone): never start it."""


@dataclass
class EngineStats:
    """Counters the engine keeps (updated under its lock or by the prediction thread only)."""

    calls: int = 0
    """Model calls made."""
    merged_calls: int = 0
    """Calls that answered more than one request."""
    rows: int = 0
    """Rows predicted in merged calls and in calls of mergeable requests."""
    expired: int = 0
    """Requests dropped unpredicted: deadline passed or caller gone while waiting."""
    refused: int = 0
    """Requests refused with 503 because the queue was full."""


def settle(future: asyncio.Future[Any], result: Any, error: BaseException | None) -> None:
    if future.done():
        return  # already answered 504, or the client went away
    if error is not None:
        future.set_exception(error)
    else:
        future.set_result(result)


def joined_ids(batch: Sequence[Job]) -> str | None:
    """The request id a merged call's log lines carry: its requests' ids, the first few named."""
    ids = [job.request_id for job in batch if job.request_id is not None]
    if not ids:
        return None
    if len(ids) <= 4:
        return ",".join(ids)
    return ",".join(ids[:4]) + f",+{len(ids) - 4}"
