"""The one interface every package loads into: ``PyFuncModel.predict(data, params)``."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from modelpack.enforce import enforce_input, enforce_params
from modelpack.errors import InvalidModel, ModelpackError, prediction_error
from modelpack.flavors import Flavor, Predictor, registry
from modelpack.format.integrity import verify_package
from modelpack.format.opener import add_code_path
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

    def __init__(
        self,
        metadata: Model,
        predictor: Predictor,
        path: Path,
        flavor: Flavor,
        *,
        settings: Settings | None = None,
    ) -> None:
        self.metadata = metadata
        self.path = path
        self.flavor_name = flavor.name
        self._predictor = predictor
        self._flavor = flavor
        # What the package was loaded under: get_raw_model loads again under the same policy.
        self._settings = settings if settings is not None else Settings()
        self.input_schema: Schema | None = metadata.get_input_schema()
        self.params_schema: ParamSchema | None = metadata.get_params_schema()

    def predict(self, data: Any, params: Mapping[str, Any] | None = None) -> Any:
        """Check ``data`` and ``params`` against the signature, then predict.

        Raises ``SignatureMismatch`` or ``InvalidParams`` for input that breaks the signature.
        When prediction raises, the exception becomes the ``__cause__`` of ``PredictionFailed``
        (400: the model's own code refused the input) or of ``InternalError`` (500: modelpack's
        adapter failed, or memory ran out); see ``modelpack.errors.prediction_error``.
        """
        return self.predict_checked(*self.check(data, params))

    def check(
        self, data: Any, params: Mapping[str, Any] | None = None
    ) -> tuple[Any, dict[str, Any]]:
        """``data`` and ``params`` as the signature makes them (the first half of ``predict``).

        The server checks each request with this before it queues it, so that a bad input is
        its own 400 and never fails a call that merged it with others.
        """
        if self.input_schema is not None:
            data = enforce_input(data, self.input_schema)
        return data, enforce_params(params, self.params_schema)

    def predict_checked(self, data: Any, params: Mapping[str, Any]) -> Any:
        """The model's answer for input that ``check`` returned (the second half of ``predict``)."""
        try:
            return self._predictor.predict(data, params)
        except ModelpackError:
            raise
        except Exception as exc:
            raise prediction_error(exc) from exc

    @property
    def batch_exact(self) -> bool:
        """Whether requests may be merged into one call without changing a bit of any answer.

        The flavor's predictor says so (``batch_exact``; scikit-learn tree models and XGBoost
        do, models built on matrix products do not); the package's MLmodel ``metadata`` key
        ``batching`` (true or false) overrides it.
        """
        chosen = (self.metadata.metadata or {}).get("batching")
        if isinstance(chosen, bool):
            return chosen
        return bool(getattr(self._predictor, "batch_exact", False))

    def get_raw_model(self) -> object:
        """The flavor's native object (the estimator, booster, module or PythonModel)."""
        conf = self.metadata.flavors.get(self.flavor_name, {})
        return self._flavor.load_native(self.path, conf, self._settings)

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
    return PyFuncModel(pkg.metadata, predictor, pkg.path, pkg.flavor, settings=settings)


def load_native(
    model_uri: str | Path, flavor_name: str, *, settings: Settings | None = None
) -> object:
    """The native model object of one flavor (what ``modelpack.flavors.X.load_model`` returns)."""
    settings = settings if settings is not None else Settings.from_env()
    pkg = open_package(model_uri, settings, flavor_name=flavor_name)
    return pkg.flavor.load_native(pkg.path, pkg.conf, settings)


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
    """Resolve, read MLmodel, pick the flavor, put code/ on sys.path.

    The pickle policy is not applied here: each load in ``modelpack.format.opener`` applies it to
    the file it opens.
    """
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
    code = pyfunc_conf.get("code") or conf.get("code")
    if code:
        add_code_path(path / str(code), settings)  # refused when pickle is off
    return Package(path, metadata, flavor, conf, pyfunc_conf)
