"""PyFuncModel: enforcement in front of the predictor, one error type for model failures."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import modelpack
from modelpack.errors import InternalError, PredictionFailed, SignatureMismatch, UnknownFlavor


def test_predict_enforces_the_signature(sklearn_package: Path, wine_frame: pd.DataFrame) -> None:
    model = modelpack.load_model(sklearn_package)
    with pytest.raises(SignatureMismatch, match=r"Model is missing inputs \['alcohol'\]"):
        model.predict(wine_frame.drop(columns=["alcohol"]))


def test_reordered_and_extra_columns_predict_the_same(
    sklearn_package: Path, wine_frame: pd.DataFrame, elasticnet
) -> None:
    shuffled = wine_frame[list(reversed(wine_frame.columns))].assign(extra="x")
    out = modelpack.load_model(sklearn_package).predict(shuffled)
    np.testing.assert_array_equal(out, elasticnet.predict(wine_frame))


def test_model_exceptions_become_prediction_failed(tmp_path: Path, elasticnet) -> None:
    # No signature: the frame reaches the estimator, which refuses the width.
    modelpack.save_model(elasticnet, tmp_path / "m")
    with pytest.raises(PredictionFailed) as info:
        modelpack.load_model(tmp_path / "m").predict(pd.DataFrame({"a": [1.0]}))
    assert str(info.value).startswith("the model raised ValueError: ")
    assert isinstance(info.value.__cause__, ValueError)


def _out_of_memory(model_input: pd.DataFrame) -> None:
    raise MemoryError


def test_memory_error_is_an_internal_error(tmp_path: Path) -> None:
    modelpack.save_model(_out_of_memory, tmp_path / "m")
    with pytest.raises(InternalError) as info:
        modelpack.load_model(tmp_path / "m").predict(pd.DataFrame({"a": [1.0]}))
    assert str(info.value) == "the server ran out of memory while predicting (MemoryError)"
    assert isinstance(info.value.__cause__, MemoryError)


def test_a_fault_in_a_flavors_adapter_is_an_internal_error(
    sklearn_package: Path, wine_frame: pd.DataFrame, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A bug in modelpack's sklearn adapter (here: its state broken) is a 500, not the client's
    400, even though the request is fine."""
    model = modelpack.load_model(sklearn_package)
    monkeypatch.setattr(model._predictor, "_fn", None)
    monkeypatch.setattr(model._predictor, "_array_fn", None)  # no fast path
    with pytest.raises(InternalError) as info:
        model.predict(wine_frame)
    assert isinstance(info.value.__cause__, TypeError)
    assert str(info.value).startswith(
        "internal error while predicting: TypeError in modelpack/flavors/sklearn.py line "
    )


def test_metadata_and_raw_model(sklearn_package: Path) -> None:
    model = modelpack.load_model(sklearn_package)
    assert model.metadata.flavors["sklearn"]["serialization_format"] == "skops"
    assert type(model.get_raw_model()).__name__ == "ElasticNet"
    assert model.flavor_name == "sklearn"


def test_package_with_only_unknown_flavors_is_refused(tmp_path: Path) -> None:
    (tmp_path / "MLmodel").write_text("flavors:\n  h2o: {data: model.h2o}\n")
    with pytest.raises(UnknownFlavor, match=r"the package's flavors \['h2o'\] include none"):
        modelpack.load_model(tmp_path)


def test_package_code_is_refused_when_pickle_is_disallowed(tmp_path: Path, elasticnet) -> None:
    from modelpack.errors import PickleRefused
    from modelpack.settings import Settings

    src = tmp_path / "sklearn_shadow_for_test.py"
    src.write_text("raise SystemExit('package code ran')\n")
    modelpack.save_model(elasticnet, tmp_path / "m", code_paths=[src])
    with pytest.raises(PickleRefused) as info:
        modelpack.load_model(tmp_path / "m", settings=Settings(allow_pickle=False))
    assert str(info.value).startswith(f"{tmp_path / 'm' / 'code'} holds Python code")
    assert str(tmp_path / "m" / "code") not in sys.path
