"""Fixtures of the container tests: one private dockerd and base image per session, two images."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner
from private_dockerd import (
    Container,
    DockerdUnavailable,
    Image,
    PrivateDockerd,
    import_standin_python,
    run_container,
    start,
    stop,
)

import modelpack
from modelpack.cli import main


@pytest.fixture(scope="session")
def xgboost_package(
    tmp_path_factory: pytest.TempPathFactory, wine_frame: pd.DataFrame, wine_target: np.ndarray
) -> Path:
    """A small XGBoost regressor on the wine columns, saved by modelpack with an input example."""
    xgboost = pytest.importorskip("xgboost")
    model = xgboost.XGBRegressor(n_estimators=20, max_depth=3, random_state=0)
    model.fit(wine_frame, wine_target)
    path = tmp_path_factory.mktemp("xgb") / "wine-xgb"
    modelpack.save_model(model, path, input_example=wine_frame.head(3))
    return path


@pytest.fixture(scope="session")
def dockerd() -> Iterator[PrivateDockerd]:
    """A private daemon with the stand-in ``python:3.11-slim`` imported; skipped only when no
    daemon can run here, with the reason."""
    try:
        daemon = start()
    except DockerdUnavailable as exc:
        pytest.skip(f"no Docker daemon can run here: {exc}")
    try:
        try:
            import_standin_python(daemon)
        except DockerdUnavailable as exc:
            pytest.skip(f"no base image can be made here: {exc}")
        yield daemon
    finally:
        stop(daemon)


@pytest.fixture(scope="session", params=["wine", "xgboost", "wine-uv"])
def image(
    request: pytest.FixtureRequest,
    dockerd: PrivateDockerd,
    sklearn_package: Path,
) -> Image:
    """An image built by the real ``modelpack build-docker`` (one per package, per session;
    ``wine-uv``: the wine package installed by uv, ``--env-manager uv``)."""
    if request.param.startswith("wine"):
        package, flavor = sklearn_package, "sklearn"
    else:
        package, flavor = request.getfixturevalue("xgboost_package"), "xgboost"
    name = f"modelpack-test/{request.param}"
    args = ["build-docker", "-m", str(package), "-n", name]
    if request.param.endswith("-uv"):
        args += ["--env-manager", "uv"]
    result = CliRunner().invoke(main, args, env={"DOCKER_HOST": dockerd.host})
    assert result.exit_code == 0, result.output
    return Image(name, package, flavor, result.stdout)


@pytest.fixture(scope="session")
def served(dockerd: PrivateDockerd, image: Image) -> Iterator[tuple[Image, Container]]:
    """A running container of ``image``, removed at the end."""
    container = run_container(dockerd, image)
    yield image, container
    dockerd.docker("rm", "--force", container.id, check=False)
