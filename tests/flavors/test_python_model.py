"""The python_model flavor: PythonModel subclasses and functions, and MLflow's custom models."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from click.testing import CliRunner
from hypothesis import given
from hypothesis import settings as hypothesis_settings

import modelpack
from modelpack.cli import main
from modelpack.errors import MissingDependency, PickleRefused, SignatureMismatch
from modelpack.flavors import python_model as pm_flavor
from modelpack.flavors import registry
from modelpack.settings import Settings

from . import tampering

STRICT = Settings(allow_pickle=False)


class Shifted(modelpack.PythonModel):
    """alcohol * scale + shift, the scale read from an artifact, the shift from the config."""

    def load_context(self, context: modelpack.PythonModelContext) -> None:
        self.scale = float(Path(context.artifacts["scale"]).read_text())
        self.shift = float(context.model_config.get("shift", 0.0))
        self.artifacts = dict(context.artifacts)

    def predict(self, context, model_input, params=None):
        bonus = (params or {}).get("bonus", 0.0)
        return model_input["alcohol"] * self.scale + self.shift + bonus


class NoContext(modelpack.PythonModel):
    """predict without a context argument, as MLflow allows since 2.20."""

    def predict(self, model_input, params=None):
        return model_input * 2


def double_it(model_input):
    return model_input * 2


@pytest.fixture(scope="module")
def rows(wine_frame: pd.DataFrame) -> dict[int, pd.DataFrame]:
    rng = np.random.default_rng(7)
    big = pd.DataFrame(
        rng.uniform(0.1, 20.0, size=(10_000, wine_frame.shape[1])), columns=wine_frame.columns
    )
    return {1: big.head(1), 10_000: big}


@pytest.fixture(scope="module")
def scale_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("art") / "scale.txt"
    path.write_text("0.5")
    return path


@pytest.fixture(scope="module")
def package(tmp_path_factory: pytest.TempPathFactory, scale_file: Path, wine_frame) -> Path:
    path = tmp_path_factory.mktemp("pm") / "shifted"
    modelpack.save_model(
        Shifted(),
        path,
        artifacts={"scale": scale_file},
        model_config={"shift": 1.0},
        input_example=(wine_frame.head(3), {"bonus": 0.0}),
    )
    return path


def test_package_fields(package: Path, scale_file: Path) -> None:
    flavors = yaml.safe_load((package / "MLmodel").read_text())["flavors"]
    pyfunc = flavors["python_function"]
    assert pyfunc["loader_module"] == "modelpack.flavors.python_model"
    assert pyfunc["python_model"] == "python_model.pkl"
    assert pyfunc["artifacts"] == {"scale": {"path": "artifacts/scale.txt", "uri": str(scale_file)}}
    assert pyfunc["config"] == {"shift": 1.0}
    assert flavors["python_model"]["model_class"].endswith("test_python_model.Shifted")
    assert (package / "artifacts" / "scale.txt").read_text() == "0.5"


def test_predicts_with_artifacts_config_and_params(package: Path, rows) -> None:
    model = modelpack.load_model(package)
    expected = rows[10_000]["alcohol"] * 0.5 + 1.0 + 2.0
    pd.testing.assert_series_equal(model.predict(rows[10_000], params={"bonus": 2.0}), expected)


def test_load_time_model_config_overrides_the_saved_one(package: Path, rows) -> None:
    model = modelpack.load_model(package, model_config={"shift": 10.0})
    pd.testing.assert_series_equal(model.predict(rows[1]), rows[1]["alcohol"] * 0.5 + 10.0 + 0.0)


def test_load_model_returns_the_python_model_after_load_context(package: Path) -> None:
    native = pm_flavor.load_model(package)
    assert isinstance(native, Shifted)
    assert native.artifacts == {"scale": str(package / "artifacts" / "scale.txt")}


def test_requirements(package: Path) -> None:
    lines = (package / "requirements.txt").read_text().split()
    assert [ln.split("==")[0] for ln in lines] == ["cloudpickle", "numpy", "pandas"]


def test_plain_function_is_a_model(tmp_path: Path, rows) -> None:
    modelpack.save_model(double_it, tmp_path / "m", input_example=rows[1])
    assert (
        modelpack.Model.load(tmp_path / "m")
        .flavors["python_model"]["model_class"]
        .endswith("test_python_model.double_it")
    )
    pd.testing.assert_frame_equal(
        modelpack.load_model(tmp_path / "m").predict(rows[1]), rows[1] * 2
    )


def test_function_that_takes_params_gets_them(tmp_path: Path) -> None:
    def add(model_input, params=None):
        return model_input + params["k"]

    modelpack.save_model(add, tmp_path / "m", input_example=(pd.DataFrame({"x": [1.0]}), {"k": 1}))
    out = modelpack.load_model(tmp_path / "m").predict(pd.DataFrame({"x": [1.0]}), {"k": 5})
    pd.testing.assert_frame_equal(out, pd.DataFrame({"x": [6.0]}))


def test_predict_without_context(tmp_path: Path) -> None:
    modelpack.save_model(NoContext(), tmp_path / "m")
    np.testing.assert_array_equal(
        modelpack.load_model(tmp_path / "m").predict(np.arange(3)), np.arange(3) * 2
    )


def test_save_model_picks_python_model_last() -> None:
    assert registry().for_object(Shifted()).name == "python_model"
    assert registry().for_object(double_it).name == "python_model"


def test_artifacts_with_the_same_file_name_do_not_collide(tmp_path: Path) -> None:
    for sub in ("a", "b"):
        (tmp_path / sub).mkdir()
        (tmp_path / sub / "w.txt").write_text(sub)
    modelpack.save_model(
        NoContext(),
        tmp_path / "m",
        artifacts={"a": tmp_path / "a/w.txt", "b": tmp_path / "b/w.txt"},
    )
    artifacts = modelpack.Model.load(tmp_path / "m").flavors["python_function"]["artifacts"]
    assert {k: v["path"] for k, v in artifacts.items()} == {
        "a": "artifacts/w.txt",
        "b": "artifacts/b/w.txt",
    }
    assert (tmp_path / "m" / "artifacts/b/w.txt").read_text() == "b"


def test_pickle_policy_applies(package: Path) -> None:
    for load in (modelpack.load_model, pm_flavor.load_model):
        with pytest.raises(PickleRefused) as info:
            load(package, settings=STRICT)
        assert str(info.value).startswith(f"{package / 'python_model.pkl'} is stored with pickle")


def test_wrong_input_is_one_line(package: Path, wine_frame) -> None:
    model = modelpack.load_model(package)
    with pytest.raises(SignatureMismatch) as info:
        model.predict(wine_frame.drop(columns=["alcohol"]).head(2))
    assert str(info.value).startswith("Model is missing inputs ['alcohol']")
    frame = wine_frame.head(2).astype({"alcohol": object})
    frame.loc[0, "alcohol"] = "strong"
    with pytest.raises(SignatureMismatch) as info:
        model.predict(frame)
    assert "\n" not in str(info.value)
    assert "column 'alcohol': expected double, got str" in str(info.value)


def test_info_shows_the_python_model_specifics(package: Path) -> None:
    result = CliRunner().invoke(main, ["info", "-m", str(package)])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[1] == "Flavor:   python_model"
    assert lines[2].startswith("          artifacts={'scale': 'artifacts/scale.txt'}, model_class=")
    assert "Pickle:   yes (python_model.pkl): load only packages you trust" in lines


# ---------------------------------------------------------------------------------------------
# a fresh process


HELPER = """
from pathlib import Path


