"""The MLmodel descriptor: reading, writing and keeping every key."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from modelpack.errors import InvalidModel, ModelNotFound
from modelpack.format.mlmodel import Model
from modelpack.signature.schema import ColSpec, DataType, ModelSignature, Schema

MLFLOW_1X = """\
artifact_path: model
flavors:
  python_function:
    data: model.pkl
    env: conda.yaml
    loader_module: mlflow.sklearn
    python_version: 3.7.6
  sklearn:
    pickled_model: model.pkl
    serialization_format: cloudpickle
    sklearn_version: 0.22.1
run_id: 3f2f2e8e0a1b4c7d9e6f5a4b3c2d1e0f
utc_time_created: '2020-05-04 10:11:12.131415'
"""

MLFLOW_3X_LOGGED = """\
artifact_path: mlflow-artifacts:/2/models/m-0112ba8babe744e9b9c2e4a61086b08e/artifacts
auth_policy:
  user_auth_policy:
    api_scopes: [serving]
databricks_runtime: 15.4.x
env_vars: [OPENAI_API_KEY]
flavors:
  python_function:
    env: {conda: conda.yaml, virtualenv: python_env.yaml}
    loader_module: mlflow.sklearn
    model_path: model.pkl
    predict_fn: predict
    python_version: 3.10.19
  sklearn: {code: null, pickled_model: model.pkl, serialization_format: cloudpickle,
    sklearn_version: 1.7.2}
is_signature_from_type_hint: false
mlflow_version: 3.4.0
model_id: m-0112ba8babe744e9b9c2e4a61086b08e
model_size_bytes: 46571
model_uuid: m-0112ba8babe744e9b9c2e4a61086b08e
prompts: null
run_id: 0d099223a0aa4e05976741242b1fb931
signature:
  inputs: '[{"type": "tensor", "tensor-spec": {"dtype": "float64", "shape": [-1, 1]}}]'
  outputs: '[{"type": "tensor", "tensor-spec": {"dtype": "float64", "shape": [-1]}}]'
  params: null
some_future_key: {nested: [1, 2, 3]}
type_hint_from_example: false
utc_time_created: '2025-11-06 03:46:33.071805'
"""


def _round_trip(text: str, tmp_path: Path) -> tuple[dict, dict]:
    (tmp_path / "MLmodel").write_text(text)
    Model.load(tmp_path).save(tmp_path / "again")
    return yaml.safe_load(text), yaml.safe_load((tmp_path / "again").read_text())


@pytest.mark.parametrize("text", [MLFLOW_1X, MLFLOW_3X_LOGGED], ids=["mlflow-1.x", "mlflow-3.x"])
def test_every_key_and_value_survives_a_round_trip(text: str, tmp_path: Path) -> None:
    original, written = _round_trip(text, tmp_path)
    assert written == original


@pytest.mark.mlflow
def test_mlmodel_written_by_mlflow_round_trips(
    mlflow_sklearn_package: Path, tmp_path: Path
) -> None:
    text = (mlflow_sklearn_package / "MLmodel").read_text()
    original, written = _round_trip(text, tmp_path)
    assert written == original


def test_written_yaml_has_sorted_keys_and_json_string_signature(tmp_path: Path) -> None:
    model = Model(flavors={"python_function": {"loader_module": "x"}}, modelpack_version="0.1.0")
    model.signature = ModelSignature(Schema([ColSpec(DataType.long, "a")]))
    model.save(tmp_path)
    text = (tmp_path / "MLmodel").read_text()
    keys = [line.split(":")[0] for line in text.splitlines() if line and not line[0].isspace()]
    assert keys == sorted(keys)
    assert yaml.safe_load(text)["signature"]["inputs"] == (
        '[{"type": "long", "name": "a", "required": true}]'
    )


def test_load_accepts_the_mlmodel_file_path(tmp_path: Path) -> None:
    (tmp_path / "MLmodel").write_text(MLFLOW_1X)
    assert Model.load(tmp_path / "MLmodel").run_id == "3f2f2e8e0a1b4c7d9e6f5a4b3c2d1e0f"


def test_unknown_keys_are_attributes(tmp_path: Path) -> None:
    (tmp_path / "MLmodel").write_text(MLFLOW_3X_LOGGED)
    model = Model.load(tmp_path)
    assert model.some_future_key == {"nested": [1, 2, 3]}
    assert model.model_id == "m-0112ba8babe744e9b9c2e4a61086b08e"
    assert model.signature is not None and model.signature.inputs is not None
    assert model.signature.inputs.is_tensor_spec()


def test_missing_mlmodel_is_model_not_found(tmp_path: Path) -> None:
    with pytest.raises(ModelNotFound, match="is not a model package"):
        Model.load(tmp_path)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("flavors: [unclosed", "is not a readable YAML file"),
        ("- a list", "does not hold a YAML mapping"),
        ("run_id: x", "'flavors' must be a mapping of flavor name to settings"),
        (
            "flavors: {sklearn: {}}\nsignature: {inputs: '[{'}",
            "invalid signature: schema is not valid",
        ),
    ],
)
def test_unreadable_mlmodel_is_invalid_model(tmp_path: Path, text: str, message: str) -> None:
    (tmp_path / "MLmodel").write_text(text)
    with pytest.raises(InvalidModel, match=message.replace("[", r"\[").replace("{", r"\{")):
        Model.load(tmp_path)
