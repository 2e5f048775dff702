"""Lazy package surfaces: a name a package exports is imported from its module on first use.

``import modelpack`` then costs a few milliseconds instead of pandas, and reading an MLmodel file
imports neither pandas nor a model library (a server's cold start is mostly imports). A package
``__init__`` lists what it exports and where each name lives, and hands that to ``attach``::

    __getattr__, __dir__ = attach(__name__, {"Model": "modelpack.format.mlmodel", ...})

Type checkers see the same names through imports under ``if TYPE_CHECKING:``.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Mapping
from typing import Any

__all__ = ["attach"]


def attach(
    package: str, exports: Mapping[str, str]
) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """A module ``__getattr__`` that imports ``exports[name]`` and returns its ``name`` (kept on
    the package, so that it is looked up once), and a ``__dir__`` that lists the exports."""

    def __getattr__(name: str) -> Any:
        module = exports.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(module), name)
        setattr(sys.modules[package], name, value)
        return value

    def __dir__() -> list[str]:
        return sorted(set(vars(sys.modules[package])) | set(exports))

    return __getattr__, __dir__
