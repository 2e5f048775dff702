"""Serving fixtures: the wine model behind an in-process client."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from modelpack.pyfunc import PyFuncModel, load_model

from .apps import AppClient, client_for


@pytest.fixture(scope="session")
def wine_model(sklearn_package: Path) -> PyFuncModel:
    return load_model(sklearn_package)


@pytest.fixture(scope="session")
def client(wine_model: PyFuncModel) -> Iterator[AppClient]:
    with client_for(wine_model) as c:
        yield c
