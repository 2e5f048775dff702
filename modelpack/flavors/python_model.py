"""Models written in plain Python: ``modelpack.PythonModel`` subclasses and plain functions.

The model is stored with cloudpickle as ``python_model.pkl``; ``artifacts`` are copied into
``artifacts/`` and reach ``load_context`` as absolute paths. The ``python_function`` section uses
MLflow's keys (``python_model``, ``artifacts``, ``config``, ``cloudpickle_version``) and names
this module as ``loader_module``, so ``mlflow.pyfunc.load_model`` loads the package wherever
modelpack is importable (through ``_load_pyfunc`` below).

Packages MLflow wrote for a ``mlflow.pyfunc.PythonModel`` (``loader_module: mlflow.pyfunc.model``
and friends) hold a pickle of an MLflow class; they are loaded through mlflow's own loader.
"""

from __future__ import annotations

import inspect
import logging
import shutil
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import yaml

from modelpack._logs import LogOnce
from modelpack.errors import InvalidArgument, InvalidModel
from modelpack.flavors._contract import (
    Predictor,
    SavedFlavor,
    load_native_model,
    save_flavor_model,
)
from modelpack.format.mlmodel import PYFUNC, Model
from modelpack.format.opener import load_pickle, load_with_mlflow
from modelpack.format.package import open_package
from modelpack.format.references import pickle_modules
from modelpack.settings import Settings
from modelpack.uris import resolve

__all__ = [
    "LOADER_MODULE",
    "PythonModel",
    "PythonModelContext",
    "PythonModelFlavor",
    "load_model",
    "save_model",
]

LOADER_MODULE = __name__
MODEL_FILE = "python_model.pkl"
ARTIFACTS_DIR = "artifacts"

_log = logging.getLogger(__name__)


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


class PythonModelFlavor:
    name: ClassVar[str] = "python_model"
    # Last: any callable qualifies, so every specific flavor is asked first.
    priority: ClassVar[int] = 100

    def can_save(self, obj: object) -> bool:
        return isinstance(obj, PythonModel) or (callable(obj) and not isinstance(obj, type))

    def claims(self, flavors: Mapping[str, Any]) -> bool:
        """MLflow's custom models name only ``python_function``, with a pickled PythonModel or
        a models-from-code file: this flavor loads them (through mlflow)."""
        pyfunc = flavors.get(PYFUNC) or {}
        return "python_model" in pyfunc or "model_code_path" in pyfunc

    def save(
        self,
        obj: object,
        path: Path,
        artifacts: Mapping[str, Any] | None = None,
        model_config: Mapping[str, Any] | str | Path | None = None,
        **_: Any,
    ) -> SavedFlavor:
        import cloudpickle

        model = obj if isinstance(obj, PythonModel) else _FunctionModel(_callable(obj))
        try:
            with open(path / MODEL_FILE, "wb") as fh:
                cloudpickle.dump(model, fh)
        except Exception as exc:
            raise InvalidArgument(
                f"cannot pickle the model with cloudpickle ({type(exc).__name__}: {exc}); "
                "keep what cannot be pickled (open files, connections, locks) out of the "
                "model's attributes and create it in load_context"
            ) from exc
        saved = _copy_artifacts(path, artifacts or {})
        config = _model_config(model_config)
        inner = model.func if isinstance(model, _FunctionModel) else model
        pyfunc: dict[str, Any] = {
            "loader_module": LOADER_MODULE,
            "python_model": MODEL_FILE,
            "cloudpickle_version": cloudpickle.__version__,
        }
        if saved:
            pyfunc["artifacts"] = saved
        if config:
            pyfunc["config"] = config
        conf = {
            "python_model": MODEL_FILE,
            "model_class": _qualified(inner),
            "artifacts": {name: info["path"] for name, info in saved.items()} or None,
            "code": None,
        }
        modules = pickle_modules(path / MODEL_FILE)
        return SavedFlavor(conf, pyfunc, ["cloudpickle"], modules)

    def load_native(self, path: Path, conf: Mapping[str, Any], settings: Settings) -> object:
        """The PythonModel itself, after ``load_context``."""
        pyfunc_conf = Model.load(path).flavors.get(PYFUNC, {})
        predictor = self.load_predictor(path, conf, pyfunc_conf, settings)
        if isinstance(predictor, _MlflowPredictor):
            impl = predictor.impl
            unwrap = getattr(impl, "unwrap_python_model", None)
            return unwrap() if callable(unwrap) else getattr(impl, "python_model", impl)
        assert isinstance(predictor, _PythonPredictor)
        return predictor.model

    def load_predictor(
        self,
        path: Path,
        conf: Mapping[str, Any],
        pyfunc_conf: Mapping[str, Any],
        settings: Settings,
    ) -> Predictor:
        config = dict(pyfunc_conf.get("config") or {})
        loader = str(pyfunc_conf.get("loader_module") or "")
        if not loader.startswith("modelpack"):
            data = path / str(pyfunc_conf["data"]) if pyfunc_conf.get("data") else path
            impl = load_with_mlflow(
                loader, data, settings, config, mlflow_version=Model.load(path).mlflow_version
            )
            return _MlflowPredictor(impl)
        file = path / str(pyfunc_conf.get("python_model") or MODEL_FILE)
        if not file.is_file():
            raise InvalidModel(f"the Python model file {file} is missing")
        model = load_pickle(file, settings)
        if not isinstance(model, PythonModel):
            raise InvalidModel(f"{file} holds a {type(model).__name__}, not a PythonModel")
        artifacts = {
            str(name): str(path / str(info["path"]))
            for name, info in (pyfunc_conf.get("artifacts") or {}).items()
        }
        context = PythonModelContext(artifacts=artifacts, model_config=config)
        model.load_context(context)
        return _PythonPredictor(model, context)


