"""The flavor registry: flavors by name, found through an entry-point group, loaded lazily.

modelpack's own flavors are declared in its pyproject under ``modelpack.flavors`` exactly as a
third party declares one: there is one discovery path. What an entry point loads is checked
against the contract before it is used, and the error names the entry point.
"""

from __future__ import annotations

import inspect
from collections.abc import Mapping
from importlib.metadata import EntryPoint, entry_points
from typing import Any

from modelpack.errors import InvalidArgument, MissingDependency, UnknownFlavor
from modelpack.flavors._contract import Flavor

__all__ = ["ENTRY_POINT_GROUP", "Registry", "registry"]

ENTRY_POINT_GROUP = "modelpack.flavors"
_METHODS = ("can_save", "save", "load_native", "load_predictor")
_PYFUNC = "python_function"


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
        """The names of the installed flavors, sorted."""
        return sorted(self._eps)

    def get(self, name: str) -> Flavor:
        """The flavor registered as ``name``, loaded (and checked) on first use."""
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
            self._loaded[name] = _checked(name, ep, cls)
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
        """The flavor that loads a package with these MLmodel ``flavors``: the first installed
        one it names, else one whose ``claims`` hook takes it."""
        for name in flavors:
            if name != _PYFUNC and name in self._eps:
                return self.get(name)
        for name in self.names():
            flavor = self.get(name)
            claims = getattr(flavor, "claims", None)
            if callable(claims) and claims(flavors):
                return flavor
        raise UnknownFlavor(
            f"the package's flavors {sorted(flavors)} include none that modelpack can load; "
            f"installed flavors: {self.names()}"
        )


def _checked(name: str, ep: EntryPoint, cls: Any) -> Flavor:
    """An instance of what the entry point loaded, once it has the contract's members."""
    where = f"flavor entry point '{name}' ({ep.value})"
    if not inspect.isclass(cls):
        raise InvalidArgument(f"{where} loads a {type(cls).__name__}, not a flavor class")
    missing = [m for m in _METHODS if not callable(getattr(cls, m, None))]
    if getattr(cls, "name", None) != name:
        missing.append(f"name = {name!r}")
    if not isinstance(getattr(cls, "priority", None), int):
        missing.append("priority (an int)")
    if missing:
        raise InvalidArgument(f"{where} is not a flavor: {cls.__qualname__} lacks {missing}")
    try:
        flavor: Flavor = cls()  # type: ignore[assignment]  # checked above
    except TypeError as exc:
        raise InvalidArgument(f"{where}: {cls.__qualname__}() fails: {exc}") from None
    return flavor


_registry: Registry | None = None


def registry() -> Registry:
    """The process-wide registry, built on first use."""
    global _registry
    if _registry is None:
        _registry = Registry()
    return _registry
