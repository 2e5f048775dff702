"""Each flavor's fast path answers as its plain path does, bit for bit, on random input.

A fast path hands the library the input form it predicts fastest from, once modelpack's own
checks have made sure that the form carries the same information: scikit-learn estimators get
``np.asarray(frame)`` instead of the frame. The plain path is what MLflow calls (the estimator on
the DataFrame); each property compares the two answers' bytes, or the two errors.
"""

from __future__ import annotations

import importlib
import warnings
from typing import Any

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from modelpack.signature.frames import frame_from_block, model_array

pytest.importorskip("sklearn")

from modelpack.flavors.sklearn import _ARRAY_EXACT, _LINEAR, _SklearnPredictor, array_exact

COLUMNS = [f"f{i}" for i in range(6)]
PROPERTY = settings(
    max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)

# Values as requests carry them: ordinary numbers, large and tiny ones, exact zeros, negatives.
cells = st.floats(
    min_value=-1e12, max_value=1e12, allow_nan=False, allow_infinity=False, width=64
) | st.sampled_from([0.0, -0.0, 1e-300, 0.5, 1.0, 123456.789])


def frames(dtype: type = np.float64, nan: bool = False) -> st.SearchStrategy[pd.DataFrame]:
    """Frames as the codecs build them (one C-contiguous block of shape (columns, rows): pandas'
    layout, MLflow's) and, from a Python caller, over a row-major array (the other layout)."""
    elements = (cells | st.just(float("nan"))) if nan else cells
    if dtype is np.int64:
        elements = st.integers(-(2**40), 2**40)
    arrays = hnp.arrays(
        dtype, st.tuples(st.just(len(COLUMNS)), st.integers(1, 40)), elements=elements
    )
    return st.tuples(arrays, st.booleans()).map(_frame)


def _frame(args: tuple[np.ndarray, bool]) -> pd.DataFrame:
    block, pandas_layout = args
    if pandas_layout:
        return frame_from_block(block, COLUMNS)
    return pd.DataFrame(np.ascontiguousarray(block.T), columns=COLUMNS, copy=False)


def _class(name: str) -> type:
    module, _, attr = name.rpartition(".")
    return getattr(importlib.import_module(module), attr)


_FITTED: dict[tuple[str, bool], Any] = {}


def _fitted(name: str, named: bool) -> Any:
    """An estimator of class ``name`` fitted on a frame (``named``) or on an array."""
    key = (name, named)
    if key not in _FITTED:
        from sklearn.pipeline import make_pipeline
        from sklearn.tree import DecisionTreeRegressor

        rng = np.random.default_rng(0)
        x = frame_from_block(rng.normal(size=(len(COLUMNS), 200)) * 10, COLUMNS)
        y = x["f0"] * 2 + x["f1"] - x["f2"] + rng.normal(size=200)
        labels = np.digitize(y, np.quantile(y, [0.33, 0.66]))
        cls = _class(name)
        params = cls().get_params()
        kwargs: dict[str, Any] = {"random_state": 0} if "random_state" in params else {}
        if "n_estimators" in params:
            kwargs["n_estimators"] = 10
        if "HistGradientBoosting" in name:
            kwargs["max_iter"] = 10
        estimator = cls(**kwargs)
        if not hasattr(estimator, "predict"):  # a transformer: in front of a tree
            estimator = make_pipeline(estimator, DecisionTreeRegressor(random_state=0))
        target = labels if "Classifier" in name or "Logistic" in name else y
        _FITTED[key] = estimator.fit(x if named else x.to_numpy(), target)
    return _FITTED[key]


