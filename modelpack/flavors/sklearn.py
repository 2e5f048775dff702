"""scikit-learn estimators, stored with skops (the default), cloudpickle or pickle."""

from __future__ import annotations

import copy
import pickle
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pandas as pd

from modelpack.errors import InvalidArgument, InvalidModel
from modelpack.flavors._contract import (
    SavedFlavor,
    load_native_model,
    module_loaded,
    require,
    save_flavor_model,
)
from modelpack.format.opener import import_skops, load_pickle, skops_load
from modelpack.format.references import pickle_modules, skops_modules
from modelpack.settings import Settings
from modelpack.signature.frames import model_array

__all__ = ["FORMATS", "SklearnFlavor", "load_model", "row_exact", "save_model"]

FORMATS = ("skops", "cloudpickle", "pickle")
PREDICT_FNS = (
    "predict",
    "predict_proba",
    "predict_log_proba",
    "predict_joint_log_proba",
    "score",
    "decision_function",
    "transform",
)
_FILES = {"skops": "model.skops", "cloudpickle": "model.pkl", "pickle": "model.pkl"}


class SklearnFlavor:
    name: ClassVar[str] = "sklearn"
    priority: ClassVar[int] = 50

    def can_save(self, obj: object) -> bool:
        base = module_loaded("sklearn.base")
        return base is not None and isinstance(obj, base.BaseEstimator)

    def save(
        self,
        obj: object,
        path: Path,
        serialization_format: str = "skops",
        pyfunc_predict_fn: str = "predict",
        skops_trusted_types: list[str] | None = None,
        **_: Any,
    ) -> SavedFlavor:
        sklearn = require("sklearn", self.name, "scikit-learn")
        if serialization_format not in FORMATS:
            raise InvalidArgument(
                f"serialization_format must be one of {list(FORMATS)}, got {serialization_format!r}"
            )
        if pyfunc_predict_fn not in PREDICT_FNS or not callable(
            getattr(obj, pyfunc_predict_fn, None)
        ):
            raise InvalidArgument(
                f"pyfunc_predict_fn {pyfunc_predict_fn!r}: the estimator "
                f"{type(obj).__name__} has no such method (choose from {list(PREDICT_FNS)})"
            )
        file = _FILES[serialization_format]
        requirements = ["scikit-learn"]
        if serialization_format == "skops":
            sio = import_skops()
            sio.dump(obj, path / file)
            trusted = list(skops_trusted_types or sio.get_untrusted_types(file=path / file))
            modules = skops_modules(path / file)
            requirements.append("skops")
        else:
            if serialization_format == "cloudpickle":
                import cloudpickle

                with open(path / file, "wb") as fh:
                    cloudpickle.dump(obj, fh)
                requirements.append("cloudpickle")
            else:
                with open(path / file, "wb") as fh:
                    pickle.dump(obj, fh)
            trusted = []
            modules = pickle_modules(path / file)
        conf = {
            "pickled_model": file,
            "sklearn_version": sklearn.__version__,
            "serialization_format": serialization_format,
            "code": None,
            "skops_trusted_types": trusted or None,
        }
        pyfunc = {
            "loader_module": "mlflow.sklearn",
            "model_path": file,
            "predict_fn": pyfunc_predict_fn,
        }
        return SavedFlavor(conf, pyfunc, requirements, modules)

    def load_native(self, path: Path, conf: Mapping[str, Any], settings: Settings) -> object:
        require("sklearn", self.name, "scikit-learn")
        file = path / str(conf.get("pickled_model") or "model.pkl")
        if not file.is_file():
            raise InvalidModel(f"the sklearn model file {file} is missing")
        if conf.get("serialization_format") == "skops":
            trusted = conf.get("skops_trusted_types") or []
            if not isinstance(trusted, list):
                raise InvalidModel(
                    "the sklearn flavor's skops_trusted_types must be a list of type names, "
                    f"got {type(trusted).__name__}"
                )
            return skops_load(file, settings, [str(t) for t in trusted])
        return load_pickle(file, settings)

    def load_predictor(
        self,
        path: Path,
        conf: Mapping[str, Any],
        pyfunc_conf: Mapping[str, Any],
        settings: Settings,
    ) -> _SklearnPredictor:
        estimator = self.load_native(path, conf, settings)
        fn_name = str(pyfunc_conf.get("predict_fn") or "predict")
        if not callable(getattr(estimator, fn_name, None)):
            raise InvalidModel(f"the estimator {type(estimator).__name__} has no {fn_name}()")
        return _SklearnPredictor(estimator, fn_name, batch_exact=row_exact(estimator))


