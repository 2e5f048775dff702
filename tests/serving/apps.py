"""An in-process client of the ASGI app, and small plain-Python models to serve with it."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path
from typing import Any, ClassVar

import httpx

from modelpack.format.mlmodel import PYFUNC, Model
from modelpack.pyfunc import PyFuncModel
from modelpack.serving import create_app
from modelpack.settings import Settings
from modelpack.signature.schema import ModelSignature


class _PlainFlavor:
    """Stands in for a flavor: the predictor below is the whole model."""

    name: ClassVar[str] = "plain"


class _Predictor:
    def __init__(self, fn: Callable[[Any, Any], Any]) -> None:
        self._fn = fn

    def predict(self, data: Any, params: Any = None) -> Any:
        return self._fn(data, params)


def plain_model(
    fn: Callable[[Any, Any], Any], signature: ModelSignature | None = None
) -> PyFuncModel:
    """A PyFuncModel whose prediction is ``fn(data, params)``, with an optional signature."""
    metadata = Model(flavors={PYFUNC: {}}, signature=signature)
    return PyFuncModel(metadata, _Predictor(fn), Path("."), _PlainFlavor())  # type: ignore[arg-type]


class AppClient:
    """A synchronous client that calls the ASGI app in process (httpx's ASGI transport).

    Server errors come back as responses, as a real server sends them.
    """

    def __init__(self, app: Any) -> None:
        self._loop = asyncio.new_event_loop()
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        self._client = httpx.AsyncClient(transport=transport, base_url="http://modelpack")

    def request(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        return self._loop.run_until_complete(self._client.request(method, url, **kwargs))

    def get(self, url: str, **kwargs: Any) -> httpx.Response:
        return self.request("GET", url, **kwargs)

    def head(self, url: str, **kwargs: Any) -> httpx.Response:
        return self.request("HEAD", url, **kwargs)

    def post(self, url: str, **kwargs: Any) -> httpx.Response:
        return self.request("POST", url, **kwargs)

    def close(self) -> None:
        self._loop.run_until_complete(self._client.aclose())
        self._loop.close()

    def __enter__(self) -> AppClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def client_for(model: PyFuncModel, **settings: Any) -> AppClient:
    """An in-process client of the app serving ``model`` with these settings."""
    return AppClient(create_app(model, Settings(**settings)))
