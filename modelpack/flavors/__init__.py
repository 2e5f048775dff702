"""The flavor contract and its registry.

A flavor saves and loads one kind of model. Flavors are found through the ``modelpack.flavors``
entry-point group (modelpack's own are declared there too), loaded only when needed, and never
import their model library at import time.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from importlib.metadata import EntryPoint, entry_points
from pathlib import Path
from types import ModuleType
from typing import Any, ClassVar, Protocol, runtime_checkable

from modelpack.errors import InvalidArgument, MissingDependency, UnknownFlavor
from modelpack.settings import Settings

__all__ = [
    "ENTRY_POINT_GROUP",
    "Flavor",
    "Predictor",
    "Registry",
    "SavedFlavor",
    "registry",
    "require",
]

ENTRY_POINT_GROUP = "modelpack.flavors"


@runtime_checkable
class Predictor(Protocol):
    """What a flavor hands to ``PyFuncModel``: input already checked against the signature."""

    def predict(self, data: Any, params: Mapping[str, Any] | None = None) -> Any: ...


@dataclass
class SavedFlavor:
    """What ``Flavor.save`` wrote, for the MLmodel file and the environment files."""

    conf: dict[str, Any]
    """The flavor's own section under ``flavors:`` in MLmodel."""
    pyfunc: dict[str, Any]
    """Keys for the ``python_function`` section (``loader_module``, ``model_path``, ...)."""
    requirements: list[str] = field(default_factory=list)
    """Distributions the flavor needs to load the model."""
    modules: set[str] = field(default_factory=set)
    """Top-level modules the serialized model refers to (mapped to distributions later)."""


class Flavor(Protocol):
    """One kind of model: how to save it and how to load it back."""

    name: ClassVar[str]
    """Key under ``flavors:`` in MLmodel."""
    priority: ClassVar[int]
    """Order in which ``can_save`` is asked (lower first); catch-all flavors go last."""

    def can_save(self, obj: object) -> bool: ...

    def save(self, obj: object, path: Path, **options: Any) -> SavedFlavor: ...

    def load_native(self, path: Path, conf: Mapping[str, Any], settings: Settings) -> object:
        """The library's own model object. Serialized bytes are opened only through
        ``modelpack.format.opener``, which applies ``settings.allow_pickle``."""
        ...

    def load_predictor(
        self,
        path: Path,
        conf: Mapping[str, Any],
        pyfunc_conf: Mapping[str, Any],
        settings: Settings,
    ) -> Predictor:
        """The pyfunc view. ``pyfunc_conf["config"]`` holds the merged model_config."""
        ...


def require(module: str, flavor: str, distribution: str | None = None) -> ModuleType:
    """Import a flavor's library, or say which package to install."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        dist = distribution or module
        raise MissingDependency(
            f"flavor '{flavor}' needs the {dist} package: pip install 'modelpack[{flavor}]' ({exc})"
        ) from None


def module_loaded(name: str) -> ModuleType | None:
    """A library module if the caller already imported it (``can_save`` never imports one)."""
    return sys.modules.get(name)


class Registry:
    """Flavors by name, discovered from an entry-point group and loaded lazily."""

    def __init__(self, eps: list[EntryPoint] | None = None) -> None:
        found = list(entry_points(group=ENTRY_POINT_GROUP)) if eps is None else list(eps)
        self._eps: dict[str, EntryPoint] = {}
        for ep in found:
            other = self._eps.get(ep.name)
            if other is not None and other.value != ep.value:
                raise InvalidArgument(
                    f"two flavors are registered as '{ep.name}': {other.value} and {ep.value}"
                )
            self._eps[ep.name] = ep
        self._loaded: dict[str, Flavor] = {}

    def names(self) -> list[str]:
        return sorted(self._eps)

    def get(self, name: str) -> Flavor:
        if name not in self._loaded:
            ep = self._eps.get(name)
            if ep is None:
                raise UnknownFlavor(
                    f"no flavor named '{name}' is installed; installed flavors: {self.names()}"
                )
            try:
                cls = ep.load()
            except ImportError as exc:
                raise MissingDependency(
                    f"flavor '{name}' ({ep.value}) cannot be imported: {exc}"
                ) from None
            self._loaded[name] = cls()
        return self._loaded[name]

    def for_object(self, obj: object) -> Flavor:
        """The flavor that saves ``obj``, asked in priority order."""
        flavors = sorted((self.get(n) for n in self.names()), key=lambda f: f.priority)
        for flavor in flavors:
            if flavor.can_save(obj):
                return flavor
        raise InvalidArgument(
            f"no flavor can save a {type(obj).__module__}.{type(obj).__qualname__}; "
            f"installed flavors: {self.names()}"
        )

    def for_package(self, flavors: Mapping[str, Any]) -> Flavor:
        """The flavor that loads a package with these MLmodel ``flavors``."""
        for name in flavors:
            if name != "python_function" and name in self._eps:
                return self.get(name)
        pyfunc = flavors.get("python_function") or {}
        if "python_model" in pyfunc or "model_code_path" in pyfunc:
            return self.get("python_model")
        raise UnknownFlavor(
            f"the package's flavors {sorted(flavors)} include none that modelpack can load; "
            f"installed flavors: {self.names()}"
        )


_registry: Registry | None = None


def registry() -> Registry:
    """The process-wide registry, built on first use."""
    global _registry
    if _registry is None:
        _registry = Registry()
    return _registry
