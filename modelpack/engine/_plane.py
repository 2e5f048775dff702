"""The data plane of one model: bytes in, checked input, the engine, bytes out.

``DataPlane`` is what every protocol calls: ``prepare`` decodes a body with the codecs and checks
it against the signature (a bad input fails here, alone, as a 4xx); ``submit`` hands checked
input to the engine (admission, deadline, batching, the prediction thread); ``encode`` writes the
answer. The ``predict`` command uses ``prepare``, ``predict`` and ``encode`` without the queue.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

from modelpack.codecs import (
    Decoded,
    InputPlan,
    MediaType,
    csv_dtypes,
    decode_csv,
    decode_json,
    encode_predictions,
)
from modelpack.engine._engine import Engine
from modelpack.errors import ModelpackError, Overloaded, internal_error
from modelpack.settings import Settings

__all__ = ["DataPlane", "Prepared"]


class Prepared:
    """A request decoded and checked: what the model receives, and how to shape the answer."""

    __slots__ = ("bare", "data", "params")

    def __init__(self, data: Any, params: dict[str, Any], bare: bool) -> None:
        self.data = data
        self.params = params
        self.bare = bare


class DataPlane:
    """Decode, check, predict (through the engine) and encode for one loaded model."""

    def __init__(self, model: Any, settings: Settings) -> None:
        self.model = model
        self._limit = settings.max_queue + 1  # waiting, and the one being predicted
        self._inflight = 0
        self._count_lock = threading.Lock()
        self.plan = InputPlan.for_model(model)
        self._csv_dtypes = csv_dtypes(self.plan)  # worked out once, not per request
        self._json_style = settings.json_style
        batching = settings.batching and bool(getattr(model, "batch_exact", False))
        self.engine = Engine(
            model.predict_checked,
            max_queue=settings.max_queue,
            batching=batching,
            batch_max_rows=settings.batch_max_rows,
            batch_wait_ms=settings.batch_wait_ms,
            timeout=settings.timeout,
        )

    @contextlib.contextmanager
    def admitted(self) -> Iterator[None]:
        """Count a request from its arrival to its answer; refuse it at once (503) when
        ``max_queue`` + 1 are already in this worker.

        Every protocol enters here before it reads a body: under overload, a refusal costs the
        event loop almost nothing, so the requests it took keep their deadlines instead of all
        waiting behind a backlog the queue never saw.
        """
        with self._count_lock:
            if self._inflight >= self._limit:
                raise Overloaded(
                    f"the model is busy: {self._inflight} requests are already in this worker "
                    "(--max-queue); retry after 1 s",
                    retry_after=1,
                )
            self._inflight += 1
        try:
            yield
        finally:
            with self._count_lock:
                self._inflight -= 1

    @property
    def inflight(self) -> int:
        """Requests between their arrival and their answer in this worker."""
        return self._inflight

    def decode(self, media: MediaType, body: bytes) -> Decoded:
        """A body of MLflow's ``/invocations`` forms as model input (JSON or CSV)."""
        if media.kind == "csv":
            return Decoded(decode_csv(body, self.plan, dtypes=self._csv_dtypes))
        return decode_json(body, self.plan, orient=media.orient)

    def prepare(self, media: MediaType, body: bytes) -> Prepared:
        """``decode`` then ``check``: raises the 4xx the input deserves, or a 500 for our bugs."""
        try:
            decoded = self.decode(media, body)
            return self.check(decoded.data, decoded.params, decoded.bare)
        except ModelpackError:
            raise
        except Exception as exc:
            # The codecs and enforcement answer bad input with ModelpackErrors: anything else is
            # the server's fault (a bug of ours, memory running out), answered with a 500.
            raise internal_error(exc, "reading the request") from exc

    def check(self, data: Any, params: Any, bare: bool = False) -> Prepared:
        """Model input and params checked against the signature (``PyFuncModel.check``)."""
        checked, checked_params = self.model.check(data, params)
        return Prepared(checked, checked_params, bare)

    async def submit(
        self,
        prepared: Prepared,
        deadline: float,
        gone: Callable[[], Awaitable[Any]] | None = None,
    ) -> Any:
        """The model's answer through the engine (see ``Engine.submit``)."""
        return await self.engine.submit(prepared.data, prepared.params, deadline, gone)

    def predict(self, prepared: Prepared) -> Any:
        """The model's answer in the calling thread, without the queue (batch scoring)."""
        return self.model.predict_checked(prepared.data, prepared.params)

    def encode(self, predictions: Any, bare: bool = False) -> bytes:
        """The JSON answer in the configured style."""
        try:
            return encode_predictions(predictions, bare=bare, style=self._json_style)
        except ModelpackError:
            raise
        except Exception as exc:
            raise internal_error(exc, "encoding the answer") from exc
