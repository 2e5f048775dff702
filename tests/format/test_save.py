"""save_model: flavor choice, signature from the example, code paths, clean failures."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import modelpack
from modelpack.errors import InvalidArgument, SchemaError
from modelpack.signature.schema import ColSpec, DataType, ModelSignature, Schema


def test_signature_is_inferred_from_the_example(sklearn_package: Path) -> None:
    sig = modelpack.Model.load(sklearn_package).signature
    assert sig is not None and sig.inputs is not None and sig.outputs is not None
    assert sig.inputs.input_names()[0] == "fixed acidity"
    assert sig.outputs.to_dict() == [
        {"type": "tensor", "tensor-spec": {"dtype": "float64", "shape": [-1]}}
    ]


def test_example_files_are_mlflows(sklearn_package: Path, wine_frame: pd.DataFrame) -> None:
    raw = json.loads((sklearn_package / "input_example.json").read_text())
    assert raw["columns"] == list(wine_frame.columns)
    assert raw["data"] == wine_frame.head(3).to_numpy().tolist()
    serving = json.loads((sklearn_package / "serving_input_example.json").read_text())
    assert serving == {"dataframe_split": raw}
    info = modelpack.Model.load(sklearn_package).saved_input_example_info
    assert info == {
        "artifact_path": "input_example.json",
        "serving_input_path": "serving_input_example.json",
        "type": "dataframe",
        "pandas_orient": "split",
    }


def test_example_that_breaks_the_signature_is_refused(tmp_path: Path, elasticnet) -> None:
    sig = ModelSignature(Schema([ColSpec(DataType.string, "other")]))
    with pytest.raises(SchemaError, match="the input example does not match the signature"):
        modelpack.save_model(elasticnet, tmp_path / "m", signature=sig, input_example={"x": 1.0})
    assert not (tmp_path / "m").exists()


def test_existing_non_empty_directory_is_refused(tmp_path: Path, elasticnet) -> None:
    (tmp_path / "m").mkdir()
    (tmp_path / "m" / "keep.txt").write_text("mine")
    with pytest.raises(InvalidArgument, match="already exists and is not an empty directory"):
        modelpack.save_model(elasticnet, tmp_path / "m")
    assert (tmp_path / "m" / "keep.txt").read_text() == "mine"


def test_an_object_no_flavor_saves_is_refused(tmp_path: Path) -> None:
    with pytest.raises(InvalidArgument, match=r"no flavor can save a builtins\.object"):
        modelpack.save_model(object(), tmp_path / "m")


def test_code_paths_are_copied_and_importable(tmp_path: Path, elasticnet, wine_frame) -> None:
    src = tmp_path / "src" / "helpers_pkg_for_test"
    src.mkdir(parents=True)
    (src / "__init__.py").write_text("VALUE = 42\n")
    modelpack.save_model(elasticnet, tmp_path / "m", code_paths=[src])
    assert (tmp_path / "m" / "code" / "helpers_pkg_for_test" / "__init__.py").is_file()
    model = modelpack.load_model(tmp_path / "m")
    import helpers_pkg_for_test  # type: ignore[import-not-found]

    assert helpers_pkg_for_test.VALUE == 42
    assert model.metadata.flavors["python_function"]["code"] == "code"


def test_metadata_is_kept(tmp_path: Path, elasticnet) -> None:
    modelpack.save_model(elasticnet, tmp_path / "m", metadata={"team": "wine"})
    assert modelpack.Model.load(tmp_path / "m").metadata == {"team": "wine"}


def test_ndarray_example_gives_tensor_signature(tmp_path: Path, elasticnet, wine_frame) -> None:
    example = wine_frame.to_numpy()[:2]
    modelpack.save_model(elasticnet, tmp_path / "m", input_example=example)
    sig = modelpack.Model.load(tmp_path / "m").signature
    assert sig is not None and sig.inputs is not None
    assert sig.inputs.to_dict() == [
        {"type": "tensor", "tensor-spec": {"dtype": "float64", "shape": [-1, 11]}}
    ]
    serving = json.loads((tmp_path / "m" / "serving_input_example.json").read_text())
    assert np.array(serving["inputs"]).shape == (2, 11)
