"""The scikit-learn flavor, and its interchange with real MLflow in both directions."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from hypothesis import given
from hypothesis import settings as hypothesis_settings
from sklearn.linear_model import LinearRegression

import modelpack
from modelpack.errors import InvalidArgument, InvalidModel, PickleRefused
from modelpack.flavors import sklearn as sk_flavor
from modelpack.format.manifest import write_manifest
from modelpack.settings import Settings

from . import tampering

STRICT = Settings(allow_pickle=False)


@pytest.fixture(scope="module")
def classifier(wine_frame: pd.DataFrame, wine_target: np.ndarray):
    from sklearn.linear_model import LogisticRegression

    return LogisticRegression(max_iter=500).fit(wine_frame, wine_target > np.median(wine_target))


@pytest.mark.mlflow
@pytest.mark.parametrize("fmt", ["skops", "cloudpickle"])
def test_package_saved_by_mlflow_predicts_identically(
    tmp_path: Path, fmt: str, elasticnet, wine_frame: pd.DataFrame
) -> None:
    import mlflow.sklearn

    mlflow.sklearn.save_model(elasticnet, str(tmp_path / "m"), serialization_format=fmt)
    ours = modelpack.load_model(tmp_path / "m").predict(wine_frame)
    np.testing.assert_array_equal(ours, elasticnet.predict(wine_frame))


@pytest.mark.mlflow
@pytest.mark.parametrize("fmt", ["skops", "cloudpickle", "pickle"])
def test_mlflow_loads_our_package(tmp_path: Path, fmt: str, elasticnet, wine_frame) -> None:
    import mlflow.pyfunc
    import mlflow.sklearn

    path = tmp_path / "m"
    sk_flavor.save_model(elasticnet, path, serialization_format=fmt, input_example=wine_frame[:2])
    expected = elasticnet.predict(wine_frame)
    np.testing.assert_array_equal(mlflow.pyfunc.load_model(str(path)).predict(wine_frame), expected)
    np.testing.assert_array_equal(
        mlflow.sklearn.load_model(str(path)).predict(wine_frame), expected
    )


def test_flavor_fields_are_mlflows(sklearn_package: Path) -> None:
    flavors = yaml.safe_load((sklearn_package / "MLmodel").read_text())["flavors"]
    assert flavors["sklearn"]["pickled_model"] == "model.skops"
    assert flavors["sklearn"]["serialization_format"] == "skops"
    assert flavors["python_function"]["loader_module"] == "mlflow.sklearn"
    assert flavors["python_function"]["model_path"] == "model.skops"
    assert flavors["python_function"]["predict_fn"] == "predict"
    assert (sklearn_package / "model.skops").is_file()


def test_predict_proba_through_pyfunc_predict_fn(tmp_path: Path, classifier, wine_frame) -> None:
    sk_flavor.save_model(classifier, tmp_path / "m", pyfunc_predict_fn="predict_proba")
    out = modelpack.load_model(tmp_path / "m").predict(wine_frame)
    np.testing.assert_array_equal(out, classifier.predict_proba(wine_frame))


def test_unknown_predict_fn_is_refused(tmp_path: Path, elasticnet) -> None:
    with pytest.raises(InvalidArgument, match="the estimator ElasticNet has no such method"):
        sk_flavor.save_model(elasticnet, tmp_path / "m", pyfunc_predict_fn="predict_proba")
    assert not (tmp_path / "m").exists()


def test_unknown_format_is_refused(tmp_path: Path, elasticnet) -> None:
    with pytest.raises(InvalidArgument, match="serialization_format must be one of"):
        sk_flavor.save_model(elasticnet, tmp_path / "m", serialization_format="joblib")


def test_load_model_returns_the_estimator(sklearn_package: Path, elasticnet, wine_frame) -> None:
    estimator = sk_flavor.load_model(sklearn_package)
    np.testing.assert_array_equal(estimator.predict(wine_frame), elasticnet.predict(wine_frame))


def test_pickle_is_refused_when_disallowed(tmp_path: Path, elasticnet) -> None:
    sk_flavor.save_model(elasticnet, tmp_path / "m", serialization_format="cloudpickle")
    with pytest.raises(PickleRefused) as info:
        modelpack.load_model(tmp_path / "m", settings=Settings(allow_pickle=False))
    assert str(tmp_path / "m" / "model.pkl") in str(info.value)
    assert "MODELPACK_ALLOW_PICKLE" in str(info.value)


def test_skops_loads_when_pickle_is_disallowed(sklearn_package: Path, wine_frame) -> None:
    model = modelpack.load_model(sklearn_package, settings=Settings(allow_pickle=False))
    assert model.predict(wine_frame).shape == (len(wine_frame),)


def test_untrusted_skops_types_are_refused(tmp_path: Path, elasticnet) -> None:
    sk_flavor.save_model(elasticnet, tmp_path / "m")
    mlmodel = tmp_path / "m" / "MLmodel"
    # A package whose skops file holds a type nobody listed as trusted.
    import skops.io as sio
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import FunctionTransformer

    sio.dump(make_pipeline(FunctionTransformer(abs), elasticnet), tmp_path / "m" / "model.skops")
    write_manifest(tmp_path / "m")  # as if saved that way: the skops check is what is tested
    text = mlmodel.read_text()
    assert "skops_trusted_types: null" in text
    with pytest.raises(InvalidModel, match="holds types that are not trusted"):
        modelpack.load_model(tmp_path / "m")


def test_custom_types_are_recorded_as_trusted_at_save(
    tmp_path: Path, elasticnet, wine_frame
) -> None:
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import FunctionTransformer

    pipe = make_pipeline(FunctionTransformer(abs), elasticnet)
    sk_flavor.save_model(pipe, tmp_path / "m")
    trusted = yaml.safe_load((tmp_path / "m" / "MLmodel").read_text())["flavors"]["sklearn"][
        "skops_trusted_types"
    ]
    assert trusted == ["builtins.abs"]
    out = modelpack.load_model(tmp_path / "m").predict(wine_frame)
    np.testing.assert_array_equal(out, pipe.predict(wine_frame))


def test_a_package_cannot_trust_skops_types_for_itself_when_pickle_is_off(
    tmp_path: Path, elasticnet, wine_frame
) -> None:
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import FunctionTransformer

    pipe = make_pipeline(FunctionTransformer(abs), elasticnet)
    sk_flavor.save_model(pipe, tmp_path / "m")
    file = tmp_path / "m" / "model.skops"
    loaded = modelpack.load_model(tmp_path / "m", settings=Settings(allow_pickle=True))
    np.testing.assert_array_equal(loaded.predict(wine_frame), pipe.predict(wine_frame))
    expected = (
        f"{file} holds types outside skops' built-in safe list: ['builtins.abs'] (the package's "
        "skops_trusted_types are not trusted when pickle is off), and MODELPACK_ALLOW_PICKLE is "
        "false; load it only if you trust its source (set MODELPACK_ALLOW_PICKLE=true)"
    )
    for load in (modelpack.load_model, sk_flavor.load_model):
        with pytest.raises(PickleRefused) as info:
            load(tmp_path / "m", settings=STRICT)
        assert str(info.value) == expected


def test_skops_packages_load_with_pickle_off_through_load_model(
    sklearn_package: Path, elasticnet, wine_frame
) -> None:
    estimator = sk_flavor.load_model(sklearn_package, settings=STRICT)
    np.testing.assert_array_equal(estimator.predict(wine_frame), elasticnet.predict(wine_frame))


# ---------------------------------------------------------------------------------------------
# the pickle policy cannot be bypassed by editing MLmodel


class TripwireRegression(LinearRegression):
    """A linear regression that records each time it is unpickled."""

    def __setstate__(self, state: dict) -> None:
        tampering.record("sklearn")
        super().__setstate__(state)


@pytest.fixture(scope="module")
def tripwire_package(tmp_path_factory: pytest.TempPathFactory, wine_frame, wine_target) -> Path:
    model = TripwireRegression().fit(wine_frame, wine_target)
    path = tmp_path_factory.mktemp("tripwire") / "m"
    sk_flavor.save_model(model, path, serialization_format="cloudpickle")
    return tampering.plant_model_code(path)


def test_the_tripwire_records_unpickling(tripwire_package: Path, wine_frame) -> None:
    tampering.reset()
    model = sk_flavor.load_model(tripwire_package, settings=Settings(allow_pickle=True))
    assert tampering.UNPICKLED == ["sklearn"]
    assert model.predict(wine_frame).shape == (len(wine_frame),)


def _strict_pyfunc(path: Path) -> object:
    return modelpack.load_model(path, settings=STRICT)


def _strict_native(path: Path) -> object:
    return sk_flavor.load_model(path, settings=STRICT)


@hypothesis_settings(max_examples=100, deadline=None)
@given(edits=tampering.mlmodel_edits)
def test_no_mlmodel_edit_unpickles_with_pickle_off(tripwire_package: Path, edits) -> None:
    tampering.assert_never_unpickles(
        tripwire_package, "sklearn", edits, _strict_pyfunc, _strict_native
    )


def test_loading_a_skops_package_does_not_import_torch(sklearn_package: Path) -> None:
    import subprocess
    import sys

    code = (
        "import sys, modelpack\n"
        f"modelpack.load_model({str(sklearn_package)!r})\n"
        "print('torch' in sys.modules)\n"
        "import torch\n"  # still importable afterwards
        "print(torch.zeros(1).shape[0])\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "1"]
