"""Shared fixtures: small real models and packages, saved once per session."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import numpy as np
import pandas as pd
import pytest
from servers import Server
from winedata import WINE_COLUMNS

import modelpack


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
    """Starts `modelpack serve ...` (its stdout and stderr read into `Server.log`) and waits for
    /ping; stops it at the end of the test."""
    started: list[Server] = []

    def start(*args: str, port: int = 0, env: dict[str, str] | None = None) -> Server:
        command = [sys.executable, "-m", "modelpack", "serve", *args, "-p", str(port)]
        environ = {**os.environ, "MODELPACK_LOG_LEVEL": "info", **(env or {})}
        process = subprocess.Popen(
            command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=environ
        )
        server = Server(process, port)
        started.append(server)
        ready = threading.Event()

        def read() -> None:
            assert process.stdout is not None
            for line in process.stdout:
                server.log.append(line)
                found = re.search(r"serving on http://127\.0\.0\.1:(\d+)", line)
                if found and server.port == 0:
                    server.port = int(found.group(1))
                if found:
                    ready.set()
            ready.set()

        server.reader = threading.Thread(target=read, daemon=True)
        server.reader.start()
        assert ready.wait(120), "server did not start"
        assert process.poll() is None, "".join(server.log)
        for _ in range(600):
            try:
                if httpx.get(f"{server.url}/ping", timeout=5).status_code == 200:
                    return server
            except httpx.TransportError:
                time.sleep(0.1)
        raise AssertionError("no 200 from /ping: " + "".join(server.log))

    yield start
    for server in started:
        if server.process.poll() is None:
            server.process.kill()
        server.process.wait(30)
        if server.reader is not None:
            server.reader.join(10)
        if server.process.stdout is not None:
            server.process.stdout.close()