# ---------------------------------------------------------------------------------------------
# saving


class _FunctionModel(PythonModel):
    """A plain function as a PythonModel: ``func(model_input)`` (plus ``params`` if it takes
    them)."""

    def __init__(self, func: Callable[..., Any]) -> None:
        self.func = func

    def predict(
        self, context: PythonModelContext, model_input: Any, params: dict[str, Any] | None = None
    ) -> Any:
        if params is not None and _accepts_params(self.func):
            return self.func(model_input, params=params)
        return self.func(model_input)


def _callable(obj: object) -> Callable[..., Any]:
    if not callable(obj):
        raise InvalidArgument(
            f"a python_model must be a modelpack.PythonModel or a function, "
            f"got {type(obj).__name__}"
        )
    return obj


def _qualified(obj: object) -> str:
    target = obj if inspect.isfunction(obj) or inspect.isclass(obj) else type(obj)
    return f"{target.__module__}.{target.__qualname__}"


def _copy_artifacts(path: Path, artifacts: Mapping[str, Any]) -> dict[str, dict[str, str]]:
    """Copy each artifact into ``artifacts/``; MLflow's ``{name: {path, uri}}`` entries."""
    if not isinstance(artifacts, Mapping):
        raise InvalidArgument(
            f"artifacts must map names to local paths, got {type(artifacts).__name__}"
        )
    saved: dict[str, dict[str, str]] = {}
    dest_dir = path / ARTIFACTS_DIR
    for name, uri in artifacts.items():
        if not isinstance(name, str) or not name:
            raise InvalidArgument(f"artifact names must be non-empty strings, got {name!r}")
        try:
            src = resolve(str(uri))
        except (InvalidArgument, FileNotFoundError) as exc:
            raise InvalidArgument(f"artifact '{name}': {exc}") from None
        dest = dest_dir / src.name
        if dest.exists():  # two artifacts with the same file name
            dest = dest_dir / name / src.name
        dest.parent.mkdir(parents=True, exist_ok=True)
        if src.is_dir():
            shutil.copytree(src, dest)
        else:
            shutil.copy2(src, dest)
        saved[name] = {"path": dest.relative_to(path).as_posix(), "uri": str(uri)}
    return saved