def read_number(path):
    return float(Path(path).read_text())


def score(frame, scale, offset):
    return frame["alcohol"] * scale + frame["pH"] * offset
"""

SAVE = """
import sys
sys.path.insert(0, sys.argv[2])
import pandas as pd
import modelpack
import wine_helpers


class WineModel(modelpack.PythonModel):
    def load_context(self, context):
        self.scale = wine_helpers.read_number(context.artifacts["scale"])
        self.offset = wine_helpers.read_number(context.artifacts["offset"])

    def predict(self, context, model_input, params=None):
        return wine_helpers.score(model_input, self.scale, self.offset)


frame = pd.read_csv(sys.argv[3])
modelpack.save_model(
    WineModel(),
    sys.argv[1],
    artifacts={"scale": sys.argv[4], "offset": sys.argv[5]},
    code_paths=[sys.argv[2] + "/wine_helpers.py"],
    input_example=frame.head(3),
)
"""

LOAD = """
import json, sys
import numpy as np
import pandas as pd
import modelpack
from modelpack.flavors import python_model

model = modelpack.load_model(sys.argv[1])
np.save(sys.argv[3], model.predict(pd.read_csv(sys.argv[2])).to_numpy())
native = python_model.load_model(sys.argv[1])
print(json.dumps({
    "helper": sys.modules["wine_helpers"].__file__,
    "scale": native.scale,
    "class": type(native).__name__,
}))
"""


def test_round_trip_in_fresh_processes(tmp_path: Path, rows) -> None:
    src = tmp_path / "src"
    src.mkdir()
    (src / "wine_helpers.py").write_text(textwrap.dedent(HELPER))
    (tmp_path / "scale.txt").write_text("0.25")
    (tmp_path / "offset.txt").write_text("-2.0")
    rows[10_000].to_csv(tmp_path / "rows.csv", index=False)
    (tmp_path / "save.py").write_text(SAVE)
    (tmp_path / "load.py").write_text(LOAD)
    pkg = tmp_path / "pkg"
    args = [str(pkg), str(src), str(tmp_path / "rows.csv")]
    artifacts = [str(tmp_path / "scale.txt"), str(tmp_path / "offset.txt")]
    run = {"capture_output": True, "text": True, "check": True, "timeout": 120}
    subprocess.run([sys.executable, str(tmp_path / "save.py"), *args, *artifacts], **run)
    # Nothing the saving process had may help: the helper and the artifacts are gone.
    shutil.rmtree(src)
    (tmp_path / "scale.txt").unlink()
    (tmp_path / "offset.txt").unlink()
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    out = subprocess.run(
        [sys.executable, str(tmp_path / "load.py"), str(pkg), args[2], str(tmp_path / "p.npy")],
        cwd=elsewhere,
        **run,
    )
    frame = pd.read_csv(tmp_path / "rows.csv")
    expected = (frame["alcohol"] * 0.25 + frame["pH"] * -2.0).to_numpy()
    np.testing.assert_array_equal(np.load(tmp_path / "p.npy"), expected)
    assert json.loads(out.stdout) == {
        "helper": str(pkg / "code" / "wine_helpers.py"),
        "scale": 0.25,
        "class": "WineModel",
    }


# ---------------------------------------------------------------------------------------------
# MLflow


@pytest.fixture(scope="module")
def mlflow_package(tmp_path_factory: pytest.TempPathFactory, scale_file: Path, wine_frame) -> Path:
    """A custom model saved by real MLflow: a pickled mlflow.pyfunc.PythonModel subclass."""
    import mlflow.pyfunc

    class MlflowShifted(mlflow.pyfunc.PythonModel):
        def load_context(self, context):
            self.scale = float(Path(context.artifacts["scale"]).read_text())

        def predict(self, context, model_input, params=None):
            return model_input["alcohol"] * self.scale + (params or {}).get("bonus", 0.0)

    path = tmp_path_factory.mktemp("mlflow") / "custom"
    mlflow.pyfunc.save_model(
        str(path),
        python_model=MlflowShifted(),
        artifacts={"scale": str(scale_file)},
        input_example=(wine_frame.head(2), {"bonus": 0.0}),
        pip_requirements=["pandas"],  # skips MLflow's slow requirement inference
    )
    return path


@pytest.mark.mlflow
def test_package_saved_by_mlflow_predicts_identically(mlflow_package: Path, rows) -> None:
    import mlflow.pyfunc

    theirs = mlflow.pyfunc.load_model(str(mlflow_package))
    ours = modelpack.load_model(mlflow_package)
    for n, frame in rows.items():
        for params in (None, {"bonus": 3.0}):
            pd.testing.assert_series_equal(
                ours.predict(frame, params), theirs.predict(frame, params), obj=f"{n} {params}"
            )


@pytest.mark.mlflow
def test_mlflow_package_without_mlflow_says_why(
    mlflow_package: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import mlflow

    for name in ("mlflow", "mlflow.pyfunc", "mlflow.pyfunc.model"):
        monkeypatch.setitem(sys.modules, name, None)
    with pytest.raises(MissingDependency) as info:
        modelpack.load_model(mlflow_package)
    assert str(info.value).startswith(
        "this package holds a Python model saved by MLflow (loader_module "
        "'mlflow.pyfunc.model'): its pickle refers to mlflow's PythonModel classes, so loading "
        f"it needs the mlflow package: pip install 'mlflow=={mlflow.__version__}' ("
    )


@pytest.mark.mlflow
def test_mlflow_package_is_refused_before_mlflow_is_imported(
    mlflow_package: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # With mlflow unimportable, reaching for it would raise MissingDependency instead.
    for name in ("mlflow", "mlflow.pyfunc", "mlflow.pyfunc.model"):
        monkeypatch.setitem(sys.modules, name, None)
    with pytest.raises(PickleRefused) as info:
        modelpack.load_model(mlflow_package, settings=STRICT)
    assert str(info.value) == (
        f"{mlflow_package} holds a model that MLflow's loader 'mlflow.pyfunc.model' loads by "
        "unpickling it or by importing its code, and MODELPACK_ALLOW_PICKLE is false; load "
        "it only if you trust its source (set MODELPACK_ALLOW_PICKLE=true)"
    )


MODEL_CODE = """
from pathlib import Path

