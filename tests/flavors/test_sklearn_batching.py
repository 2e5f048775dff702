"""Which scikit-learn models may be batched: merging rows must not change a bit of any answer."""

from __future__ import annotations

import importlib
import warnings
from typing import Any

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from modelpack.flavors.sklearn import _ROW_EXACT, row_exact
from modelpack.signature.frames import frame_from_block

pytest.importorskip("sklearn")


def _class(name: str) -> type:
    module, _, attr = name.rpartition(".")
    return getattr(importlib.import_module(module), attr)


@pytest.fixture(scope="module")
def data() -> tuple[pd.DataFrame, np.ndarray, np.ndarray]:
    from sklearn.datasets import load_diabetes

    x, y = load_diabetes(return_X_y=True, as_frame=True)
    labels = np.digitize(y, np.quantile(y, [0.33, 0.66]))
    return frame_from_block(x.to_numpy().T, x.columns), y.to_numpy(), labels


_FITTED: dict[str, tuple[Any, pd.DataFrame]] = {}


def _fitted(name: str, data: tuple[pd.DataFrame, np.ndarray, np.ndarray]) -> Any:
    if name not in _FITTED:
        _FITTED[name] = _fit(name, data)
    return _FITTED[name]


def _fit(name: str, data: tuple[pd.DataFrame, np.ndarray, np.ndarray]) -> Any:
    from sklearn.pipeline import make_pipeline
    from sklearn.tree import DecisionTreeRegressor

    x, y, labels = data
    cls = _class(name)
    kwargs = {"random_state": 0} if "random_state" in cls().get_params() else {}
    if "n_estimators" in cls().get_params():
        kwargs["n_estimators"] = 20
    if "max_iter" in cls().get_params():
        kwargs["max_iter"] = 20
    estimator = cls(**kwargs)
    if not hasattr(estimator, "predict"):  # a transformer: measured in front of a tree
        if "Encoder" in name:
            x = (x * 100).round().astype(int).astype(str)
        estimator = make_pipeline(estimator, DecisionTreeRegressor(random_state=0))
        return estimator.fit(x, y), x
    return estimator.fit(x, labels if "Classifier" in name else y), x


def _answers(model: Any, x: pd.DataFrame) -> np.ndarray:
    method = model.predict_proba if hasattr(model, "predict_proba") else model.predict
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return np.asarray(method(x))


@pytest.mark.parametrize("name", sorted(_ROW_EXACT))
@settings(
    max_examples=8, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(cuts=st.lists(st.integers(1, 60), min_size=2, max_size=8), start=st.integers(0, 300))
def test_merged_rows_answer_as_each_request_alone(
    name: str, data, cuts: list[int], start: int
) -> None:
    model, x = _fitted(name, data)
    assert row_exact(model)
    requests = []
    at = start
    for n in cuts:
        requests.append(x.iloc[at : at + n])
        at += n
    requests = [r for r in requests if len(r)]
    alone = np.concatenate([_answers(model, r) for r in requests])
    merged = _answers(model, pd.concat(requests, ignore_index=True))
    assert merged.tobytes() == alone.tobytes()


def test_models_with_matrix_products_are_not_batched(data) -> None:
    from sklearn.linear_model import LinearRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    x, y, _ = data
    linear = LinearRegression().fit(x, y)
    assert not row_exact(linear)
    assert not row_exact(make_pipeline(StandardScaler(), linear))
    # Why: one row at a time, some answers differ in their last bit from the merged call.
    alone = np.concatenate([linear.predict(x.iloc[i : i + 1]) for i in range(len(x))])
    assert (alone != linear.predict(x)).any()
