"""The engine on its own: admission, deadlines, one call at a time, merging, splitting."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd
import pytest

from modelpack.engine import Engine
from modelpack.errors import Overloaded, RequestTimeout


class Model:
    """Doubles column ``a``; records each call's rows and the most calls seen at once."""

    def __init__(self, delay: float = 0.0, row_wise: bool = True) -> None:
        self.delay = delay
        self.row_wise = row_wise
        self.calls: list[int] = []
        self.running = 0
        self.most = 0
        self.release = threading.Event()
        self.release.set()
        self._lock = threading.Lock()

    def __call__(self, data: Any, params: Mapping[str, Any]) -> Any:
        with self._lock:
            self.running += 1
            self.most = max(self.most, self.running)
        try:
            self.release.wait()
            if self.delay:
                time.sleep(self.delay)
            self.calls.append(len(data))
            if not self.row_wise:
                return float(data["a"].sum())
            return data["a"].to_numpy() * 2 + params.get("shift", 0)
        finally:
            with self._lock:
                self.running -= 1


def _frame(rows: int, start: float) -> pd.DataFrame:
    return pd.DataFrame({"a": np.arange(rows, dtype=np.float64) + start})


def _engine(model: Model, **options: Any) -> Engine:
    config: dict[str, Any] = {"max_queue": 1000, "batching": True, "batch_max_rows": 10_000}
    config.update(options)
    engine = Engine(model, **config)
    engine.start()
    return engine


def _deadline(seconds: float = 30.0) -> float:
    return time.monotonic() + seconds


async def _gather(engine: Engine, requests: list[tuple[pd.DataFrame, dict[str, Any]]]) -> list[Any]:
    tasks = [engine.submit(frame, params, _deadline()) for frame, params in requests]
    return await asyncio.gather(*tasks, return_exceptions=True)


def test_concurrent_requests_are_merged_and_each_gets_its_own_rows() -> None:
    model = Model(delay=0.01)
    engine = _engine(model)
    requests = [(_frame(n, 100 * i), {}) for i, n in enumerate([1, 3, 17] * 22)]
    for _ in range(3):
        answers = asyncio.run(_gather(engine, requests))
        for (frame, _), answer in zip(requests, answers, strict=True):
            np.testing.assert_array_equal(answer, frame["a"].to_numpy() * 2)
    assert engine.stats.merged_calls > 0
    assert max(model.calls) > 17
    assert model.most == 1
    engine.drain(1)


def test_requests_with_other_params_are_not_merged_together() -> None:
    model = Model(delay=0.01)
    engine = _engine(model)
    requests = [(_frame(2, i), {"shift": i % 3}) for i in range(30)]
    answers = asyncio.run(_gather(engine, requests))
    for (frame, params), answer in zip(requests, answers, strict=True):
        np.testing.assert_array_equal(answer, frame["a"].to_numpy() * 2 + params["shift"])
    engine.drain(1)


def test_an_answer_that_is_not_row_wise_stops_merging() -> None:
    model = Model(delay=0.01, row_wise=False)
    engine = _engine(model)
    requests = [(_frame(n, 10 * i), {}) for i, n in enumerate([2, 5] * 10)]
    answers = asyncio.run(_gather(engine, requests))
    for (frame, _), answer in zip(requests, answers, strict=True):
        assert answer == float(frame["a"].sum())
    merged_before = engine.stats.merged_calls
    assert merged_before >= 1
    asyncio.run(_gather(engine, requests))
    assert engine.stats.merged_calls == merged_before
    engine.drain(1)


def test_batching_off_calls_the_model_once_per_request() -> None:
    model = Model(delay=0.005)
    engine = _engine(model, batching=False)
    requests = [(_frame(3, i), {}) for i in range(20)]
    asyncio.run(_gather(engine, requests))
    assert model.calls == [3] * 20
    engine.drain(1)


