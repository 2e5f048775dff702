"""Large and tensor bodies through the data plane: the answer's bytes are the plain path's.

The plain path builds the frame the codecs built before their fast paths (a split body cast
column by column, a CSV body read by pandas' ``read_csv`` and cast), then checks, predicts and
encodes exactly as the plane does. Real models: an ElasticNet on double columns and a torch MLP
with a float32 tensor signature (exported with torch.export, as ``bench/serve.py`` saves it).
"""

from __future__ import annotations

import io
from typing import Any

import numpy as np
import orjson
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

import modelpack
from modelpack.codecs import parse_content_type, read_csv_frames
from modelpack.engine import DataPlane
from modelpack.settings import Settings

NAMES = [f"x{i}" for i in range(10)]
JSON = parse_content_type("application/json")
CSV = parse_content_type("text/csv")


def _training() -> tuple[pd.DataFrame, np.ndarray]:
    rng = np.random.default_rng(3)
    x = pd.DataFrame(rng.standard_normal((200, 10)), columns=NAMES)
    return x, x.to_numpy() @ np.linspace(-1, 1, 10) + rng.standard_normal(200) * 0.1


@pytest.fixture(scope="module")
def elasticnet(tmp_path_factory: pytest.TempPathFactory) -> DataPlane:
    from sklearn.linear_model import ElasticNet

    x, y = _training()
    path = tmp_path_factory.mktemp("bodies") / "elasticnet"
    modelpack.save_model(ElasticNet(alpha=0.01).fit(x, y), path, input_example=x.head(3))
    return DataPlane(modelpack.load_model(path), Settings())


@pytest.fixture(scope="module")
def mlp(tmp_path_factory: pytest.TempPathFactory) -> DataPlane:
    torch = pytest.importorskip("torch")
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(10, 64), torch.nn.ReLU(), torch.nn.Linear(64, 1))
    x, _ = _training()
    path = tmp_path_factory.mktemp("bodies") / "mlp"
    modelpack.save_model(net, path, input_example=x.head(3).to_numpy(np.float32))
    return DataPlane(modelpack.load_model(path), Settings())


def _answer(plane: DataPlane, data: pd.DataFrame) -> bytes:
    prepared = plane.check(data, None)
    return plane.encode(plane.predict(prepared), prepared.bare)


def _fast(plane: DataPlane, media: Any, body: bytes) -> bytes:
    prepared = plane.prepare(media, body)
    return plane.encode(plane.predict(prepared), prepared.bare)


def _same_answers(plane: DataPlane, values: np.ndarray) -> None:
    rows = values.tolist()
    split = orjson.dumps({"dataframe_split": {"columns": NAMES, "data": rows}})
    plain_split = plane.plan.frame(NAMES, list(zip(*rows, strict=True)))
    assert _fast(plane, JSON, split) == _answer(plane, plain_split)
    csv = pd.DataFrame(values, columns=NAMES).to_csv(index=False).encode()
    plain_csv = next(read_csv_frames(io.BytesIO(csv), plane.plan))[1]
    assert _fast(plane, CSV, csv) == _answer(plane, plain_csv)


@pytest.mark.parametrize("rows", [1, 10_000])
def test_elasticnet_answers_are_the_plain_paths(elasticnet: DataPlane, rows: int) -> None:
    _same_answers(elasticnet, np.random.default_rng(rows).standard_normal((rows, 10)))


@pytest.mark.torch
@pytest.mark.parametrize("rows", [1, 10_000])
def test_torch_answers_are_the_plain_paths(mlp: DataPlane, rows: int) -> None:
    _same_answers(mlp, np.random.default_rng(rows).standard_normal((rows, 10)))


table = arrays(
    np.float64,
    st.tuples(st.integers(1, 40), st.just(10)),
    elements=st.floats(-1e6, 1e6, allow_subnormal=True),
)


@settings(max_examples=40, deadline=None)
@given(table)
@pytest.mark.torch
def test_torch_answers_on_any_numbers(mlp: DataPlane, values: np.ndarray) -> None:
    _same_answers(mlp, values)


@settings(max_examples=40, deadline=None)
@given(table)
def test_elasticnet_answers_on_any_numbers(elasticnet: DataPlane, values: np.ndarray) -> None:
    _same_answers(elasticnet, values)
