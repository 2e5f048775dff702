"""Shared fixtures: small real models and packages, saved once per session."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from servers import Server, finish, launch
from winedata import WINE_COLUMNS

import __main__
import modelpack

# A pytest-xdist worker runs with a __main__ that has neither __spec__ nor __file__, which
# pyspark.sql.connect takes for a doctest run: without Spark Connect's extra libraries it calls
# sys.exit(0) on import. MLflow imports it to ask whether an input is a Spark DataFrame.
if getattr(__main__, "__spec__", None) is None and not hasattr(__main__, "__file__"):
    __main__.__file__ = "<pytest-xdist worker>"


@pytest.fixture(scope="session")
def wine_frame() -> pd.DataFrame:
    """Synthetic wine-quality features with the real column names (all float64)."""
    rng = np.random.default_rng(0)
    return pd.DataFrame(rng.uniform(0.1, 20.0, size=(200, len(WINE_COLUMNS))), columns=WINE_COLUMNS)


@pytest.fixture(scope="session")
def wine_target(wine_frame: pd.DataFrame) -> np.ndarray:
    return (wine_frame["alcohol"] * 0.3 - wine_frame["volatile acidity"] * 0.1 + 3).to_numpy()


@pytest.fixture(scope="session")
def elasticnet(wine_frame: pd.DataFrame, wine_target: np.ndarray):
    from sklearn.linear_model import ElasticNet

    return ElasticNet(alpha=0.1, l1_ratio=0.5, random_state=42).fit(wine_frame, wine_target)


@pytest.fixture(scope="session")
def sklearn_package(tmp_path_factory: pytest.TempPathFactory, elasticnet, wine_frame) -> Path:
    """ElasticNet on the wine columns, saved by modelpack (skops) with an input example."""
    path = tmp_path_factory.mktemp("pkg") / "wine"
    modelpack.save_model(elasticnet, path, input_example=wine_frame.head(3))
    return path


@pytest.fixture(scope="session")
def mlflow_sklearn_package(
    tmp_path_factory: pytest.TempPathFactory, elasticnet, wine_frame
) -> Path:
    """The same ElasticNet saved by real MLflow (its default format, skops)."""
    mlflow_sklearn = pytest.importorskip("mlflow.sklearn")
    path = tmp_path_factory.mktemp("mlflow") / "wine"
    mlflow_sklearn.save_model(elasticnet, str(path), input_example=wine_frame.head(3))
    return path


# -- a real `modelpack serve` process ----------------------------------------------------------


@pytest.fixture
def start_server() -> Iterator[object]:
    """Starts `modelpack serve ...` (see `servers.launch`); stops it at the end of the test."""
    started: list[Server] = []

    def start(*args: str, port: int = 0, env: dict[str, str] | None = None) -> Server:
        server = launch(*args, port=port, env=env)
        started.append(server)
        return server

    yield start
    for server in started:
        finish(server)