def test_a_full_queue_refuses_at_once() -> None:
    model = Model()
    model.release.clear()  # the first call blocks until released
    engine = _engine(model, max_queue=4, batching=False)

    async def flood() -> list[Any]:
        tasks = [asyncio.ensure_future(engine.submit(_frame(1, 0), {}, _deadline()))]
        while not engine.busy:  # the first request is being predicted
            await asyncio.sleep(0.01)
        for i in range(1, 12):
            tasks.append(asyncio.ensure_future(engine.submit(_frame(1, i), {}, _deadline())))
        await asyncio.sleep(0.2)
        model.release.set()
        return await asyncio.gather(*tasks, return_exceptions=True)

    answers = asyncio.run(flood())
    refused = [a for a in answers if isinstance(a, Overloaded)]
    served = [a for a in answers if isinstance(a, np.ndarray)]
    assert len(served) + len(refused) == 12
    assert len(served) == 5  # one running and four waiting
    assert refused[0].retry_after >= 1 and refused[0].status_code == 503
    engine.drain(1)


def test_a_deadline_that_passes_while_waiting_is_504_and_never_predicted() -> None:
    model = Model()
    model.release.clear()
    engine = _engine(model, batching=False)

    async def scenario() -> list[Any]:
        first = asyncio.ensure_future(engine.submit(_frame(1, 0), {}, _deadline()))
        await asyncio.sleep(0.05)
        late = asyncio.ensure_future(engine.submit(_frame(7, 0), {}, time.monotonic() + 0.1))
        await asyncio.sleep(0.3)
        model.release.set()
        return await asyncio.gather(first, late, return_exceptions=True)

    first, late = asyncio.run(scenario())
    assert isinstance(first, np.ndarray)
    assert isinstance(late, RequestTimeout)
    time.sleep(0.1)
    assert model.calls == [1]  # the 7-row request never ran
    engine.drain(1)


def test_timeouts_never_start_a_second_prediction_at_once() -> None:
    model = Model(delay=0.2)
    engine = _engine(model, batching=False)

    async def storm() -> list[Any]:
        tasks = [engine.submit(_frame(1, i), {}, time.monotonic() + 0.05) for i in range(20)]
        return await asyncio.gather(*tasks, return_exceptions=True)

    answers = asyncio.run(storm())
    assert all(isinstance(a, RequestTimeout) for a in answers[1:])
    assert engine.drain(2)
    assert model.most == 1
    assert len(model.calls) <= 2  # the first, and at most one that started in time


def test_drain_answers_what_still_waits_with_503() -> None:
    model = Model()
    model.release.clear()
    engine = _engine(model, batching=False)

    async def scenario() -> list[Any]:
        tasks = [
            asyncio.ensure_future(engine.submit(_frame(1, i), {}, _deadline())) for i in range(3)
        ]
        await asyncio.sleep(0.05)
        loop = asyncio.get_running_loop()
        drained = loop.run_in_executor(None, engine.drain, 0.2)
        await asyncio.sleep(0.3)
        model.release.set()
        await drained
        return await asyncio.gather(*tasks, return_exceptions=True)

    answers = asyncio.run(scenario())
    assert isinstance(answers[0], np.ndarray)
    assert all(isinstance(a, Overloaded) for a in answers[1:])
    with pytest.raises(Overloaded):
        engine.submit_sync(_frame(1, 0), {}, _deadline())


def test_submit_sync_answers_without_an_event_loop() -> None:
    engine = _engine(Model())
    np.testing.assert_array_equal(engine.submit_sync(_frame(2, 1), {}, _deadline()), [2.0, 4.0])
    engine.drain(1)


class Observer:
    """Records what the engine reports."""

    def __init__(self) -> None:
        self.calls: list[tuple[int, int]] = []
        """(rows, requests) per model call."""
        self.waits: list[float] = []
        self.depths: list[int] = []

    def on_depth(self, depth: int) -> None:
        self.depths.append(depth)

    def on_call(self, rows: int, waits: Any) -> None:
        self.calls.append((rows, len(waits)))
        self.waits.extend(waits)


