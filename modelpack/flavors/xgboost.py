"""XGBoost boosters and scikit-learn-API models, stored in XGBoost's own formats (never pickle)."""

from __future__ import annotations

import inspect
import logging
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pandas as pd

from modelpack._logs import LogOnce
from modelpack.errors import InvalidArgument, InvalidModel, SignatureMismatch, first_line
from modelpack.flavors._contract import (
    SavedFlavor,
    load_native_model,
    module_loaded,
    require,
    save_flavor_model,
)
from modelpack.format.opener import import_module
from modelpack.settings import Settings
from modelpack.signature.frames import model_array

__all__ = ["FORMATS", "XGBoostFlavor", "load_model", "save_model"]

FORMATS = ("ubj", "json")
"""Formats ``save`` writes. Packages in the legacy binary ``xgb`` format are read, not written:
XGBoost 3.1 removed the binary writer (MLflow's ``model_format="xgb"`` now writes UBJSON)."""
_BOOSTER = "xgboost.core.Booster"
# Rows x boosting rounds below which a call runs on one thread (~1-2 ms of work).
_SMALL_WORK = 50_000

_log = logging.getLogger(__name__)


class XGBoostFlavor:
    name: ClassVar[str] = "xgboost"
    # Asked before sklearn (50): XGBRegressor and friends are scikit-learn estimators too.
    priority: ClassVar[int] = 40

    def can_save(self, obj: object) -> bool:
        core = module_loaded("xgboost.core")
        api = module_loaded("xgboost.sklearn")
        return (core is not None and isinstance(obj, core.Booster)) or (
            api is not None and isinstance(obj, api.XGBModel)
        )

    def save(self, obj: object, path: Path, model_format: str = "ubj", **_: Any) -> SavedFlavor:
        xgb = require("xgboost", self.name)
        if model_format not in FORMATS:
            raise InvalidArgument(
                f"model_format must be one of {list(FORMATS)}, got {model_format!r} "
                "(the legacy binary 'xgb' format can be loaded but not written)"
            )
        file = f"model.{model_format}"
        try:
            obj.save_model(str(path / file))  # type: ignore[attr-defined]
        except xgb.core.XGBoostError as exc:
            raise InvalidArgument(
                f"cannot save the XGBoost model: {first_line(exc) or type(exc).__name__}"
            ) from None
        cls = type(obj)
        requirements = ["xgboost"]
        if not isinstance(obj, xgb.Booster):
            # The scikit-learn API classes refuse to be built without scikit-learn installed.
            requirements.append("scikit-learn")
        conf = {
            "xgb_version": xgb.__version__,
            "data": file,
            "model_class": f"{cls.__module__}.{cls.__qualname__}",
            "model_format": model_format,
            "code": None,
        }
        pyfunc = {"loader_module": "mlflow.xgboost", "data": file}
        return SavedFlavor(conf, pyfunc, requirements, {cls.__module__})

    def load_native(self, path: Path, conf: Mapping[str, Any], settings: Settings) -> object:
        xgb = require("xgboost", self.name)
        file = path / str(conf.get("data") or f"model.{conf.get('model_format', 'xgb')}")
        if not file.is_file():
            raise InvalidModel(f"the XGBoost model file {file} is missing")
        cls = _model_class(str(conf.get("model_class") or _BOOSTER), xgb, settings)
        if not issubclass(cls, xgb.Booster):
            require("sklearn", self.name, "scikit-learn")
        model = cls()
        raw = file.read_bytes()
        try:
            # From bytes, so XGBoost detects the format from the content, not the file name
            # (MLflow's "xgb" packages written by XGBoost >= 3.1 hold UBJSON).
            model.load_model(bytearray(raw))
        except xgb.core.XGBoostError as exc:
            if not raw.lstrip()[:1] == b"{":
                raise InvalidModel(
                    f"{file} is in XGBoost's legacy binary format, which xgboost "
                    f"{xgb.__version__} cannot read (support ended in 3.1): load it with "
                    "xgboost<3.1 and save it again as ubj or json"
                ) from None
            raise InvalidModel(
                f"{file} is not a readable XGBoost model: {first_line(exc) or type(exc).__name__}"
            ) from None
        return model

    def load_predictor(
        self,
        path: Path,
        conf: Mapping[str, Any],
        pyfunc_conf: Mapping[str, Any],
        settings: Settings,
    ) -> _XGBoostPredictor:
        return _XGBoostPredictor(self.load_native(path, conf, settings))