import mlflow

Path({flag!r}).write_text("ran")


class Doubler(mlflow.pyfunc.PythonModel):
    def predict(self, context, model_input, params=None):
        return model_input * 2


mlflow.models.set_model(Doubler())
"""


@pytest.mark.mlflow
def test_models_from_code_count_as_code(tmp_path: Path) -> None:
    import mlflow.pyfunc

    flag = tmp_path / "ran.txt"
    code = tmp_path / "doubler.py"
    code.write_text(MODEL_CODE.format(flag=str(flag)))
    mlflow.pyfunc.save_model(str(tmp_path / "m"), python_model=str(code), pip_requirements=[])
    flag.unlink(missing_ok=True)  # saving may run the code: only loading counts here
    pyfunc = yaml.safe_load((tmp_path / "m" / "MLmodel").read_text())["flavors"]["python_function"]
    assert "model_code_path" in pyfunc and "python_model" not in pyfunc
    with pytest.raises(PickleRefused) as info:
        modelpack.load_model(tmp_path / "m", settings=STRICT)
    assert str(info.value).startswith(
        f"{tmp_path / 'm'} holds a model that MLflow's loader 'mlflow.pyfunc.loaders.code_model' "
        "loads by unpickling it or by importing its code, and MODELPACK_ALLOW_PICKLE is false"
    )
    assert not flag.exists()
    model = modelpack.load_model(tmp_path / "m", settings=Settings(allow_pickle=True))
    assert flag.read_text() == "ran"
    pd.testing.assert_frame_equal(
        model.predict(pd.DataFrame({"x": [1.5]})), pd.DataFrame({"x": [3.0]})
    )


@pytest.mark.mlflow
def test_mlflow_loads_our_package(package: Path, rows) -> None:
    import mlflow.pyfunc

    theirs = mlflow.pyfunc.load_model(str(package))
    ours = modelpack.load_model(package)
    for frame in rows.values():
        for params in (None, {"bonus": 3.0}):
            pd.testing.assert_series_equal(
                theirs.predict(frame, params), ours.predict(frame, params)
            )


@pytest.mark.mlflow
def test_info_shows_mlflow_custom_model_specifics(mlflow_package: Path) -> None:
    result = CliRunner().invoke(main, ["info", "-m", str(mlflow_package)])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[1] == "Flavor:   python_model"
    assert "loader_module=mlflow.pyfunc.model" in lines[2]
    assert "python_model=python_model.pkl" in lines[2]


# ---------------------------------------------------------------------------------------------
# the pickle policy cannot be bypassed by editing MLmodel


class Tripwire(modelpack.PythonModel):
    """A model that records each time it is unpickled."""

    def __init__(self) -> None:
        self.tag = "python_model"  # pickle calls __setstate__ only for a non-empty state

    def __setstate__(self, state: dict) -> None:
        tampering.record("python_model")
        self.__dict__.update(state)

    def predict(self, context, model_input, params=None):
        return model_input


@pytest.fixture(scope="module")
def tripwire_package(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("tripwire") / "m"
    modelpack.save_model(Tripwire(), path)
    return tampering.plant_model_code(path)


def test_the_tripwire_records_unpickling(tripwire_package: Path) -> None:
    tampering.reset()
    model = pm_flavor.load_model(tripwire_package, settings=Settings(allow_pickle=True))
    assert tampering.UNPICKLED == ["python_model"]
    assert isinstance(model, Tripwire)


def test_missing_python_model_key_does_not_bypass_the_policy(tripwire_package: Path) -> None:
    # The old policy read python_function.python_model; the loader falls back to its default.
    mlmodel = yaml.safe_load((tripwire_package / "MLmodel").read_text())
    edits = [("key", "python_function", "python_model", tampering.DELETE)]
    tampering.reset()
    with tampering.tampered(tripwire_package, tampering.apply(mlmodel, "python_model", edits)):
        for load in (modelpack.load_model, pm_flavor.load_model):
            with pytest.raises(PickleRefused) as info:
                load(tripwire_package, settings=STRICT)
            assert str(info.value).startswith(
                f"{tripwire_package / 'python_model.pkl'} is stored with pickle, and "
                "MODELPACK_ALLOW_PICKLE is false"
            )
    assert tampering.UNPICKLED == []


def _strict_pyfunc(path: Path) -> object:
    return modelpack.load_model(path, settings=STRICT)


def _strict_native(path: Path) -> object:
    return pm_flavor.load_model(path, settings=STRICT)


@hypothesis_settings(max_examples=100, deadline=None)
@given(edits=tampering.mlmodel_edits)
def test_no_mlmodel_edit_unpickles_with_pickle_off(tripwire_package: Path, edits) -> None:
    tampering.assert_never_unpickles(
        tripwire_package, "python_model", edits, _strict_pyfunc, _strict_native
    )