def test_the_observer_hears_of_every_call_and_its_waits() -> None:
    model = Model(delay=0.01)
    observer = Observer()
    engine = _engine(model, observer=observer)
    requests = [(_frame(n, 100 * i), {}) for i, n in enumerate([1, 3, 17] * 10)]
    asyncio.run(_gather(engine, requests))
    engine.drain(1)
    assert sum(rows for rows, _ in observer.calls) == sum(f.shape[0] for f, _ in requests)
    assert sum(n for _, n in observer.calls) == len(requests)
    assert [rows for rows, _ in observer.calls] == model.calls  # one report per model call
    assert any(n > 1 for _, n in observer.calls)  # merged calls are reported once
    assert len(observer.waits) == len(requests) and all(w >= 0 for w in observer.waits)
    assert max(observer.depths) > 0 and observer.depths[-1] == 0


def test_unobserved_calls_and_unmergeable_inputs_are_counted_apart() -> None:
    observer = Observer()
    engine = _engine(lambda data, params: [0] * len(data), observer=observer, batching=False)
    engine.submit_sync(_frame(5, 0), {}, _deadline(), observed=False)  # a warm-up
    engine.submit_sync(_frame(4, 0), {}, _deadline())
    engine.submit_sync({"a": [1, 2, 3]}, {}, _deadline())  # lists: rows counted all the same
    engine.drain(1)
    assert observer.calls == [(4, 1), (3, 1)]


def test_the_request_id_reaches_the_model_call() -> None:
    from modelpack._logs import current_request_id, reset_request_id, set_request_id

    seen: list[str | None] = []
    entered = threading.Event()
    gate = threading.Event()
    gate.set()

    def model(data: Any, params: Any) -> Any:
        seen.append(current_request_id())
        entered.set()
        gate.wait()
        return data["a"].to_numpy()

    engine = _engine(model)

    async def one(i: int) -> Any:
        token = set_request_id(f"r{i}")
        try:
            return await engine.submit(_frame(1, i), {}, _deadline())
        finally:
            reset_request_id(token)

    async def scenario() -> None:
        await one(0)  # alone
        gate.clear()
        entered.clear()
        first = asyncio.ensure_future(one(1))
        while not entered.is_set():  # r1 is being predicted; the others wait, then merge
            await asyncio.sleep(0.005)
        rest = [asyncio.ensure_future(one(i)) for i in range(2, 12)]
        while engine.depth < 10:
            await asyncio.sleep(0.005)
        gate.set()
        await asyncio.gather(first, *rest)

    asyncio.run(scenario())
    engine.drain(1)
    assert seen == ["r0", "r1", "r2,r3,r4,r5,+6"]  # a merged call: the first ids and a count
    assert current_request_id() is None  # nothing left behind in this thread


@pytest.mark.parametrize("fails", [False, True], ids=["answer", "error"])
def test_a_call_is_counted_before_its_answer_goes_out(fails: bool) -> None:
    """A client that has its answer finds its call in the stats and the observer's metrics."""
    seen: list[Any] = []

    class Observer:
        def on_depth(self, depth: int) -> None:
            pass

        def on_call(self, rows: int, waits: Any) -> None:
            seen.append(("call", rows))

    def predict(data: Any, params: Mapping[str, Any]) -> Any:
        if fails:
            raise ValueError("refused")
        return data

    engine = Engine(predict, max_queue=4, batching=False, batch_max_rows=8, observer=Observer())
    done = threading.Event()

    def deliver(result: Any, error: BaseException | None) -> None:
        seen.append(("answer", engine.stats.calls, type(error).__name__))
        done.set()

    engine._admit(np.zeros((3, 2)), {}, time.monotonic() + 10, deliver)

    assert done.wait(10)
    assert seen == [("call", 3), ("answer", 1, "ValueError" if fails else "NoneType")]
