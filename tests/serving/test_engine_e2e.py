"""The engine behind a real `modelpack serve`: merged requests, a full queue, timeouts that never
start a second prediction, /ping during a long prediction, shutdown with a hung prediction,
forked workers that share the model, and every built-in flavor with workers and batching."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import time
from pathlib import Path
from typing import Any

import cloudpickle
import httpx
import numpy as np
import orjson
import pandas as pd
import pytest

import modelpack
from modelpack.signature import ColSpec, DataType, ModelSignature, ParamSchema, ParamSpec, Schema

from . import engine_models
from .engine_models import Echo, Heavy, RowCount, Slow

pytestmark = pytest.mark.slow

cloudpickle.register_pickle_by_value(engine_models)

SLOW_SIGNATURE = ModelSignature(inputs=Schema([ColSpec(DataType.double, "x")]))


@pytest.fixture(scope="module")
def forest_package(tmp_path_factory: pytest.TempPathFactory, wine_frame, wine_target) -> Path:
    from sklearn.ensemble import RandomForestRegressor

    forest = RandomForestRegressor(n_estimators=20, random_state=0).fit(wine_frame, wine_target)
    path = tmp_path_factory.mktemp("forest") / "rf"
    modelpack.save_model(forest, path, input_example=wine_frame.head(3))
    return path


@pytest.fixture(scope="module")
def slow_package(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("slow") / "slow"
    modelpack.save_model(Slow(), path, signature=SLOW_SIGNATURE)
    return path


def _bodies(frame: pd.DataFrame) -> list[tuple[str, bytes]]:
    split = {"dataframe_split": {"columns": list(frame.columns), "data": frame.values.tolist()}}
    return [
        ("application/json", orjson.dumps(split)),
        ("text/csv", frame.to_csv(index=False).encode()),
    ]


async def _post_all(url: str, requests: list[tuple[str, bytes]]) -> list[httpx.Response]:
    limits = httpx.Limits(max_connections=64)
    async with httpx.AsyncClient(timeout=60, limits=limits) as client:
        return await asyncio.gather(
            *(
                client.post(url, content=body, headers={"Content-Type": kind})
                for kind, body in requests
            )
        )


def test_64_concurrent_mixed_requests_each_get_their_own_rows(
    start_server: Any, forest_package: Path, wine_frame: pd.DataFrame
) -> None:
    model = modelpack.load_model(forest_package)
    assert model.batch_exact  # a forest is batched
    server = start_server("-m", str(forest_package))
    requests, expected = [], []
    for i in range(64):
        rows = wine_frame.iloc[(i * 7) % 150 :][: (1, 3, 17)[i % 3]]
        kind, body = _bodies(rows)[i % 2]
        requests.append((kind, body))
        expected.append(np.asarray(model.predict(rows)))
    for _ in range(3):
        answers = asyncio.run(_post_all(f"{server.url}/invocations", requests))
        for answer, want in zip(answers, expected, strict=True):
            assert answer.status_code == 200, answer.text
            got = np.array(answer.json()["predictions"])
            assert got.tobytes() == want.tobytes()


def test_a_model_whose_answer_is_not_row_wise_is_answered_per_request(
    start_server: Any, tmp_path: Path, wine_frame: pd.DataFrame
) -> None:
    path = tmp_path / "count"
    # Batching is off for plain Python models unless the package opts in: this one does.
    modelpack.save_model(
        RowCount(), path, input_example=wine_frame.head(2), metadata={"batching": True}
    )
    assert modelpack.load_model(path).batch_exact
    server = start_server("-m", str(path))
    sizes = [(1, 3, 17)[i % 3] for i in range(48)]
    requests = [_bodies(wine_frame.head(n))[0] for n in sizes]
    for _ in range(2):
        answers = asyncio.run(_post_all(f"{server.url}/invocations", requests))
        assert [a.json()["predictions"] for a in answers] == [[n] for n in sizes]


def test_requests_with_other_params_are_answered_with_their_own(
    start_server: Any, tmp_path: Path
) -> None:
    class Shift(modelpack.PythonModel):
        def predict(self, context: Any, model_input: Any, params: Any = None) -> Any:
            return model_input["x"].to_numpy() + params["shift"]

    signature = ModelSignature(
        inputs=Schema([ColSpec(DataType.double, "x")]),
        params=ParamSchema([ParamSpec("shift", DataType.double, 0.0)]),
    )
    path = tmp_path / "shift"
    modelpack.save_model(Shift(), path, signature=signature, metadata={"batching": True})
    server = start_server("-m", str(path))
    requests = [
        (
            "application/json",
            orjson.dumps({"inputs": {"x": [i, i + 0.5]}, "params": {"shift": i % 4}}),
        )
        for i in range(40)
    ]
    answers = asyncio.run(_post_all(f"{server.url}/invocations", requests))
    for i, answer in enumerate(answers):
        assert answer.json()["predictions"] == [i + i % 4, i + 0.5 + i % 4]


def test_a_full_queue_answers_503_at_once_and_the_server_recovers(
    start_server: Any, slow_package: Path
) -> None:
    server = start_server("-m", str(slow_package), env={"MODELPACK_MAX_QUEUE": "4"})
    body = orjson.dumps({"inputs": {"x": [0.2]}})
    answers = asyncio.run(_post_all(f"{server.url}/invocations", [("application/json", body)] * 64))
    codes = sorted({a.status_code for a in answers})
    assert codes == [200, 503]
    refused = [a for a in answers if a.status_code == 503]
    assert all(a.headers["retry-after"] == "1" for a in refused)
    assert refused[0].json()["error_code"] == "TEMPORARILY_UNAVAILABLE"
    fast = httpx.post(
        f"{server.url}/invocations",
        content=orjson.dumps({"inputs": {"x": [0.0]}}),
        headers={"Content-Type": "application/json"},
    )
    assert fast.status_code == 200


def test_a_storm_of_timeouts_never_runs_two_predictions_at_once(
    start_server: Any, slow_package: Path, tmp_path: Path
) -> None:
    overlap = tmp_path / "overlap.txt"
    env = {"MODELPACK_TEST_OVERLAP_FILE": str(overlap)}
    server = start_server("-m", str(slow_package), "-t", "0.3", env=env)
    body = orjson.dumps({"inputs": {"x": [0.5]}})
    answers = asyncio.run(_post_all(f"{server.url}/invocations", [("application/json", body)] * 20))
    assert {a.status_code for a in answers} == {504}
    time.sleep(1.5)  # let the predictions that started finish and record themselves
    counts = [int(line) for line in overlap.read_text().split()]
    assert counts and max(counts) == 1
    assert len(counts) < 20  # the ones whose deadline passed while queued never ran


def test_ping_answers_while_a_long_prediction_runs(start_server: Any, slow_package: Path) -> None:
    server = start_server("-m", str(slow_package))
    fast = orjson.dumps({"inputs": {"x": [0.0]}})
    long = orjson.dumps({"inputs": {"x": [2.0]}})

    async def scenario() -> tuple[float, float, float]:
        async with httpx.AsyncClient(timeout=30) as client:
            for _ in range(50):  # however many fast requests came first
                await client.post(
                    f"{server.url}/invocations",
                    content=fast,
                    headers={"Content-Type": "application/json"},
                )
            started = time.monotonic()
            prediction = asyncio.ensure_future(
                client.post(
                    f"{server.url}/invocations",
                    content=long,
                    headers={"Content-Type": "application/json"},
                )
            )
            await asyncio.sleep(0.3)
            ping = await client.get(f"{server.url}/ping")
            assert ping.status_code == 200
            pinged = time.monotonic() - started
            answer = await prediction
            assert answer.status_code == 200
            return pinged, time.monotonic() - started, ping.elapsed.total_seconds()

    pinged, predicted, _ = asyncio.run(scenario())
    assert pinged < predicted  # /ping did not wait for the prediction


def test_sigterm_with_a_hung_prediction_exits_0_promptly(
    start_server: Any, slow_package: Path
) -> None:
    server = start_server("-m", str(slow_package), env={"MODELPACK_GRACEFUL_TIMEOUT": "2"})

    async def hang() -> httpx.Response:
        async with httpx.AsyncClient(timeout=30) as client:
            return await client.post(
                f"{server.url}/invocations",
                content=orjson.dumps({"inputs": {"x": [60.0]}}),
                headers={"Content-Type": "application/json"},
            )

    async def scenario() -> httpx.Response:
        hung = asyncio.ensure_future(hang())
        await asyncio.sleep(0.5)
        server.process.send_signal(signal.SIGTERM)
        return await hung

    answer = asyncio.run(scenario())
    assert answer.status_code == 503  # answered before the worker exits, not dropped
    assert server.process.wait(8) == 0


def _pss_kib(pids: list[int]) -> int:
    total = 0
    for pid in pids:
        text = Path(f"/proc/{pid}/smaps_rollup").read_text()
        total += int(re.search(r"^Pss:\s+(\d+) kB", text, re.M).group(1))  # type: ignore[union-attr]
    return total


def _children(pid: int) -> list[int]:
    path = Path(f"/proc/{pid}/task/{pid}/children")
    return [int(p) for p in path.read_text().split()]


@pytest.fixture(scope="module")
def heavy_package(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("heavy")
    weights = root / "weights.npy"
    np.save(weights, np.arange(32 * 2**20, dtype=np.float64))  # 256 MiB
    path = root / "heavy"
    modelpack.save_model(
        Heavy(),
        path,
        signature=ModelSignature(inputs=Schema([ColSpec(DataType.double, "x")])),
        artifacts={"weights": str(weights)},
    )
    weights.unlink()
    return path


def test_workers_share_the_weights_and_a_killed_worker_is_replaced(
    start_server: Any, heavy_package: Path
) -> None:
    one = start_server("-m", str(heavy_package), "-w", "1")
    one_pss = _pss_kib([one.process.pid])
    one.stop()
    three = start_server("-m", str(heavy_package), "-w", "3")
    workers = _children(three.process.pid)
    assert len(workers) == 3
    body = orjson.dumps({"inputs": {"x": [1.0, 2.0]}})
    headers = {"Content-Type": "application/json"}
    for _ in range(12):
        assert (
            httpx.post(f"{three.url}/invocations", content=body, headers=headers).status_code == 200
        )
    three_pss = _pss_kib([three.process.pid, *workers])
    assert three_pss <= 1.8 * one_pss, (three_pss, one_pss)
    os.kill(workers[0], signal.SIGKILL)
    for _ in range(30):
        answer = httpx.post(f"{three.url}/invocations", content=body, headers=headers)
        assert answer.status_code == 200
    three.wait_for(f"worker {workers[0]} ended")
    for _ in range(100):
        now = _children(three.process.pid)
        if len(now) == 3 and workers[0] not in now:
            break
        time.sleep(0.1)
    assert len(now) == 3 and workers[0] not in now
    three.stop()


def test_the_server_reads_seed_000s_semicolon_csv(
    start_server: Any, sklearn_package: Path, wine_frame: pd.DataFrame
) -> None:
    server = start_server("-m", str(sklearn_package))
    body = wine_frame.head(4).to_csv(index=False, sep=";").encode()
    answer = httpx.post(
        f"{server.url}/invocations", content=body, headers={"Content-Type": "text/csv"}
    )
    assert answer.status_code == 200, answer.text
    expected = modelpack.load_model(sklearn_package).predict(wine_frame.head(4))
    assert answer.json()["predictions"] == np.asarray(expected).tolist()


@pytest.fixture(scope="module")
def long_package(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("long") / "long"
    signature = ModelSignature(
        inputs=Schema([ColSpec(DataType.long, "n"), ColSpec(DataType.double, "pH")])
    )
    modelpack.save_model(Echo(), path, signature=signature)
    return path


_MISSING = (
    "; integer columns cannot hold missing or infinite values: declare the column as double in "
    "the signature, or fill the missing values"
)


@pytest.mark.parametrize(
    ("body", "column", "reason"),
    [
        ("n;pH\n1;3.3\n2;acidic\n", "pH", "expected double, got str 'acidic'"),
        ("n;pH\n1;3.3\n;3.1\n", "n", "expected long, got float64 nan" + _MISSING),
    ],
)
def test_server_and_predict_word_a_bad_cell_alike(
    start_server: Any, long_package: Path, tmp_path: Path, body: str, column: str, reason: str
) -> None:
    """One CSV reader and one rulebook: the server says where in the body, predict where in
    the file, and both say the same about the cell."""
    from click.testing import CliRunner

    from modelpack.cli import main

    server = start_server("-m", str(long_package))
    answer = httpx.post(
        f"{server.url}/invocations", content=body.encode(), headers={"Content-Type": "text/csv"}
    )
    assert answer.status_code == 400
    assert answer.json()[
        "message"
    ] == f"column '{column}': {reason.replace(_MISSING, '')} (row 1)" + (
        _MISSING if _MISSING in reason else ""
    )
    source = tmp_path / "in.csv"
    source.write_text(body)
    result = CliRunner().invoke(main, ["predict", "-m", str(long_package), "-i", str(source)])
    assert result.exit_code != 0
    assert result.output.strip().splitlines()[-1] == (
        f"Error: {source}: line 3, column '{column}': {reason}"
    )


@pytest.fixture(scope="module")
def flavor_packages(
    tmp_path_factory: pytest.TempPathFactory, wine_frame: pd.DataFrame, wine_target: np.ndarray
) -> dict[str, Path]:
    """One package per built-in flavor and format, all on the wine columns."""
    import torch
    import xgboost
    from sklearn.ensemble import RandomForestRegressor
    from sklearn.linear_model import ElasticNet

    root = tmp_path_factory.mktemp("flavors")
    example = wine_frame.head(3)
    forest = RandomForestRegressor(n_estimators=10, random_state=0).fit(wine_frame, wine_target)
    linear = ElasticNet(alpha=0.1).fit(wine_frame, wine_target)
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(wine_frame.shape[1], 8), torch.nn.ReLU())
    packages = {
        "sklearn-skops": (forest, {}),
        "sklearn-cloudpickle": (linear, {"serialization_format": "cloudpickle"}),
        "xgboost": (xgboost.XGBRegressor(n_estimators=10).fit(wine_frame, wine_target), {}),
        "pytorch-pt2": (net, {}),
        "pytorch-pickle": (net, {"serialization_format": "pickle"}),
        "python_model": (Echo(), {}),
    }
    for name, (model, options) in packages.items():
        modelpack.save_model(model, root / name, input_example=example, **options)
    return {name: root / name for name in packages}


@pytest.mark.parametrize(
    "name",
    [
        "sklearn-skops",
        "sklearn-cloudpickle",
        "xgboost",
        "pytorch-pt2",
        "pytorch-pickle",
        "python_model",
    ],
)
def test_every_flavor_serves_with_two_workers_and_batching(
    start_server: Any, flavor_packages: dict[str, Path], wine_frame: pd.DataFrame, name: str
) -> None:
    path = flavor_packages[name]
    model = modelpack.load_model(path)
    server = start_server("-m", str(path), "-w", "2", "--batching")
    requests, expected = [], []
    for i in range(32):
        rows = wine_frame.iloc[i * 5 :][: (1, 4, 9)[i % 3]]
        requests.append(_bodies(rows)[i % 2])
        expected.append(np.asarray(model.predict(rows)))
    answers = asyncio.run(_post_all(f"{server.url}/invocations", requests))
    for answer, want in zip(answers, expected, strict=True):
        assert answer.status_code == 200, answer.text
        got = answer.json()["predictions"]
        if got and isinstance(got[0], dict):  # a frame answer: records
            got = [list(row.values()) for row in got]
        # float32 answers are written as float32 text: exact once read back as float32.
        got_array = np.array(got, dtype=want.dtype).reshape(want.shape)
        assert got_array.tobytes() == want.tobytes()