def _plain(estimator: Any, method: str, frame: pd.DataFrame) -> Any:
    """What MLflow does: the estimator's method on the DataFrame (an estimator fitted on an
    array warns that the frame has names; that is not an answer)."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "X has feature names", UserWarning)
        return _outcome(lambda: getattr(estimator, method)(frame))


def _outcome(call: Any) -> tuple[str, Any]:
    try:
        out = np.asarray(call())
    except ValueError as exc:
        return "error", f"{type(exc).__name__}: {exc}"
    return "answer", (out.dtype.str, out.shape, out.tobytes())


def _methods(estimator: Any) -> list[str]:
    return [m for m in ("predict", "predict_proba", "transform") if hasattr(estimator, m)]


@pytest.mark.parametrize("named", [True, False], ids=["fitted-on-frame", "fitted-on-array"])
@pytest.mark.parametrize("name", sorted(_ARRAY_EXACT))
@PROPERTY
@given(frame=frames())
def test_scikit_learn_on_the_array_answers_as_on_the_frame(
    name: str, named: bool, frame: pd.DataFrame
) -> None:
    estimator = _fitted(name, named)
    assert array_exact(estimator)
    for method in _methods(estimator):
        predictor = _SklearnPredictor(estimator, method)
        assert predictor._array_fn is not None
        fast = _outcome(lambda p=predictor: p.predict(frame))  # type: ignore[misc]
        assert fast == _plain(estimator, method, frame), method


@pytest.mark.parametrize("name", sorted(_ARRAY_EXACT))
@PROPERTY
@given(frame=frames(nan=True) | frames(np.int64))
def test_missing_values_and_integers_meet_the_same_answer_or_the_same_refusal(
    name: str, frame: pd.DataFrame
) -> None:
    estimator = _fitted(name, True)
    predictor = _SklearnPredictor(estimator, "predict")
    assert _outcome(lambda: predictor.predict(frame)) == _plain(estimator, "predict", frame)


@settings(max_examples=30, deadline=None)
@given(frame=frames(nan=True) | frames(np.int64), dtype=st.sampled_from([None, np.float32]))
def test_scikit_learn_validates_the_array_into_the_layout_it_makes_of_the_frame(
    frame: pd.DataFrame, dtype: Any
) -> None:
    """The layout decides a BLAS sum's order: what scikit-learn computes on must be the array it
    makes of the frame to the strides, whether it keeps the dtype or converts (trees: float32)."""
    from sklearn.utils.validation import check_array

    kwargs = {"dtype": dtype, "ensure_all_finite": False}
    expected = check_array(frame, **kwargs)
    got = check_array(model_array(frame), **kwargs)
    assert got.dtype == expected.dtype and got.shape == expected.shape
    assert got.strides == expected.strides
    assert got.flags.f_contiguous == expected.flags.f_contiguous
    assert got.tobytes() == expected.tobytes()


@pytest.mark.parametrize("name", sorted(_LINEAR))
@PROPERTY
@given(frame=frames(), outputs=st.sampled_from([1, 2]))
def test_linear_regressors_compute_the_product_alone_to_the_same_bits(
    name: str, outputs: int, frame: pd.DataFrame
) -> None:
    """Linear regressors skip scikit-learn's validation on finite float arrays (their own
    function, not the estimator's method) and still answer as the estimator does on the frame,
    with one target or several (a 2-d ``coef_``)."""
    rng = np.random.default_rng(outputs)
    x = frame_from_block(rng.normal(size=(len(COLUMNS), 50)), COLUMNS)
    y = rng.normal(size=(50, outputs)) if outputs > 1 else rng.normal(size=50)
    estimator = _class(name)().fit(x, y)
    predictor = _SklearnPredictor(estimator, "predict")
    assert not hasattr(predictor._array_fn, "__self__")  # the product, not a bound method
    assert _outcome(lambda: predictor.predict(frame)) == _plain(estimator, "predict", frame)


def test_other_columns_or_layouts_take_the_plain_path() -> None:
    estimator = _fitted("sklearn.linear_model._coordinate_descent.ElasticNet", True)
    predictor = _SklearnPredictor(estimator, "predict")
    frame = frame_from_block(np.ones((len(COLUMNS), 3)), COLUMNS)
    assert predictor._features(frame.columns)
    renamed = frame.rename(columns={"f0": "g0"})
    assert not predictor._features(renamed.columns)
    with pytest.raises(ValueError, match="The feature names should match"):
        predictor.predict(renamed)  # scikit-learn's own refusal, as under MLflow
    mixed = frame.assign(f0=frame["f0"].astype(np.int64))
    assert model_array(mixed) is None  # two blocks: the frame goes to scikit-learn as it is


def test_pipelines_qualify_step_by_step() -> None:
    from sklearn.linear_model import LinearRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import FunctionTransformer, StandardScaler

    assert array_exact(make_pipeline(StandardScaler(), LinearRegression()))
    assert not array_exact(make_pipeline(FunctionTransformer(np.log1p), LinearRegression()))
    assert not array_exact(make_pipeline(StandardScaler().set_output(transform="pandas")))


def test_histogram_boosting_on_pandas_categories_keeps_the_frame() -> None:
    from sklearn.ensemble import HistGradientBoostingRegressor

    x = pd.DataFrame({"a": [1.0, 2.0, 3.0, 4.0] * 10, "b": pd.Categorical(["u", "v"] * 20)})
    model = HistGradientBoostingRegressor(max_iter=5).fit(x, np.arange(40.0))
    assert not array_exact(model)
    assert _SklearnPredictor(model, "predict")._array_fn is None


@PROPERTY
@given(frame=frames())
def test_a_transformer_under_pandas_output_answers_as_on_the_frame(frame: pd.DataFrame) -> None:
    """``set_config(transform_output="pandas")`` names a transformer's output columns after the
    features it was fitted on: the frame goes to scikit-learn as it is."""
    import sklearn

    scaler = _fitted("sklearn.preprocessing._data.StandardScaler", True).steps[0][1]
    predictor = _SklearnPredictor(scaler, "transform")
    with sklearn.config_context(transform_output="pandas"):
        fast = predictor.predict(frame)
        plain = scaler.transform(frame)
    assert list(fast.columns) == list(plain.columns) == COLUMNS
    assert fast.to_numpy().tobytes() == plain.to_numpy().tobytes()


@PROPERTY
@given(frame=frames())
def test_a_pipeline_answers_as_on_the_frame(frame: pd.DataFrame) -> None:
    from sklearn.linear_model import Ridge
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    x = frame_from_block(np.random.default_rng(3).normal(size=(len(COLUMNS), 100)), COLUMNS)
    pipeline = make_pipeline(StandardScaler(), Ridge()).fit(x, x["f0"] - x["f3"])
    predictor = _SklearnPredictor(pipeline, "predict")
    assert _outcome(lambda: predictor.predict(frame)) == _plain(pipeline, "predict", frame)


@settings(max_examples=60, deadline=None)
@given(
    block=hnp.arrays(
        st.sampled_from([np.float64, np.float32, np.int64, np.int32]),
        st.tuples(st.integers(1, 8), st.integers(0, 30)),
    ),
    copy_layout=st.booleans(),
)
def test_model_array_is_what_numpy_makes_of_the_frame(block: np.ndarray, copy_layout: bool) -> None:
    frame = frame_from_block(block, [f"c{i}" for i in range(block.shape[0])])
    if copy_layout:
        frame = frame.copy()
    expected = np.asarray(frame)
    got = model_array(frame)
    assert got is not None
    assert got.dtype == expected.dtype and got.shape == expected.shape
    assert got.strides == expected.strides
    assert got.flags.writeable == expected.flags.writeable
    assert got.tobytes() == expected.tobytes()


# ---------------------------------------------------------------------------------------------
# XGBoost: the array read in place (inplace_predict), one thread for small batches


_XGB: dict[str, Any] = {}


def _xgb_model(kind: str) -> Any:
    """An XGBoost model of ``kind`` fitted on a frame, saved and loaded back as a package's is
    (loaded boosters use every core by default)."""
    if kind not in _XGB:
        xgb = pytest.importorskip("xgboost")
        rng = np.random.default_rng(1)
        x = frame_from_block(rng.normal(size=(len(COLUMNS), 300)) * 10, COLUMNS)
        x.iloc[::7, 2] = np.nan  # trees learn a direction for missing values
        y = x["f0"].fillna(0) * 2 - x["f1"]
        labels = np.digitize(y, np.quantile(y, [0.33, 0.66]))
        if kind in ("booster", "softprob"):
            params: dict[str, Any] = {"max_depth": 4}
            if kind == "softprob":
                params.update(objective="multi:softprob", num_class=3)
            target = labels if kind == "softprob" else y
            model: Any = xgb.train(params, xgb.DMatrix(x, target), num_boost_round=12)
            raw = model.save_raw("ubj")
            model = xgb.Booster()
        else:
            cls = xgb.XGBClassifier if kind == "classifier" else xgb.XGBRegressor
            fitted = cls(n_estimators=12, max_depth=4).fit(x, labels if kind == "classifier" else y)
            raw = fitted.get_booster().save_raw("ubj")
            model = cls()
        model.load_model(bytearray(raw))
        _XGB[kind] = model
    return _XGB[kind]


def _xgb_plain(model: Any, frame: pd.DataFrame) -> tuple[str, Any]:
    """MLflow's pyfunc: a Booster predicts a DMatrix of the frame, the scikit-learn API the frame,
    both with validate_features=True, on every core."""
    import xgboost as xgb

    booster = model if isinstance(model, xgb.Booster) else model.get_booster()
    booster.set_param({"nthread": 0})
    if isinstance(model, xgb.Booster):
        return _outcome(lambda: model.predict(xgb.DMatrix(frame), validate_features=True))
    return _outcome(lambda: model.predict(frame, validate_features=True))


@pytest.mark.parametrize("kind", ["booster", "softprob", "regressor", "classifier"])
@PROPERTY
@given(frame=frames(nan=True))
def test_xgboost_in_place_answers_as_through_a_dmatrix_or_the_frame(
    kind: str, frame: pd.DataFrame
) -> None:
    from modelpack.flavors.xgboost import _XGBoostPredictor

    model = _xgb_model(kind)
    predictor = _XGBoostPredictor(model)
    assert predictor._features_array(frame) is not None
    fast = _outcome(lambda: predictor.predict(frame))
    assert predictor._threads == 1  # a small batch
    assert fast == _xgb_plain(model, frame)


@pytest.mark.parametrize("kind", ["booster", "softprob", "classifier"])
@settings(max_examples=10, deadline=None)
@given(frame=frames(nan=True), repeat=st.integers(1, 300))
def test_xgboost_answers_alike_on_one_thread_and_on_all(
    kind: str, frame: pd.DataFrame, repeat: int
) -> None:
    from modelpack.flavors.xgboost import _XGBoostPredictor

    model = _xgb_model(kind)
    big = frame_from_block(np.tile(model_array(frame).T, repeat), COLUMNS)
    predictor = _XGBoostPredictor(model)
    array = model_array(big)
    booster = predictor._booster
    answers = []
    for threads in (1, 0, 2):
        booster.set_param({"nthread": threads})
        answers.append(
            np.asarray(booster.inplace_predict(array, validate_features=False)).tobytes()
        )
    predictor._threads = -1  # set above behind its back
    assert answers[0] == answers[1] == answers[2]
    assert _outcome(lambda: predictor.predict(big)) == _xgb_plain(model, big)


def test_xgboost_other_frames_take_the_plain_path() -> None:
    from modelpack.flavors.xgboost import _XGBoostPredictor

    predictor = _XGBoostPredictor(_xgb_model("regressor"))
    frame = frame_from_block(np.ones((len(COLUMNS), 2)), COLUMNS)
    assert predictor._features_array(frame[COLUMNS[::-1]]) is None  # reordered: the plain path
    assert predictor._features_array(frame.astype(np.int64)) is None  # integers: the plain path
    reordered = predictor.predict(frame[COLUMNS[::-1]])
    assert reordered.tobytes() == predictor.predict(frame).tobytes()


def test_xgboost_with_categorical_features_keeps_the_frame() -> None:
    import xgboost as xgb

    from modelpack.flavors.xgboost import _XGBoostPredictor

    x = pd.DataFrame({"a": np.arange(40.0), "b": pd.Categorical(["u", "v"] * 20)})
    booster = xgb.train(
        {"max_depth": 2}, xgb.DMatrix(x, np.arange(40.0), enable_categorical=True), 3
    )
    predictor = _XGBoostPredictor(booster)
    numeric = frame_from_block(np.ones((2, 3)), ["a", "b"])
    assert predictor._features_array(numeric) is None