def _model_config(config: Mapping[str, Any] | str | Path | None) -> dict[str, Any]:
    if config is None:
        return {}
    if isinstance(config, str | Path):
        file = Path(config)
        if not file.is_file():
            raise InvalidArgument(f"model_config file not found: {file}")
        loaded = yaml.safe_load(file.read_text(encoding="utf-8"))  # YAML reads JSON too
        config = loaded if isinstance(loaded, Mapping) else None
        if config is None:
            raise InvalidArgument(f"model_config file {file} does not hold a mapping")
    if not isinstance(config, Mapping):
        raise InvalidArgument(
            f"model_config must be a dict or a YAML/JSON file path, got {type(config).__name__}"
        )
    return dict(config)


# ---------------------------------------------------------------------------------------------
# loading


def _accepts_params(fn: Callable[..., Any]) -> bool:
    try:
        parameters = inspect.signature(fn).parameters.values()
    except (TypeError, ValueError):
        return False
    return any(p.name == "params" or p.kind is p.VAR_KEYWORD for p in parameters)


def _takes_context(fn: Callable[..., Any]) -> bool:
    """Whether ``predict`` is ``(context, model_input, ...)`` or, as MLflow allows since 2.20,
    ``(model_input, ...)``."""
    try:
        parameters = list(inspect.signature(fn).parameters.values())
    except (TypeError, ValueError):
        return True
    positional = [
        p
        for p in parameters
        if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD) and p.name != "params"
    ]
    return len(positional) >= 2 or any(p.name == "context" for p in parameters)


class _PythonPredictor:
    def __init__(self, model: PythonModel, context: PythonModelContext) -> None:
        self.model = model
        self._context = context
        self._with_context = _takes_context(model.predict)
        self._with_params = _accepts_params(model.predict)
        self._once = LogOnce()

    def predict(self, data: Any, params: Mapping[str, Any] | None = None) -> Any:
        kwargs: dict[str, Any] = {}
        if self._with_params:
            kwargs["params"] = dict(params) if params else None
        elif params:
            self._once.log(
                _log,
                logging.WARNING,
                "params %s ignored: the model's predict() takes no params",
                sorted(params),
            )
        if self._with_context:
            return self.model.predict(self._context, data, **kwargs)
        return self.model.predict(data, **kwargs)


class _MlflowPredictor:
    def __init__(self, impl: Any) -> None:
        self.impl = impl
        self._with_params = _accepts_params(impl.predict)

    def predict(self, data: Any, params: Mapping[str, Any] | None = None) -> Any:
        if self._with_params:
            return self.impl.predict(data, params=dict(params) if params else None)
        return self.impl.predict(data)


def _load_pyfunc(path: str, model_config: Mapping[str, Any] | None = None) -> Predictor:
    """MLflow's loader hook: ``mlflow.pyfunc.load_model`` calls it with the package directory.

    Settings come from the ``MODELPACK_*`` environment (the pickle policy among them).
    """
    settings = Settings.from_env()
    pkg = open_package(path, settings)
    flavor = PythonModelFlavor()
    conf, pyfunc_conf = pkg.sections(flavor.name, settings, model_config)
    return flavor.load_predictor(pkg.path, conf, pyfunc_conf, settings)


def save_model(python_model: object, path: str | Path, **kwargs: Any) -> Any:
    """``modelpack.save_model`` with the python_model flavor (``artifacts=``, ``model_config=``)."""
    return save_flavor_model(PythonModelFlavor(), python_model, path, **kwargs)


def load_model(model_uri: str | Path, *, settings: Settings | None = None) -> object:
    """The PythonModel itself, after ``load_context``."""
    return load_native_model(PythonModelFlavor(), model_uri, settings)
