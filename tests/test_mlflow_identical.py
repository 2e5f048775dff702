"""Bit-identical answers with MLflow, for every built-in format and every way in.

The same package is loaded by modelpack and by MLflow 3.17 in this process (same CPU, same
threads), and each answer is compared exactly: ``load_model(...).predict``, ``/invocations``
with each JSON envelope and CSV, and the ``predict`` command. With ``json_style="mlflow"`` the
bytes must be MLflow's own; in the default compact style the values must read back to the same
bits (float32 outputs are written as float32 text, so they are compared as float32).

The data is scikit-learn's diabetes set (442 rows, 10 columns): on AVX-512 machines a row-major
input gives a different last bit than MLflow's column-major one in about 1 row out of 6.
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import pandas as pd
import pytest
from serving.apps import client_for

import modelpack
from modelpack.batch import predict_file
from modelpack.flavors import pytorch as pt_flavor
from modelpack.flavors import sklearn as sk_flavor
from modelpack.flavors import xgboost as xgb_flavor

pytestmark = [
    pytest.mark.mlflow,
    # MLflow warns about the torch version label and TorchScript's deprecation; not ours.
    pytest.mark.filterwarnings("ignore::UserWarning"),
    pytest.mark.filterwarnings("ignore:`torch.jit.*is deprecated:DeprecationWarning"),
]

FORMS = ["dataframe_split", "dataframe_records", "instances", "inputs", "csv"]


@pytest.fixture(scope="module")
def diabetes() -> tuple[pd.DataFrame, np.ndarray]:
    from sklearn.datasets import load_diabetes

    x, y = load_diabetes(return_X_y=True, as_frame=True)
    return x, y.to_numpy()


def _torch_net(width: int) -> Any:
    torch = pytest.importorskip("torch")
    torch.manual_seed(0)
    return torch.nn.Sequential(
        torch.nn.Linear(width, 16), torch.nn.ReLU(), torch.nn.Linear(16, 1)
    ).eval()


@pytest.fixture(scope="module")
def packages(tmp_path_factory: pytest.TempPathFactory, diabetes) -> dict[str, Path]:
    """One package per format, saved by MLflow or by modelpack (each loads in both)."""
    import mlflow.pytorch
    import mlflow.sklearn
    import mlflow.xgboost
    import xgboost
    from sklearn.linear_model import LinearRegression, Ridge
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    x, y = diabetes
    root = tmp_path_factory.mktemp("identical")
    example = x.head(3)
    linear = LinearRegression().fit(x, y)
    out = {
        "sklearn-skops-by-mlflow": root / "a",
        "sklearn-cloudpickle": root / "b",
        "sklearn-pickle-pipeline": root / "c",
        "xgboost-ubj-by-mlflow": root / "d",
        "xgboost-booster-json": root / "e",
        "pytorch-pickle-by-mlflow": root / "f",
        "pytorch-pt2": root / "g",
        "pytorch-torchscript": root / "h",
    }
    reqs = {"pip_requirements": ["scikit-learn"]}  # skips MLflow's slow requirement inference
    mlflow.sklearn.save_model(linear, str(out["sklearn-skops-by-mlflow"]), input_example=example)
    sk_flavor.save_model(
        linear,
        out["sklearn-cloudpickle"],
        input_example=example,
        serialization_format="cloudpickle",
    )
    pipeline = make_pipeline(StandardScaler(), Ridge(alpha=0.3)).fit(x, y)
    sk_flavor.save_model(
        pipeline,
        out["sklearn-pickle-pipeline"],
        input_example=example,
        serialization_format="pickle",
    )
    regressor = xgboost.XGBRegressor(n_estimators=20, max_depth=4, random_state=0).fit(x, y)
    mlflow.xgboost.save_model(
        regressor, str(out["xgboost-ubj-by-mlflow"]), input_example=example, **reqs
    )
    booster = regressor.get_booster()
    xgb_flavor.save_model(
        booster, out["xgboost-booster-json"], input_example=example, model_format="json"
    )
    net = _torch_net(x.shape[1])
    mlflow.pytorch.save_model(
        net,
        str(out["pytorch-pickle-by-mlflow"]),
        input_example=example,
        serialization_format="pickle",
        pip_requirements=["torch"],
    )
    pt_flavor.save_model(net, out["pytorch-pt2"], input_example=example)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        import torch

        scripted = torch.jit.script(net)
    pt_flavor.save_model(scripted, out["pytorch-torchscript"], input_example=example)
    return out


@pytest.fixture(scope="module")
def loaded(packages: dict[str, Path]) -> dict[str, tuple[Any, Any]]:
    """Each package loaded by modelpack and by MLflow, once."""
    import mlflow.pyfunc

    return {
        name: (modelpack.load_model(path), mlflow.pyfunc.load_model(str(path)))
        for name, path in packages.items()
    }


NAMES = [
    "sklearn-skops-by-mlflow",
    "sklearn-cloudpickle",
    "sklearn-pickle-pipeline",
    "xgboost-ubj-by-mlflow",
    "xgboost-booster-json",
    "pytorch-pickle-by-mlflow",
    "pytorch-pt2",
    "pytorch-torchscript",
]


def _values(predictions: Any) -> np.ndarray:
    return np.asarray(predictions.to_numpy() if hasattr(predictions, "to_numpy") else predictions)


def _same_bits(ours: np.ndarray, theirs: np.ndarray) -> None:
    assert ours.dtype == theirs.dtype
    assert ours.shape == theirs.shape
    differ = int((ours.view(np.uint8) != theirs.view(np.uint8)).sum())
    assert differ == 0, f"{differ} bytes differ"


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("layout", ["C", "F"])
def test_load_model_predicts_the_same_bits(name: str, layout: str, loaded, diabetes) -> None:
    x, _ = diabetes
    frame = x if layout == "C" else pd.DataFrame({c: x[c].to_numpy() for c in x.columns})
    assert frame.to_numpy().flags.f_contiguous == (layout == "F")
    ours, theirs = loaded[name]
    _same_bits(_values(ours.predict(frame)), _values(theirs.predict(frame)))


def _bodies(frame: pd.DataFrame) -> dict[str, tuple[str, bytes]]:
    records = frame.to_dict(orient="records")
    return {
        "dataframe_split": (
            "application/json",
            orjson.dumps({"dataframe_split": json.loads(frame.to_json(orient="split"))}),
        ),
        "dataframe_records": ("application/json", orjson.dumps({"dataframe_records": records})),
        "instances": ("application/json", orjson.dumps({"instances": records})),
        "inputs": ("application/json", orjson.dumps({"inputs": frame.to_dict(orient="list")})),
        "csv": ("text/csv", frame.to_csv(index=False).encode()),
    }


def _mlflow_scoring(model: Any) -> Callable[[str, bytes], bytes]:
    from mlflow.pyfunc import scoring_server

    schema = model.metadata.get_input_schema()

    def score(content_type: str, body: bytes) -> bytes:
        result = scoring_server.invocations(body, content_type, model, schema)
        assert result.status == 200, result.response
        return result.response.encode() if isinstance(result.response, str) else result.response

    return score


def _float32_output(name: str) -> bool:
    return name.startswith(("pytorch", "xgboost"))  # both predict float32


@pytest.mark.parametrize("name", NAMES)
def test_invocations_answer_mlflows_bytes(name: str, loaded, diabetes) -> None:
    x, _ = diabetes
    # Integer cells too: JSON ints into double columns go through the same pre-cast.
    with_ints = x.assign(age=(x["age"] * 100).round().astype(int))
    bodies = [*_bodies(x).items(), *_bodies(with_ints).items()]
    ours, theirs = loaded[name]
    score = _mlflow_scoring(theirs)
    with client_for(ours, json_style="mlflow") as exact, client_for(ours) as compact:
        for form, (content_type, body) in bodies:
            expected = score(content_type, body)
            headers = {"Content-Type": content_type}
            answer = exact.post("/invocations", content=body, headers=headers)
            assert answer.status_code == 200, answer.text
            assert answer.content == expected, form
            answer = compact.post("/invocations", content=body, headers=headers)
            assert answer.status_code == 200, answer.text
            got, want = _prediction_values(answer.content), _prediction_values(expected)
            if _float32_output(name):
                got, want = got.astype(np.float32), want.astype(np.float32)
            _same_bits(got, want)


def _prediction_values(body: bytes) -> np.ndarray:
    predictions = json.loads(body)["predictions"]
    if predictions and isinstance(predictions[0], dict):
        return np.array([list(row.values()) for row in predictions], dtype=np.float64)
    return np.array(predictions, dtype=np.float64)


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("fmt", ["csv", "json"])
def test_predict_writes_mlflows_bytes(
    name: str, fmt: str, loaded, packages, diabetes, tmp_path
) -> None:
    from mlflow.pyfunc import scoring_server

    x, _ = diabetes
    source = tmp_path / f"in.{fmt}"
    if fmt == "csv":
        x.to_csv(source, index=False)
    else:
        source.write_text(json.dumps({"dataframe_split": json.loads(x.to_json(orient="split"))}))
    theirs = tmp_path / "mlflow.json"
    scoring_server._predict(str(packages[name]), str(source), str(theirs), fmt)
    ours = tmp_path / "ours.json"
    predict_file(loaded[name][0], str(source), str(ours), progress=False, json_style="mlflow")
    assert ours.read_bytes() == theirs.read_bytes()


def test_json_styles_for_float32_and_nan() -> None:
    """float32 widened to double and NaN bare in MLflow's text; shortest float32 and null in
    the compact one. Both read back to the same float32 values."""
    from modelpack.codecs import encode_predictions

    values = np.array([236.2208, np.nan], dtype=np.float32)
    exact = encode_predictions(values, style="mlflow")
    assert exact == b'{"predictions": [236.22079467773438, NaN]}'
    compact = encode_predictions(values)
    assert compact == b'{"predictions":[236.2208,null]}'
    assert np.float32(json.loads(exact)["predictions"][0]) == np.float32(
        json.loads(compact)["predictions"][0]
    )


@pytest.mark.slow
def test_predict_command_writes_what_mlflow_models_predict_writes(
    packages, diabetes, tmp_path
) -> None:
    """The two command lines, as users run them, on one package: the same bytes."""
    import os
    import subprocess
    import sys

    x, _ = diabetes
    source = tmp_path / "in.csv"
    x.to_csv(source, index=False)
    package = str(packages["pytorch-pickle-by-mlflow"])  # float32 output: the widened text
    bin_dir = Path(sys.executable).parent
    theirs, ours = tmp_path / "mlflow.json", tmp_path / "ours.json"
    common = ["-m", package, "-i", str(source), "-t", "csv", "--env-manager", "local"]
    subprocess.run(
        [str(bin_dir / "mlflow"), "models", "predict", *common, "-o", str(theirs)],
        check=True,
        capture_output=True,
    )
    env = {**os.environ, "MODELPACK_JSON_STYLE": "mlflow"}
    subprocess.run(
        [str(bin_dir / "modelpack"), "predict", *common, "-o", str(ours), "-q"],
        check=True,
        capture_output=True,
        env=env,
    )
    assert ours.read_bytes() == theirs.read_bytes()
