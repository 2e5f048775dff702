"""GET /metrics: Prometheus text with the same totals whichever worker answers the scrape."""

from __future__ import annotations

import os
import re
import signal
import time
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from prometheus_client.parser import text_string_to_metric_families

from modelpack.serving.metrics import Metrics

from .apps import AppClient, client_for, plain_model
from .gated import save_gated

JSON = {"Content-Type": "application/json"}


def scrape(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of a scrape, by name and sorted labels (prometheus_client's own parser)."""
    samples = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


def requests_by_code(samples: dict[Any, float]) -> dict[str, float]:
    return {
        dict(labels)["code"]: value
        for (name, labels), value in samples.items()
        if name == "modelpack_requests_total" and dict(labels)["protocol"] == "mlflow"
    }


def _send(url: str, rows: int) -> httpx.Response:
    body = orjson.dumps({"inputs": {"x": [float(i) for i in range(rows)]}})
    return httpx.post(f"{url}/invocations", content=body, headers=JSON, timeout=30)


def _bad(url: str) -> httpx.Response:
    body = orjson.dumps({"inputs": {"not_x": [1.0]}})
    return httpx.post(f"{url}/invocations", content=body, headers=JSON, timeout=30)


def test_every_scrape_of_two_workers_reports_every_request(
    start_server: Any, tmp_path: Path
) -> None:
    package, _ = save_gated(tmp_path)
    server = start_server("-m", str(package), "-w", "2")
    sizes = [1, 2, 3, 5, 8, 13, 1, 4, 7, 2, 1, 9]
    for rows in sizes:  # a fresh connection each: the kernel hands them to either worker
        assert _send(server.url, rows).status_code == 200
    bad = [_bad(server.url) for _ in range(5)]
    assert {r.status_code for r in bad} == {400}

    for _ in range(8):  # each scrape on its own connection, answered by either worker
        response = httpx.get(f"{server.url}/metrics", timeout=30)
        assert response.status_code == 200
        assert response.headers["content-type"] == "text/plain; version=0.0.4; charset=utf-8"
        samples = scrape(response.text)
        assert requests_by_code(samples) == {"200": len(sizes), "400": 5}
        assert samples[("modelpack_batch_rows_sum", ())] == sum(sizes)
        assert samples[("modelpack_batch_rows_count", ())] == len(sizes)
        assert samples[("modelpack_rows_total", ())] == sum(sizes)
        assert samples[("modelpack_queue_wait_seconds_count", ())] == len(sizes)
        assert samples[("modelpack_request_duration_seconds_count", (("protocol", "mlflow"),))] == (
            len(sizes) + 5
        )
        assert samples[("modelpack_inflight_requests", ())] == 0
        assert samples[("modelpack_queue_depth", ())] == 0
        assert samples[("modelpack_model_load_seconds", ())] > 0
        info = (("flavor", "python_model"), ("model", "gated"), ("version", "0.1.0"))
        assert samples[("modelpack_info", info)] == 1


def test_dead_workers_requests_still_count(start_server: Any, tmp_path: Path) -> None:
    package, _ = save_gated(tmp_path)
    server = start_server("-m", str(package), "-w", "2")
    for rows in (1, 2, 3, 4, 5, 6):
        assert _send(server.url, rows).status_code == 200
    workers = [int(pid) for pid in re.findall(r"started worker (\d+)", "".join(server.log))]
    # Both workers that answered die, one after the other; their replacements answer the scrapes.
    for dead, pid in enumerate(workers, start=1):
        os.kill(pid, signal.SIGKILL)
        deadline = time.monotonic() + 60
        while len(re.findall(r"started worker", "".join(server.log))) < 2 + dead:
            assert time.monotonic() < deadline
            time.sleep(0.05)
    for _ in range(6):
        samples = scrape(httpx.get(f"{server.url}/metrics", timeout=30).text)
        assert requests_by_code(samples) == {"200": 6}
        assert samples[("modelpack_batch_rows_sum", ())] == 21
        assert samples[("modelpack_inflight_requests", ())] == 0


@pytest.fixture
def counted() -> Any:
    with client_for(plain_model(lambda data, params: [1] * len(data))) as client:
        yield client


def test_one_process_counts_codes_rows_and_calls(counted: AppClient) -> None:
    for rows in (3, 4):
        body = orjson.dumps({"inputs": [[1.0]] * rows})
        assert counted.post("/invocations", content=body, headers=JSON).status_code == 200
    assert counted.post("/invocations", content=b"{", headers=JSON).status_code == 400
    assert counted.post("/invocations", content=b"{}", headers={"Content-Type": "a/b"}).status_code
    counted.get("/ping")  # not a prediction: not counted
    samples = scrape(counted.get("/metrics").text)
    assert requests_by_code(samples) == {"200": 2, "400": 1, "415": 1}
    assert samples[("modelpack_rows_total", ())] == 7
    assert samples[("modelpack_batch_rows_count", ())] == 2
    assert samples[("modelpack_batch_rows_bucket", (("le", "4.0"),))] == 2
    assert samples[("modelpack_batch_rows_bucket", (("le", "2.0"),))] == 0
    assert ("modelpack_model_load_seconds", ()) not in samples  # not loaded by a server here


def test_metrics_off_answers_404_saying_so() -> None:
    with client_for(plain_model(lambda data, params: [0]), metrics=False) as client:
        response = client.get("/metrics")
    assert response.status_code == 404
    assert response.json() == {
        "error_code": "ENDPOINT_NOT_FOUND",
        "message": "metrics are off on this server (--no-metrics, MODELPACK_METRICS)",
    }


def test_the_recorder_for_other_protocols() -> None:
    metrics = Metrics("m", "sklearn")
    metrics.record_request("grpc", "OK", 0.002, rows=3)
    metrics.record_request("grpc", "INVALID_ARGUMENT", 0.001)
    metrics.record_request("v2", 200, 0.0004, rows=1)
    metrics.record_request("v2", 299, 0.0004)  # every HTTP status has its count
    metrics.record_request("grpc", "NO_SUCH_CODE", 0.0004)
    samples = scrape(metrics.scrape().decode())
    requests = {
        (dict(labels)["protocol"], dict(labels)["code"]): value
        for (name, labels), value in samples.items()
        if name == "modelpack_requests_total"
    }
    assert requests == {
        ("grpc", "OK"): 1,
        ("grpc", "INVALID_ARGUMENT"): 1,
        ("v2", "200"): 1,
        ("v2", "299"): 1,
        ("grpc", "other"): 1,
    }
    assert samples[("modelpack_rows_total", ())] == 4
    duration = "modelpack_request_duration_seconds_bucket"
    assert samples[(duration, (("le", "0.0005"), ("protocol", "v2")))] == 2
    assert samples[(duration, (("le", "0.001"), ("protocol", "grpc")))] == 2
    assert samples[(duration, (("le", "0.0025"), ("protocol", "grpc")))] == 3


def test_a_dead_workers_gauges_are_zeroed_and_its_counters_kept(tmp_path: Path) -> None:
    metrics = Metrics("m", "sklearn", directory=tmp_path)
    metrics.open_worker()  # this process's table, as a forked worker makes it
    metrics.inflight(1)
    metrics.on_depth(3)
    metrics.record_request("mlflow", 200, 0.01, rows=2)
    before = scrape(metrics.scrape().decode())
    assert before[("modelpack_inflight_requests", ())] == 1
    assert before[("modelpack_queue_depth", ())] == 3

    metrics.mark_process_dead(os.getpid())
    after = scrape(metrics.scrape().decode())
    assert after[("modelpack_inflight_requests", ())] == 0
    assert after[("modelpack_queue_depth", ())] == 0
    assert requests_by_code(after) == {"200": 1}
    assert after[("modelpack_rows_total", ())] == 2
