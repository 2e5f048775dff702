"""The one interface every package loads into: ``PyFuncModel.predict(data, params)``."""

from __future__ import annotations

import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from modelpack.enforce import enforce_input, enforce_params
from modelpack.errors import InvalidModel, ModelpackError, PickleRefused, PredictionFailed
from modelpack.flavors import Flavor, Predictor, registry
from modelpack.format.integrity import verify_package
from modelpack.model import PYFUNC, Model
from modelpack.schema import ParamSchema, Schema
from modelpack.settings import Settings
from modelpack.uris import resolve

__all__ = [
    "Package",
    "PyFuncModel",
    "PythonModel",
    "PythonModelContext",
    "load_model",
    "load_native",
    "open_package",
]


@dataclass
class PythonModelContext:
    """What ``PythonModel.load_context`` receives."""

    artifacts: dict[str, str] = field(default_factory=dict)
    """Artifact names mapped to absolute local paths inside the package."""
    model_config: dict[str, Any] = field(default_factory=dict)
    """The package's ``model_config``, updated with what the caller passed at load time."""


class PythonModel:
    """Base class for models written in plain Python.

    Override ``predict``; override ``load_context`` to load artifacts once when the package loads.
    """

    def load_context(self, context: PythonModelContext) -> None:
        """Called once after loading, before the first ``predict``."""

    def predict(
        self, context: PythonModelContext, model_input: Any, params: dict[str, Any] | None = None
    ) -> Any:
        raise NotImplementedError


class PyFuncModel:
    """A loaded package: signature enforcement in front of the flavor's predictor."""

    def __init__(self, metadata: Model, predictor: Predictor, path: Path, flavor: Flavor) -> None:
        self.metadata = metadata
        self.path = path
        self.flavor_name = flavor.name
        self._predictor = predictor
        self._flavor = flavor
        self.input_schema: Schema | None = metadata.get_input_schema()
        self.params_schema: ParamSchema | None = metadata.get_params_schema()

    def predict(self, data: Any, params: Mapping[str, Any] | None = None) -> Any:
        """Check ``data`` and ``params`` against the signature, then predict.

        Raises ``SignatureMismatch`` or ``InvalidParams`` for input that breaks the signature,
        and ``PredictionFailed`` (the model's own exception as ``__cause__``) when the model raises.
        """
        if self.input_schema is not None:
            data = enforce_input(data, self.input_schema)
        checked = enforce_params(params, self.params_schema)
        try:
            return self._predictor.predict(data, checked)
        except ModelpackError:
            raise
        except Exception as exc:
            text = str(exc).strip()
            first = text.splitlines()[0][:200] if text else ""
            raise PredictionFailed(
                f"the model raised {type(exc).__name__}" + (f": {first}" if first else "")
            ) from exc

    def get_raw_model(self) -> object:
        """The flavor's native object (the estimator, booster, module or PythonModel)."""
        conf = self.metadata.flavors.get(self.flavor_name, {})
        return self._flavor.load_native(self.path, conf)

    def __repr__(self) -> str:
        return f"PyFuncModel(flavor={self.flavor_name!r}, path='{self.path}')"


def load_model(
    model_uri: str | Path,
    *,
    settings: Settings | None = None,
    model_config: Mapping[str, Any] | None = None,
) -> PyFuncModel:
    """Load any model package (modelpack's or MLflow's) behind ``PyFuncModel``."""
    settings = settings if settings is not None else Settings.from_env()
    pkg = open_package(model_uri, settings, model_config=model_config)
    predictor = pkg.flavor.load_predictor(pkg.path, pkg.conf, pkg.pyfunc_conf, settings)
    return PyFuncModel(pkg.metadata, predictor, pkg.path, pkg.flavor)


def load_native(
    model_uri: str | Path, flavor_name: str, *, settings: Settings | None = None
) -> object:
    """The native model object of one flavor (what ``modelpack.flavors.X.load_model`` returns)."""
    settings = settings if settings is not None else Settings.from_env()
    pkg = open_package(model_uri, settings, flavor_name=flavor_name)
    return pkg.flavor.load_native(pkg.path, pkg.conf)


@dataclass
class Package:
    """A package opened for loading, after the shared policies have been applied."""

    path: Path
    metadata: Model
    flavor: Flavor
    conf: dict[str, Any]
    pyfunc_conf: dict[str, Any]


def open_package(
    model_uri: str | Path,
    settings: Settings,
    *,
    flavor_name: str | None = None,
    model_config: Mapping[str, Any] | None = None,
) -> Package:
    """Resolve, read MLmodel, pick the flavor, apply the pickle policy, put code/ on sys.path."""
    path = resolve(str(model_uri), settings)
    if path.is_file():
        path = path.parent
    verify_package(path, settings)  # before any byte of the package is read for the model
    metadata = Model.load(path)
    if flavor_name is not None:
        if flavor_name not in metadata.flavors:
            raise InvalidModel(
                f"'{model_uri}' has no {flavor_name} flavor (flavors: {sorted(metadata.flavors)})"
            )
        flavor = registry().get(flavor_name)
    else:
        flavor = registry().for_package(metadata.flavors)
    conf = dict(metadata.flavors.get(flavor.name, {}))
    pyfunc_conf = dict(metadata.flavors.get(PYFUNC, {}))
    pyfunc_conf["config"] = {**(pyfunc_conf.get("config") or {}), **(model_config or {})}
    pickled = flavor.pickled_file(path, conf, pyfunc_conf)
    if pickled is not None and not settings.allow_pickle:
        raise PickleRefused(
            f"{path / pickled} is stored with pickle, and MODELPACK_ALLOW_PICKLE is false; "
            "load it only if you trust its source (set MODELPACK_ALLOW_PICKLE=true), or re-save "
            "the model in a pickle-free format"
        )
    code = pyfunc_conf.get("code") or conf.get("code")
    if code:
        code_dir = str(path / code)
        if not settings.allow_pickle:
            # Code put first on sys.path can shadow any library the model imports: as much a
            # way to run the package's code as unpickling is.
            raise PickleRefused(
                f"{code_dir} holds Python code that loading would import, and "
                "MODELPACK_ALLOW_PICKLE is false; load it only if you trust its source "
                "(set MODELPACK_ALLOW_PICKLE=true)"
            )
        if code_dir not in sys.path:
            sys.path.insert(0, code_dir)
    return Package(path, metadata, flavor, conf, pyfunc_conf)
