"""The flavor contract: what a flavor implements, and what modelpack gives it to do so.

A third-party flavor is a class with the members of ``Flavor``, declared under the
``modelpack.flavors`` entry-point group (docs/writing-a-flavor.md walks through one). It writes
its model into a package directory and returns its MLmodel sections (``SavedFlavor``); it loads
the model back as its library's own object (``load_native``) and as a ``Predictor`` for the
common pyfunc view (``load_predictor``). Serialized bytes are opened only through
``modelpack.format.opener``, which applies the pickle policy.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any, ClassVar, Protocol, runtime_checkable

from modelpack.errors import MissingDependency
from modelpack.format.package import open_package
from modelpack.settings import Settings

__all__ = [
    "Flavor",
    "Predictor",
    "SavedFlavor",
    "load_native_model",
    "module_loaded",
    "require",
    "save_flavor_model",
]


@runtime_checkable
class Predictor(Protocol):
    """What a flavor hands to ``PyFuncModel``.

    ``predict`` receives input already checked against the signature (a DataFrame with the
    signature's columns and types, an ndarray, or a dict of them) and params already validated
    against the params schema, with defaults filled in. An exception it raises from the model's
    own code becomes a 400; from modelpack's code (the predictor itself), a 500.

    An optional attribute ``batch_exact: bool`` (default False) says that merging the rows of
    several requests into one call changes no bit of any answer, which lets the server batch.
    """

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
    """One kind of model: how to save it and how to load it back.

    Optional: ``claims(flavors) -> bool`` lets a flavor take packages that do not name it under
    ``flavors:`` (the python_model flavor takes MLflow's custom models, which name only
    ``python_function``); it is asked only when no installed flavor is named.
    """

    name: ClassVar[str]
    """Key under ``flavors:`` in MLmodel."""
    priority: ClassVar[int]
    """Order in which ``can_save`` is asked when ``save_model`` picks a flavor: lower first. Give
    a specific flavor a low number (modelpack's: xgboost and pytorch 40, sklearn 50, since
    XGBoost's models are scikit-learn estimators too) and a catch-all a high one (python_model,
    which takes any callable: 100)."""

    def can_save(self, obj: object) -> bool:
        """Whether this flavor saves ``obj``. Never import the model library here: look it up
        in ``sys.modules`` (``module_loaded``); if the user never imported it, ``obj`` cannot
        be one of its objects."""
        ...

    def save(self, obj: object, path: Path, **options: Any) -> SavedFlavor:
        """Write ``obj`` into the package directory ``path`` (it exists and holds nothing of
        this flavor yet) and say what was written. ``options`` are the caller's keyword
        arguments to ``save_model`` (``input_example`` among them when one was given); ignore
        the ones you do not know."""
        ...

    def load_native(self, path: Path, conf: Mapping[str, Any], settings: Settings) -> object:
        """The library's own model object, from the package at ``path`` (``conf`` is this
        flavor's MLmodel section). Open serialized bytes only through
        ``modelpack.format.opener``, which applies ``settings.allow_pickle``."""
        ...

    def load_predictor(
        self,
        path: Path,
        conf: Mapping[str, Any],
        pyfunc_conf: Mapping[str, Any],
        settings: Settings,
    ) -> Predictor:
        """The pyfunc view of the model. ``pyfunc_conf`` is the ``python_function`` section;
        its ``config`` holds the package's model_config merged with the caller's. Flavor
        options from the environment are in ``settings.flavor_options``."""
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


def load_native_model(
    flavor: Flavor, model_uri: str | Path, settings: Settings | None = None
) -> object:
    """What a flavor module's ``load_model(uri)`` returns: the native object of a package that
    names ``flavor``, opened with the policies every load applies (manifest, pickle, code/)."""
    settings = settings if settings is not None else Settings.from_env()
    pkg = open_package(model_uri, settings)
    pkg.require(flavor.name)
    conf, _ = pkg.sections(flavor.name, settings)
    return flavor.load_native(pkg.path, conf, settings)


def save_flavor_model(flavor: Flavor, model: object, path: str | Path, **kwargs: Any) -> Any:
    """What a flavor module's ``save_model(model, path, ...)`` does: ``modelpack.save_model``
    with that flavor."""
    from modelpack.format.save import save_package  # pandas, for examples: not needed to load

    return save_package(flavor, model, path, **kwargs)
