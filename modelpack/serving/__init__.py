"""The HTTP serving runtime: ``create_app(model, settings)`` and ``serve(model_uri, settings)``."""

from __future__ import annotations

from modelpack.serving.app import create_app
from modelpack.serving.server import serve

__all__ = ["create_app", "serve"]