# Estimators whose answer for a row never depends on the other rows of the call, to the bit:
# trees and tree ensembles add up per-row values in a fixed order, and these transformers work
# element by element. Anything with a matrix product (linear models, neighbours, SVMs, MLPs)
# is left out: BLAS handles the last rows of a call apart from the others, so merging requests
# would change the last bit of some answers (measured: 91 of 442 diabetes rows for
# LinearRegression). tests/flavors/test_sklearn_batching.py checks each entry on random data.
_TREES_AND_SCALERS = frozenset(
    {
        "sklearn.tree._classes.DecisionTreeClassifier",
        "sklearn.tree._classes.DecisionTreeRegressor",
        "sklearn.ensemble._forest.RandomForestClassifier",
        "sklearn.ensemble._forest.RandomForestRegressor",
        "sklearn.ensemble._forest.ExtraTreesClassifier",
        "sklearn.ensemble._forest.ExtraTreesRegressor",
        "sklearn.ensemble._gb.GradientBoostingClassifier",
        "sklearn.ensemble._gb.GradientBoostingRegressor",
        "sklearn.ensemble._hist_gradient_boosting.gradient_boosting.HistGradientBoostingClassifier",
        "sklearn.ensemble._hist_gradient_boosting.gradient_boosting.HistGradientBoostingRegressor",
        "sklearn.preprocessing._data.StandardScaler",
        "sklearn.preprocessing._data.MinMaxScaler",
        "sklearn.preprocessing._data.MaxAbsScaler",
    }
)
_ROW_EXACT = _TREES_AND_SCALERS | {
    "sklearn.tree._classes.ExtraTreeClassifier",
    "sklearn.tree._classes.ExtraTreeRegressor",
    "sklearn.preprocessing._encoders.OneHotEncoder",
    "sklearn.preprocessing._encoders.OrdinalEncoder",
    "sklearn.impute._base.SimpleImputer",
}


def row_exact(estimator: object) -> bool:
    """Whether merging requests into one call leaves every answer of ``estimator`` unchanged.

    A Pipeline qualifies when each of its steps does (``"passthrough"`` and None steps too).
    """
    cls = type(estimator)
    name = f"{cls.__module__}.{cls.__qualname__}"
    if name == "sklearn.pipeline.Pipeline":
        steps = getattr(estimator, "steps", [])
        return all(step in (None, "passthrough") or row_exact(step) for _, step in steps)
    return name in _ROW_EXACT


# Estimators that compute from ``np.asarray(frame)`` and nothing else of a DataFrame but its column
# names (which scikit-learn checks against ``feature_names_in_``): given that array instead, they
# give the same answer to the bit, and skip ~2 ms of DataFrame checks per call (narwhals, a dtype
# check per column). tests/flavors/test_fast_paths.py checks each entry on random data.
_ARRAY_EXACT = _TREES_AND_SCALERS | {
    "sklearn.linear_model._base.LinearRegression",
    "sklearn.linear_model._ridge.Ridge",
    "sklearn.linear_model._coordinate_descent.Lasso",
    "sklearn.linear_model._coordinate_descent.ElasticNet",
    "sklearn.linear_model._logistic.LogisticRegression",
}


def array_exact(estimator: object) -> bool:
    """Whether ``estimator`` answers a DataFrame and ``np.asarray`` of it alike, to the bit.

    A Pipeline qualifies when each of its steps does and none changes its output container
    (``set_output``): a step that outputs a DataFrame hands the next one names.
    """
    cls = type(estimator)
    name = f"{cls.__module__}.{cls.__qualname__}"
    if getattr(estimator, "_sklearn_output_config", None):
        return False
    if name == "sklearn.pipeline.Pipeline":
        steps = getattr(estimator, "steps", [])
        return all(step in (None, "passthrough") or array_exact(step) for _, step in steps)
    if getattr(estimator, "_preprocessor", None) is not None:
        # HistGradientBoosting fitted on pandas categories encodes them by column name.
        return False
    return name in _ARRAY_EXACT


