"""The xgboost flavor: Booster and scikit-learn-API models, interchangeable with real MLflow."""

from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import yaml
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import modelpack
from modelpack.cli import main
from modelpack.errors import InvalidArgument, InvalidModel, PickleRefused, SignatureMismatch
from modelpack.flavors import registry
from modelpack.flavors import xgboost as xgb_flavor
from modelpack.settings import Settings

xgb = pytest.importorskip("xgboost")

# MLflow's model_format="xgb" makes XGBoost >= 3.1 write UBJSON under a .xgb name, with a warning
# on save and on load; both come from xgboost and are expected here.
XGB_FILE_WARNINGS = [
    pytest.mark.filterwarnings("ignore:.*Saving model in the UBJSON format:UserWarning"),
    pytest.mark.filterwarnings("ignore:.*Unknown file format:UserWarning"),
]


@pytest.fixture(scope="module")
def rows(wine_frame: pd.DataFrame) -> dict[int, pd.DataFrame]:
    """1 and 10,000 rows with the wine columns."""
    rng = np.random.default_rng(3)
    big = pd.DataFrame(
        rng.uniform(0.1, 20.0, size=(10_000, wine_frame.shape[1])), columns=wine_frame.columns
    )
    return {1: big.head(1), 10_000: big}


@pytest.fixture(scope="module")
def models(wine_frame: pd.DataFrame, wine_target: np.ndarray) -> dict[str, object]:
    label = (wine_target > np.median(wine_target)).astype(int)
    small = {"n_estimators": 8, "max_depth": 3}
    return {
        "booster": xgb.train({"max_depth": 3}, xgb.DMatrix(wine_frame, wine_target), 8),
        "regressor": xgb.XGBRegressor(**small).fit(wine_frame, wine_target),
        "classifier": xgb.XGBClassifier(**small).fit(wine_frame, label),
        "ranker": xgb.XGBRanker(**small).fit(
            wine_frame, label, qid=np.repeat(np.arange(20), len(wine_frame) // 20)
        ),
    }


@pytest.fixture(scope="module")
def booster_package(tmp_path_factory: pytest.TempPathFactory, models, wine_frame) -> Path:
    path = tmp_path_factory.mktemp("xgb") / "booster"
    modelpack.save_model(models["booster"], path, input_example=wine_frame.head(3))
    return path


MLFLOW_CASES = [
    pytest.param("booster", "ubj"),
    pytest.param("booster", "json"),
    pytest.param("booster", "xgb", marks=XGB_FILE_WARNINGS),
    pytest.param("regressor", "ubj"),
    pytest.param("classifier", "json"),
    pytest.param("ranker", "ubj"),
]


@pytest.mark.mlflow
@pytest.mark.parametrize(("kind", "fmt"), MLFLOW_CASES)
def test_package_saved_by_mlflow_predicts_identically(
    tmp_path: Path, kind: str, fmt: str, models, rows, wine_frame
) -> None:
    import mlflow.pyfunc
    import mlflow.xgboost

    path = str(tmp_path / "m")
    mlflow.xgboost.save_model(
        models[kind],
        path,
        model_format=fmt,
        input_example=wine_frame.head(2),
        pip_requirements=["xgboost"],  # skips MLflow's slow requirement inference
    )
    theirs = mlflow.pyfunc.load_model(path)
    ours = modelpack.load_model(path)
    for n, frame in rows.items():
        np.testing.assert_array_equal(ours.predict(frame), theirs.predict(frame), err_msg=f"{n}")


@pytest.mark.mlflow
@pytest.mark.parametrize(
    ("kind", "fmt"), [("booster", "ubj"), ("booster", "json"), ("classifier", "ubj")]
)
def test_mlflow_loads_our_package(tmp_path: Path, kind: str, fmt: str, models, rows) -> None:
    import mlflow.pyfunc
    import mlflow.xgboost

    path = tmp_path / "m"
    xgb_flavor.save_model(models[kind], path, model_format=fmt, input_example=rows[1])
    ours = modelpack.load_model(path)
    theirs = mlflow.pyfunc.load_model(str(path))
    for frame in rows.values():
        np.testing.assert_array_equal(theirs.predict(frame), ours.predict(frame))
    assert type(mlflow.xgboost.load_model(str(path))) is type(models[kind])


def test_flavor_fields_are_mlflows(booster_package: Path) -> None:
    flavors = yaml.safe_load((booster_package / "MLmodel").read_text())["flavors"]
    assert flavors["xgboost"] == {
        "code": None,
        "data": "model.ubj",
        "model_class": "xgboost.core.Booster",
        "model_format": "ubj",
        "xgb_version": xgb.__version__,
    }
    assert flavors["python_function"]["loader_module"] == "mlflow.xgboost"
    assert flavors["python_function"]["data"] == "model.ubj"
    assert sorted(p.name for p in booster_package.iterdir() if p.suffix in (".ubj", ".pkl")) == [
        "model.ubj"
    ]


def _requirement_names(path: Path) -> list[str]:
    lines = (path / "requirements.txt").read_text().split()
    return [line.split("==")[0] for line in lines]


def test_booster_requirements_name_xgboost_and_no_sklearn(booster_package: Path) -> None:
    assert _requirement_names(booster_package) == ["numpy", "pandas", "xgboost"]
    assert f"xgboost=={xgb.__version__}" in (booster_package / "requirements.txt").read_text()


def test_sklearn_api_requirements_add_scikit_learn(tmp_path: Path, models) -> None:
    modelpack.save_model(models["regressor"], tmp_path / "m")
    assert _requirement_names(tmp_path / "m") == ["numpy", "pandas", "scikit-learn", "xgboost"]


@pytest.mark.parametrize("kind", ["booster", "regressor", "classifier", "ranker"])
def test_save_model_picks_xgboost_before_sklearn(kind: str, models) -> None:
    assert registry().for_object(models[kind]).name == "xgboost"


def test_model_class_is_recorded_and_used_at_load(tmp_path: Path, models, rows) -> None:
    classifier = models["classifier"]
    modelpack.save_model(classifier, tmp_path / "m", model_format="json")
    conf = modelpack.Model.load(tmp_path / "m").flavors["xgboost"]
    native = xgb_flavor.load_model(tmp_path / "m")
    assert conf["model_class"] == "xgboost.sklearn.XGBClassifier"
    assert type(native) is xgb.XGBClassifier
    np.testing.assert_array_equal(
        native.predict_proba(rows[10_000]), classifier.predict_proba(rows[10_000])
    )


def test_model_class_outside_xgboost_is_refused(tmp_path: Path, booster_package: Path) -> None:
    mlmodel = booster_package / "MLmodel"
    text = mlmodel.read_text().replace("xgboost.core.Booster", "subprocess.Popen")
    (tmp_path / "MLmodel").write_text(text)
    (tmp_path / "model.ubj").write_bytes((booster_package / "model.ubj").read_bytes())
    with pytest.raises(InvalidModel) as info:
        modelpack.load_model(tmp_path)
    assert str(info.value) == (
        "model_class 'subprocess.Popen' is not an XGBoost Booster or scikit-learn-API model class"
    )


def test_model_class_module_is_not_imported_with_pickle_off(
    tmp_path: Path, booster_package: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A module beside the package (the working directory is often on sys.path) that the
    # package names as its model class: importing it would run the package's code.
    flag = tmp_path / "ran.txt"
    (tmp_path / "planted_booster.py").write_text(
        f"from pathlib import Path\nPath({str(flag)!r}).write_text('ran')\nBooster = None\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    pkg = tmp_path / "m"
    pkg.mkdir()
    text = (booster_package / "MLmodel").read_text()
    (pkg / "MLmodel").write_text(text.replace("xgboost.core.Booster", "planted_booster.Booster"))
    (pkg / "model.ubj").write_bytes((booster_package / "model.ubj").read_bytes())
    for load in (modelpack.load_model, xgb_flavor.load_model):
        with pytest.raises(PickleRefused) as info:
            load(pkg, settings=Settings(allow_pickle=False))
        assert str(info.value).startswith(
            "the module 'planted_booster' named by the package is not part of ['xgboost'], so "
            "importing it may run the package's code, and MODELPACK_ALLOW_PICKLE is false"
        )
    assert not flag.exists()
    with pytest.raises(InvalidModel):
        modelpack.load_model(pkg, settings=Settings(allow_pickle=True))
    assert flag.read_text() == "ran"
    monkeypatch.delitem(sys.modules, "planted_booster")


def test_no_pickle_so_loads_with_pickle_disabled(booster_package: Path, models, rows) -> None:
    strict = Settings(allow_pickle=False)
    model = modelpack.load_model(booster_package, settings=strict)
    expected = models["booster"].predict(xgb.DMatrix(rows[10_000]))
    np.testing.assert_array_equal(model.predict(rows[10_000]), expected)
    native = xgb_flavor.load_model(booster_package, settings=strict)
    np.testing.assert_array_equal(native.predict(xgb.DMatrix(rows[10_000])), expected)


def test_legacy_binary_file_gives_a_clear_error(tmp_path: Path, booster_package: Path) -> None:
    text = (booster_package / "MLmodel").read_text()
    (tmp_path / "MLmodel").write_text(text.replace("model.ubj", "model.xgb"))
    (tmp_path / "model.xgb").write_bytes(b"binf" + bytes(64))  # not JSON nor UBJSON
    with pytest.raises(InvalidModel) as info:
        modelpack.load_model(tmp_path)
    assert str(info.value) == (
        f"{tmp_path / 'model.xgb'} is in XGBoost's legacy binary format, which xgboost "
        f"{xgb.__version__} cannot read (support ended in 3.1): load it with xgboost<3.1 and "
        "save it again as ubj or json"
    )


def test_writing_the_legacy_format_is_refused(tmp_path: Path, models) -> None:
    with pytest.raises(InvalidArgument) as info:
        xgb_flavor.save_model(models["booster"], tmp_path / "m", model_format="xgb")
    assert str(info.value) == (
        "model_format must be one of ['ubj', 'json'], got 'xgb' "
        "(the legacy binary 'xgb' format can be loaded but not written)"
    )
    assert not (tmp_path / "m").exists()


def test_declared_params_reach_predict(tmp_path: Path, wine_frame, wine_target) -> None:
    label = (wine_target > np.median(wine_target)).astype(int)
    booster = xgb.train({"objective": "binary:logistic"}, xgb.DMatrix(wine_frame, label), 5)
    example = (wine_frame.head(2), {"output_margin": False})
    modelpack.save_model(booster, tmp_path / "m", input_example=example)
    model = modelpack.load_model(tmp_path / "m")
    margins = model.predict(wine_frame, params={"output_margin": True})
    np.testing.assert_array_equal(
        margins, booster.predict(xgb.DMatrix(wine_frame), output_margin=True)
    )
    assert not np.array_equal(margins, model.predict(wine_frame))


def test_params_the_model_does_not_take_are_dropped(
    tmp_path: Path, models, wine_frame, caplog: pytest.LogCaptureFixture
) -> None:
    example = (wine_frame.head(2), {"threshold": 0.5})
    modelpack.save_model(models["regressor"], tmp_path / "m", input_example=example)
    model = modelpack.load_model(tmp_path / "m")
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="modelpack.flavors.xgboost"):
        out = model.predict(wine_frame, params={"threshold": 0.9})
        model.predict(wine_frame, params={"threshold": 0.8})
    np.testing.assert_array_equal(out, models["regressor"].predict(wine_frame))
    assert caplog.messages == [
        "params ['threshold'] are not accepted by the XGBoost model; ignored"
    ]


@pytest.fixture(scope="module")
def unsigned(tmp_path_factory: pytest.TempPathFactory, models) -> modelpack.PyFuncModel:
    """A booster package without a signature: the flavor itself checks the input."""
    path = tmp_path_factory.mktemp("xgb") / "unsigned"
    modelpack.save_model(models["booster"], path)
    return modelpack.load_model(path)


def test_array_input_is_taken_in_feature_order(unsigned, models, wine_frame) -> None:
    expected = models["booster"].predict(xgb.DMatrix(wine_frame))
    np.testing.assert_array_equal(unsigned.predict(wine_frame.to_numpy()), expected)
    np.testing.assert_array_equal(unsigned.predict(wine_frame[wine_frame.columns[::-1]]), expected)


def test_wrong_width_names_the_expected_shape(unsigned, wine_frame) -> None:
    with pytest.raises(SignatureMismatch) as info:
        unsigned.predict(wine_frame.to_numpy()[:, :3])
    assert str(info.value) == "the XGBoost model expects input of shape (-1, 11), got 3 columns"


def test_missing_columns_are_named(unsigned, wine_frame) -> None:
    with pytest.raises(SignatureMismatch) as info:
        unsigned.predict(wine_frame.drop(columns=["pH", "alcohol"]))
    assert str(info.value) == (
        "the XGBoost model expects the columns ['fixed acidity', 'volatile acidity', "
        "'citric acid', 'residual sugar', 'chlorides', ...] (11); missing ['pH', 'alcohol'] (2)"
    )


def test_strings_name_the_expected_type(unsigned, wine_frame) -> None:
    frame = wine_frame.head(2).astype({"alcohol": object})
    frame.loc[1, "alcohol"] = "high"
    with pytest.raises(SignatureMismatch) as info:
        unsigned.predict(frame)
    assert str(info.value) == "column 'alcohol': the XGBoost model expects numbers, got str values"


def test_numeric_strings_are_numbers(unsigned, models, wine_frame) -> None:
    frame = wine_frame.head(3).astype({"alcohol": str})
    expected = models["booster"].predict(xgb.DMatrix(wine_frame.head(3)))
    np.testing.assert_allclose(unsigned.predict(frame), expected, rtol=1e-6)


def test_signature_mismatch_is_one_line(booster_package: Path, wine_frame) -> None:
    with pytest.raises(SignatureMismatch) as info:
        modelpack.load_model(booster_package).predict(wine_frame.drop(columns=["pH"]))
    assert "\n" not in str(info.value)
    assert "['pH']" in str(info.value)


def test_info_shows_the_xgboost_specifics(booster_package: Path) -> None:
    result = CliRunner().invoke(main, ["info", "-m", str(booster_package)])
    assert result.exit_code == 0, result.output
    assert result.output.splitlines()[1:3] == [
        "Flavor:   xgboost",
        "          data=model.ubj, model_class=xgboost.core.Booster, model_format=ubj, "
        f"xgb_version={xgb.__version__}",
    ]
    assert "Pickle:" not in result.output


@pytest.mark.parametrize("kind", ["booster", "regressor", "classifier"])
@settings(
    max_examples=10, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(cuts=st.lists(st.integers(1, 40), min_size=2, max_size=6), start=st.integers(0, 5_000))
def test_merged_requests_answer_as_each_alone(
    tmp_path_factory: pytest.TempPathFactory, kind: str, models, rows, cuts: list[int], start: int
) -> None:
    """Why the server may batch XGBoost models: one call over many requests' rows gives each
    row the bits it gets alone (trees sum their leaves per row, in a fixed order)."""
    model = _loaded(tmp_path_factory, kind, models)
    assert model.batch_exact
    requests, at = [], start
    for n in cuts:
        requests.append(rows[10_000].iloc[at : at + n].reset_index(drop=True))
        at += n
    checked = [model.check(r)[0] for r in requests]
    alone = np.concatenate([np.asarray(model.predict_checked(c, {})) for c in checked])
    merged = np.asarray(model.predict_checked(pd.concat(checked, ignore_index=True), {}))
    assert merged.tobytes() == alone.tobytes()


_LOADED: dict[str, Any] = {}


def _loaded(factory: pytest.TempPathFactory, kind: str, models: dict[str, object]) -> Any:
    if kind not in _LOADED:
        path = factory.mktemp("batched") / kind
        modelpack.save_model(models[kind], path)
        _LOADED[kind] = modelpack.load_model(path)
    return _LOADED[kind]