def _model_class(name: str, xgb: Any, settings: Settings) -> type:
    """The class MLmodel names, accepted only if it is an XGBoost booster or model class.

    With pickle off, a class outside xgboost (a user's subclass) is refused before its module is
    imported: importing it could run the package's code.
    """
    module_name, _, attr = name.rpartition(".")
    try:
        module = import_module(module_name, settings, trusted={"xgboost"}) if module_name else None
        cls = getattr(module, attr) if module is not None else None
    except (ImportError, TypeError) as exc:  # TypeError: a relative name such as '..x'
        raise InvalidModel(f"model_class {name!r} cannot be imported: {exc}") from None
    except AttributeError:
        cls = None
    if not (
        isinstance(cls, type) and (issubclass(cls, xgb.Booster) or issubclass(cls, xgb.XGBModel))
    ):
        raise InvalidModel(
            f"model_class {name!r} is not an XGBoost Booster or scikit-learn-API model class"
        )
    return cls


class _XGBoostPredictor:
    """MLflow's pyfunc view: ``predict(data, validate_features=True, **params)``."""

    def __init__(self, model: Any) -> None:
        xgb = require("xgboost", XGBoostFlavor.name)
        self._xgb = xgb
        self._model = model
        self._is_booster = isinstance(model, xgb.Booster)
        booster = model if self._is_booster else model.get_booster()
        self._n_features = int(booster.num_features())
        self._names: list[str] | None = booster.feature_names
        params = inspect.signature(model.predict).parameters
        self._accepted = {n for n in params if n not in ("data", "X")}
        self._once = LogOnce()
        # Trees: each row sums its own leaves in a fixed order, whatever else is in the call
        # (tests/flavors/test_xgboost.py checks merged calls against single ones).
        self.batch_exact = True
        self._booster = booster
        self._rounds = max(1, int(booster.num_boosted_rounds()))
        self._threads = -1  # the nthread last set on the booster (-1: not set by us)
        self._lock = threading.Lock()  # set_param and the prediction it is for go together
        self._seen: pd.Index | None = None  # the last columns found to be the features
        # Categorical features are read from pandas' categories: those models keep the frame.
        self._fast = bool(self._names) and "c" not in (booster.feature_types or [])

    def predict(self, data: Any, params: Mapping[str, Any] | None = None) -> Any:
        if not params and isinstance(data, pd.DataFrame):
            array = self._features_array(data)
            if array is not None:
                return self._predict_array(array)
        data = self._prepare(data)
        kwargs: dict[str, Any] = {"validate_features": True}
        dropped = []
        for key, value in (params or {}).items():
            if key in self._accepted:
                kwargs[key] = value
            else:
                dropped.append(key)
        if dropped:
            # MLflow drops them too: callers may send params meant for others. Said once per
            # set of names, as a server would otherwise log it on every request.
            self._once.log(
                _log,
                logging.WARNING,
                "params %s are not accepted by the XGBoost model; ignored",
                sorted(dropped),
            )
        with self._lock:
            self._use_threads(len(data) if hasattr(data, "__len__") else 0)
            if self._is_booster:
                if isinstance(data, pd.DataFrame):
                    matrix = self._xgb.DMatrix(data, enable_categorical=True)
                else:
                    # An array's columns are the model's features in order, as in scikit-learn.
                    matrix = self._xgb.DMatrix(data, feature_names=self._names)
                return self._model.predict(matrix, **kwargs)
            return self._model.predict(data, **kwargs)

    # The fast path: a frame whose columns are the model's features, in order, and of one numeric
    # block goes to XGBoost as ``np.asarray(frame)`` (a dense array, read in place) instead of
    # through its pandas reader or a DMatrix; with one thread for small batches. The answers are
    # the same to the bit (tests/flavors/test_fast_paths.py).

    def _features_array(self, df: pd.DataFrame) -> np.ndarray | None:
        if not self._fast:
            return None
        columns = df.columns
        if columns is not self._seen:
            if columns.tolist() != self._names:
                return None
            self._seen = columns  # the plan hands every request the same Index object
        array = model_array(df)
        return array if array is not None and array.dtype.kind == "f" else None

    def _predict_array(self, array: np.ndarray) -> Any:
        with self._lock:
            self._use_threads(array.shape[0])
            if self._is_booster:
                return self._booster.inplace_predict(array, validate_features=False)
            # The scikit-learn API on an array: its own iteration range, missing value and output
            # shape, as for the frame; the names were checked above.
            return self._model.predict(array, validate_features=False)

    def _use_threads(self, rows: int) -> None:
        """One thread for a small batch: OpenMP's start-up costs more than the trees (a 1-row
        call takes 0.3 ms on one thread and 2-30 ms on all cores of a busy machine); all cores
        (the booster's default, 0) otherwise. Threads split rows, never a row's sum."""
        threads = 1 if rows * self._rounds < _SMALL_WORK else 0
        if threads != self._threads:
            self._booster.set_param({"nthread": threads})
            self._threads = threads

    def _prepare(self, data: Any) -> Any:
        """Line the input up with the model's features; wrong input fails in one line."""
        if isinstance(data, pd.DataFrame):
            if self._names and not _default_columns(data):
                missing = [n for n in self._names if n not in data.columns]
                if missing:
                    raise SignatureMismatch(
                        f"the XGBoost model expects the columns {_few(self._names)}; "
                        f"missing {_few(missing)}"
                    )
                data = data[self._names]  # the caller's column order does not matter
            self._check_width(data.shape)
            bad = [c for c in data.columns if data[c].dtype.kind in "OSU"]
            if bad:
                data = data.copy()
                for col in bad:
                    try:
                        data[col] = pd.to_numeric(data[col])
                    except (TypeError, ValueError):
                        raise SignatureMismatch(
                            f"column '{col}': the XGBoost model expects numbers, got "
                            f"{type(_first_non_number(data[col])).__name__} values",
                            column=str(col),
                        ) from None
            # Unnamed columns are positions: pass them on as an array.
            return data.to_numpy() if self._names and _default_columns(data) else data
        if isinstance(data, np.ndarray):
            self._check_width(data.shape)
            if data.dtype.kind in "OSU":
                try:
                    return data.astype(np.float64)
                except (TypeError, ValueError):
                    raise SignatureMismatch(
                        f"the XGBoost model expects a numeric array, got dtype {data.dtype}"
                    ) from None
            return data
        if isinstance(data, list | dict):
            raise SignatureMismatch(
                "the XGBoost model takes a DataFrame or a 2-D numpy array, "
                f"got {type(data).__name__}"
            )
        return data

    def _check_width(self, shape: tuple[int, ...]) -> None:
        if len(shape) != 2 or (self._n_features and shape[1] != self._n_features):
            got = f"{shape[1]} columns" if len(shape) == 2 else f"shape {tuple(shape)}"
            raise SignatureMismatch(
                f"the XGBoost model expects input of shape (-1, {self._n_features}), got {got}"
            )


def _default_columns(df: pd.DataFrame) -> bool:
    return isinstance(df.columns, pd.RangeIndex)


def _first_non_number(values: pd.Series) -> Any:
    for value in values:
        try:
            float(value)
        except (TypeError, ValueError):
            return value
    return None


def _few(names: list[str], limit: int = 5) -> str:
    shown = ", ".join(repr(n) for n in names[:limit])
    return f"[{shown}{', ...' if len(names) > limit else ''}] ({len(names)})"


def save_model(xgb_model: object, path: str | Path, **kwargs: Any) -> Any:
    """``modelpack.save_model`` with the xgboost flavor (``model_format="ubj"`` or ``"json"``)."""
    return save_flavor_model(XGBoostFlavor(), xgb_model, path, **kwargs)


def load_model(model_uri: str | Path, *, settings: Settings | None = None) -> object:
    """The Booster or scikit-learn-API model itself, from a package saved by modelpack or MLflow."""
    return load_native_model(XGBoostFlavor(), model_uri, settings)