# Linear regressors whose ``predict`` is ``validate_data`` then ``X @ coef_ + intercept_``
# (scikit-learn's ``LinearModel._decision_function``). On a float array that validation changes
# nothing (same array, same strides) or refuses it (NaN, infinity): the product alone gives the
# same bits at a twentieth of the cost (~5 us instead of ~110 for one row).
_LINEAR = frozenset(
    {
        "sklearn.linear_model._base.LinearRegression",
        "sklearn.linear_model._ridge.Ridge",
        "sklearn.linear_model._coordinate_descent.Lasso",
        "sklearn.linear_model._coordinate_descent.ElasticNet",
    }
)


def _linear_predict(estimator: Any, checked: Callable[[np.ndarray], Any]) -> Any:
    """``estimator.predict`` for a finite float array of its width; any other array goes to
    ``checked`` (scikit-learn's own path: its conversions and its refusals)."""
    coef, intercept = estimator.coef_, estimator.intercept_
    if not isinstance(coef, np.ndarray) or coef.ndim not in (1, 2):
        return checked  # sparse coefficients: scikit-learn's own path
    weights = coef if coef.ndim == 1 else coef.T
    width = weights.shape[0]

    def predict(array: np.ndarray) -> Any:
        if (
            array.dtype.kind != "f"
            or array.ndim != 2
            or array.shape[0] == 0
            or array.shape[1] != width
            or not np.isfinite(array).all()
        ):
            return checked(array)
        return array @ weights + intercept

    return predict


def _without_feature_names(estimator: Any) -> Any:
    """A shallow copy of ``estimator`` (a Pipeline's steps copied too) without
    ``feature_names_in_``: scikit-learn warns when an estimator fitted on a DataFrame is handed an
    array, and the predictor has already checked the names itself."""
    out = copy.copy(estimator)
    if type(estimator).__name__ == "Pipeline":
        out.steps = [
            (n, _without_feature_names(s)) if hasattr(s, "fit") else (n, s)
            for n, s in estimator.steps
        ]
    out.__dict__.pop("feature_names_in_", None)
    return out


class _SklearnPredictor:
    """The estimator's ``predict_fn``; for a frame of one numeric block whose columns are the
    estimator's own features, in order, the same call on ``np.asarray(frame)`` (``array_exact``)."""

    def __init__(self, estimator: Any, fn_name: str, *, batch_exact: bool = False) -> None:
        self._fn = getattr(estimator, fn_name)
        self.batch_exact = batch_exact
        """Requests may be merged into one call without changing a bit (see ``row_exact``)."""
        self._array_fn = None
        self._names: list[Any] | None = None
        if array_exact(estimator):
            names = getattr(estimator, "feature_names_in_", None)
            self._names = None if names is None else list(names)
            self._array_fn = getattr(_without_feature_names(estimator), fn_name)
            cls = type(estimator)
            if fn_name == "predict" and f"{cls.__module__}.{cls.__qualname__}" in _LINEAR:
                self._array_fn = _linear_predict(estimator, self._array_fn)
        self._seen: pd.Index | None = None  # the last columns found to be the features

    def predict(self, data: Any, params: Mapping[str, Any] | None = None) -> Any:
        if self._array_fn is not None and isinstance(data, pd.DataFrame):
            array = model_array(data)
            if array is not None and self._features(data.columns) and self._default_output():
                return self._array_fn(array)
        return self._fn(data)

    def _features(self, columns: pd.Index) -> bool:
        """The columns are the estimator's features in order (or it was fitted without names:
        scikit-learn then only counts them, on the array too)."""
        if self._names is None or columns is self._seen:
            return True
        if columns.tolist() != self._names:
            return False  # scikit-learn says what differs
        self._seen = columns  # the plan hands every request the same Index object
        return True

    def _default_output(self) -> bool:
        """Transformers return arrays (``sklearn.set_config(transform_output=...)`` not set):
        a frame they return would take its column names from ``feature_names_in_``."""
        import sklearn

        return bool(sklearn.get_config().get("transform_output", "default") == "default")


def save_model(sk_model: object, path: str | Path, **kwargs: Any) -> Any:
    """``modelpack.save_model`` with the sklearn flavor."""
    return save_flavor_model(SklearnFlavor(), sk_model, path, **kwargs)


def load_model(model_uri: str | Path, *, settings: Settings | None = None) -> object:
    """The estimator itself, from a package saved by modelpack or MLflow."""
    return load_native_model(SklearnFlavor(), model_uri, settings)
