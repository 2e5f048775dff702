"""Same body, same answer: modelpack's server vs MLflow's own scoring function, in process."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import orjson
import pandas as pd
import pytest

from modelpack.pyfunc import load_model

from .conftest import AppClient, client_for

pytestmark = pytest.mark.mlflow


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


@pytest.fixture(scope="module")
def mlflow_scoring(mlflow_sklearn_package: Path) -> Any:
    """MLflow's in-process scoring: its request parsing and its pyfunc predict."""
    import mlflow.pyfunc
    from mlflow.pyfunc import scoring_server

    model = mlflow.pyfunc.load_model(str(mlflow_sklearn_package))
    schema = model.metadata.get_input_schema()

    def score(content_type: str, body: bytes) -> Any:
        result = scoring_server.invocations(body, content_type, model, schema)
        assert result.status == 200, result.response
        return json.loads(result.response)

    return score


@pytest.fixture(scope="module")
def modelpack_client(mlflow_sklearn_package: Path) -> Any:
    with client_for(load_model(mlflow_sklearn_package)) as client:
        yield client


@pytest.mark.parametrize(
    "form", ["dataframe_split", "dataframe_records", "instances", "inputs", "csv"]
)
def test_same_predictions_as_mlflow(
    form: str, wine_frame: pd.DataFrame, mlflow_scoring: Any, modelpack_client: AppClient
) -> None:
    # Integer-valued cells too: JSON ints into double columns go through the same pre-cast.
    frame = wine_frame.head(5).copy()
    frame["free sulfur dioxide"] = frame["free sulfur dioxide"].round().astype(int)
    content_type, body = _bodies(frame)[form]
    ours = modelpack_client.post(
        "/invocations", content=body, headers={"Content-Type": content_type}
    )
    assert ours.status_code == 200, ours.text
    assert ours.json() == mlflow_scoring(content_type, body)
    assert len(ours.json()["predictions"]) == 5
