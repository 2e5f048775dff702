"""Serving fixtures: the wine model behind an in-process client, packages and servers for the
V2 tests."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from servers import Server, finish, launch, wait_ready

import modelpack
from modelpack.pyfunc import PyFuncModel, load_model
from modelpack.signature.schema import (
    ColSpec,
    DataType,
    ModelSignature,
    ParamSchema,
    ParamSpec,
    Schema,
)

from .apps import AppClient, client_for
from .v2models import TORCH_WIDTH


@pytest.fixture(scope="session")
def wine_model(sklearn_package: Path) -> PyFuncModel:
    return load_model(sklearn_package)


@pytest.fixture(scope="session")
def client(wine_model: PyFuncModel) -> Iterator[AppClient]:
    with client_for(wine_model) as c:
        yield c


# -- packages for the Open Inference Protocol (V2) tests ---------------------------------------


@pytest.fixture(scope="session")
def torch_package(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small MLP saved as pt2: a tensor signature, float32 ``[-1, 10]`` -> ``[-1, 1]``."""
    torch = pytest.importorskip("torch")
    from modelpack.flavors import pytorch

    torch.manual_seed(0)
    net = torch.nn.Sequential(
        torch.nn.Linear(TORCH_WIDTH, 8), torch.nn.ReLU(), torch.nn.Linear(8, 1)
    ).eval()
    example = np.random.default_rng(1).uniform(-1, 1, size=(5, TORCH_WIDTH)).astype(np.float32)
    path = tmp_path_factory.mktemp("torch") / "torch-mlp"
    pytorch.save_model(net, path, input_example=example)
    return path


@pytest.fixture(scope="session")
def twocols_package(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A PythonModel answering a DataFrame with a text and a number column, with a param:
    ``name: string, x: double`` -> ``greeting: string, scaled: double``; ``multiplier = 1.0``."""
    import cloudpickle

    from . import v2models

    signature = ModelSignature(
        Schema([ColSpec(DataType.string, "name"), ColSpec(DataType.double, "x")]),
        Schema([ColSpec(DataType.string, "greeting"), ColSpec(DataType.double, "scaled")]),
        ParamSchema([ParamSpec("multiplier", DataType.double, 1.0)]),
    )
    path = tmp_path_factory.mktemp("pyfunc") / "pyfunc-twocols"
    cloudpickle.register_pickle_by_value(v2models)
    try:
        modelpack.save_model(v2models.TwoCols(), path, signature=signature)
    finally:
        cloudpickle.unregister_pickle_by_value(v2models)
    return path


# -- servers shared by the V2 tests -----------------------------------------------------------


def _serving(package: Path, *args: str) -> Iterator[Server]:
    server = launch("-m", str(package), "--grpc-port", "0", *args)
    try:
        wait_ready(server)
        yield server
    finally:
        finish(server)


@pytest.fixture(scope="session")
def wine_server(sklearn_package: Path) -> Iterator[Server]:
    """`modelpack serve` of the wine ElasticNet (11 double columns), REST and gRPC."""
    yield from _serving(sklearn_package)


@pytest.fixture(scope="session")
def torch_server(torch_package: Path) -> Iterator[Server]:
    """`modelpack serve` of the pt2 MLP (float32 ``[-1, 10]``), REST and gRPC."""
    yield from _serving(torch_package)


@pytest.fixture(scope="session")
def twocols_server(twocols_package: Path) -> Iterator[Server]:
    """`modelpack serve` of the two-column PythonModel with a param, REST and gRPC."""
    yield from _serving(twocols_package)
