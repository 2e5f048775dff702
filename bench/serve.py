"""Serving: `modelpack serve` against `mlflow models serve` and Seldon MLServer, same packages.

    python bench/serve.py                  # the default run, ~13-15 minutes on 2 shared cores
    python bench/serve.py --quick          # smoke run, ~3-4 minutes
    python bench/serve.py --long           # every payload at 1, 8 and 64 connections, 10 s each
    python bench/serve.py --workers-memory # only the -w 1 / -w 4 memory comparison
    python bench/serve.py --models probe,elasticnet --peers mlflow --duration 5

Servers: `modelpack serve`, `mlflow models serve --env-manager local` (MLflow 3.17, from this
interpreter's environment) and MLServer 1.7.1 with mlserver-mlflow, in a venv of its own made on
first use (`--mlserver-venv`, or MODELPACK_BENCH_MLSERVER_VENV; default
~/.cache/modelpack-bench/mlserver-venv; pip installs mlserver==1.7.1, mlserver-mlflow==1.7.1 and
uvloop==0.21.0, since its worker crash-loops with uvloop >= 0.22, then the flavor libraries at this
interpreter's versions). MLServer runs with its adaptive batching on (`--mlserver-batch`), which
applies to its V2 route only: its `/invocations` handler calls the model directly.

Packages (saved once by modelpack; all three servers load the same directories): a PythonModel
returning the row count (the pure-overhead probe), ElasticNet and RandomForest(100) on sklearn's
diabetes data, XGBoost(100 trees) and a torch MLP 10-64-1. Servers run one after the other for each
model, in rotating order, with the same worker count.

Load: wrk on loopback (Debian/Ubuntu: `apt-get install -y wrk`; macOS: `brew install wrk`), closed
loop, for `/invocations` bodies (dataframe_split, records, inputs, CSV; 1 and 10,000 rows) and V2
bodies (`/v2/models/NAME/infer`, JSON tensors and the binary extension). For each the tables give
req/s, p50 and p99, server CPU per request (every process of the server, from /proc) and failed
requests; per server, the cold start (spawn to the first 200 on /ping, or on MLServer's model
ready route), and RSS and PSS after the load (summed over the server's processes).

Before and after: modelpack's code at `--baseline` (a git ref, default the commit whose figures
bench/RESULTS.md recorded before the engine; `git archive` into the scratch folder) runs next to
today's on the same packages, split bodies at 1 and 64 connections, so that a regression shows
within one run rather than against figures taken under another load.

Overload: modelpack again with a realistic `-t` (`--overload-timeout`, 2 s), under open-loop load
(bench/loadgen.py) at 4x its measured 64-connection capacity: the accepted requests' p99, the
503s and every other outcome. Workers memory: a python_model with 256 MB of weights under
`-w 1` and `-w 4`, PSS summed over all processes (modelpack, and MLflow for contrast).

A bare starlette app that parses the JSON body and answers a constant gives the ceiling. Not a
test: it prints, and asserts nothing. Load averages are printed beside the figures: the machine is
shared, so compare ratios within a run, not absolute figures across runs.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import pandas as pd
from _procs import cpu_seconds as _cpu_seconds
from _procs import free_port as _free_port
from _procs import memory_mib as _memory_mib
from _procs import tree as _tree

BENCH = Path(__file__).resolve().parent
BIN = Path(sys.executable).parent
MODELS = ["probe", "elasticnet", "random_forest", "xgboost", "torch"]
SERVERS = ["modelpack", "mlflow", "mlserver"]
SHORT = {"modelpack": "mp", "mlflow": "mf", "mlserver": "ms"}
BIG_ROWS = 10_000
BIG_WEIGHTS_MB = 256

MLSERVER_PINS = ["mlserver==1.7.1", "mlserver-mlflow==1.7.1", "uvloop==0.21.0"]
# What each model needs importable in MLServer's venv: (module, distribution).
FLAVOR_LIBS = {
    "elasticnet": [("sklearn", "scikit-learn"), ("skops", "skops")],
    "random_forest": [("sklearn", "scikit-learn"), ("skops", "skops")],
    "xgboost": [("xgboost", "xgboost")],
    "torch": [("torch", "torch")],
}

# The commit bench/RESULTS.md's serving figures were measured at (before the engine): run beside
# today's code so that "no more than 5% below today's figures" is measured in one run.
BASELINE_REF = "49f8aca"
# 1-connection dataframe_split figures before the engine (bench/RESULTS.md, 2026-11-23: the
# re-run for probe and elasticnet, the first run for the others): modelpack and MLflow req/s.
BASELINE_1CONN = {
    "probe": (3975.6, 158.3),
    "elasticnet": (850.5, 195.9),
    "random_forest": (79.9, 52.9),
    "xgboost": (274.9, 132.3),
    "torch": (1493.3, 233.6),
}

BARE_APP = """
import orjson
from starlette.applications import Starlette
from starlette.responses import Response
from starlette.routing import Route

async def invocations(request):
    orjson.loads(await request.body())
    return Response(b'{"predictions":[1]}', media_type="application/json")

async def ping(request):
    return Response(b"{}", media_type="application/json")

app = Starlette(routes=[Route("/invocations", invocations, methods=["POST"]), Route("/ping", ping)])
"""

WRK_SCRIPT = """
wrk.method = "POST"
{headers}
local f = io.open("{body}", "rb")
wrk.body = f:read("*a")
f:close()
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format("BENCH %d %d %d %d %d %d\\n", summary.requests, summary.duration,
    e.status, e.connect + e.read + e.write + e.timeout,
    latency:percentile(50), latency:percentile(99)))
end
"""


def loadavg() -> float:
    return os.getloadavg()[0]


# -- packages and payloads -------------------------------------------------------------------------


def make_packages(root: Path, names: list[str]) -> dict[str, Path]:
    """Save the benchmark models with modelpack (signatures from an input example)."""
    from sklearn.datasets import load_diabetes

    import modelpack

    x, y = load_diabetes(return_X_y=True, as_frame=True)
    example = x.head(3)
    out: dict[str, Path] = {}
    for name in names:
        path = root / name
        if name == "probe":
            modelpack.save_model(row_count_model(), path, input_example=example)
        elif name == "elasticnet":
            from sklearn.linear_model import ElasticNet

            modelpack.save_model(ElasticNet(alpha=0.01).fit(x, y), path, input_example=example)
        elif name == "random_forest":
            from sklearn.ensemble import RandomForestRegressor

            forest = RandomForestRegressor(n_estimators=100, random_state=0, n_jobs=1).fit(x, y)
            modelpack.save_model(forest, path, input_example=example)
        elif name == "xgboost":
            import xgboost

            booster = xgboost.XGBRegressor(n_estimators=100, n_jobs=1).fit(x, y)
            modelpack.save_model(booster, path, input_example=example)
        elif name == "torch":
            import torch

            torch.manual_seed(0)
            mlp = torch.nn.Sequential(
                torch.nn.Linear(10, 64), torch.nn.ReLU(), torch.nn.Linear(64, 1)
            )
            modelpack.save_model(mlp, path, input_example=example.to_numpy(np.float32))
        else:
            raise SystemExit(f"unknown model {name!r}; choose from {MODELS}")
        out[name] = path
    return out


def row_count_model() -> Any:
    """The overhead probe: a PythonModel answering the number of rows it was given."""
    import modelpack

    class RowCount(modelpack.PythonModel):
        def predict(self, context: Any, model_input: Any, params: Any = None) -> Any:
            return np.array([len(model_input)])

    return RowCount()


def big_weights_model() -> Any:
    """A PythonModel holding a 256 MB float32 matrix (loaded from its artifact in load_context)."""
    import modelpack

    class BigWeights(modelpack.PythonModel):
        def load_context(self, context: Any) -> None:
            self.weights = np.load(context.artifacts["weights"])  # read whole, not memory-mapped

        def predict(self, context: Any, model_input: Any, params: Any = None) -> Any:
            x = np.asarray(model_input, dtype=np.float32)
            return x @ self.weights[: x.shape[1], :1]

    return BigWeights()


def make_big_package(root: Path) -> Path:
    import modelpack

    root.mkdir(parents=True, exist_ok=True)
    weights = root / "weights.npy"
    rows = BIG_WEIGHTS_MB * 2**20 // (4 * 64)
    np.save(weights, np.random.default_rng(0).standard_normal((rows, 64), dtype=np.float32))
    path = root / "big_weights"
    example = pd.DataFrame(np.ones((2, 10)), columns=[f"x{i}" for i in range(10)])
    modelpack.save_model(
        big_weights_model(), path, input_example=example, artifacts={"weights": str(weights)}
    )
    weights.unlink()
    return path


@dataclass(frozen=True)
class Payload:
    name: str
    content_type: str
    path: Path
    rows: int
    route: str = "invocations"
    """"invocations" or "v2" (``/v2/models/NAME/infer``)."""
    headers: tuple[tuple[str, str], ...] = ()


def make_payloads(root: Path, tensor: bool) -> dict[str, Payload]:
    """1-row bodies as split, records, inputs, CSV and V2 (JSON and binary); 10,000-row bodies
    as split, CSV and V2."""
    from sklearn.datasets import load_diabetes

    x = load_diabetes(as_frame=True).data
    one = x.head(1)
    big = x.sample(BIG_ROWS, replace=True, random_state=0).reset_index(drop=True)
    inputs = one.to_numpy().tolist() if tensor else one.to_dict(orient="list")
    bodies: dict[str, tuple[str, bytes, int]] = {
        "split": ("application/json", _split(one), 1),
        "records": ("application/json", orjson.dumps({"dataframe_records": _records(one)}), 1),
        "inputs": ("application/json", orjson.dumps({"inputs": inputs}), 1),
        "csv": ("text/csv", one.to_csv(index=False).encode(), 1),
        "split_10k": ("application/json", _split(big), BIG_ROWS),
        "csv_10k": ("text/csv", big.to_csv(index=False).encode(), BIG_ROWS),
    }
    root.mkdir(parents=True, exist_ok=True)
    out = {}
    for name, (content_type, body, rows) in bodies.items():
        path = root / f"{name}.body"
        path.write_bytes(body)
        out[name] = Payload(name, content_type, path, rows)
    for frame, suffix in ((one, ""), (big, "_10k")):
        body = _v2_json(frame, tensor)
        path = root / f"v2{suffix}.body"
        path.write_bytes(body)
        out[f"v2{suffix}"] = Payload(f"v2{suffix}", "application/json", path, len(frame), "v2")
        body, header_length = _v2_binary(frame, tensor)
        path = root / f"v2_bin{suffix}.body"
        path.write_bytes(body)
        headers = (("Inference-Header-Content-Length", str(header_length)),)
        out[f"v2_bin{suffix}"] = Payload(
            f"v2_bin{suffix}", "application/octet-stream", path, len(frame), "v2", headers
        )
    return out


def _split(df: pd.DataFrame) -> bytes:
    split = {"columns": list(df.columns), "data": df.to_numpy().tolist()}
    return orjson.dumps({"dataframe_split": split})


def _records(df: pd.DataFrame) -> list[dict[str, Any]]:
    return df.to_dict(orient="records")


def _v2_tensors(df: pd.DataFrame, tensor: bool) -> list[tuple[dict[str, Any], np.ndarray]]:
    """V2 input tensors: one FP32 [n,10] `input-0` for a tensor model, else one FP64 [n] per
    column (what MLServer advertises for a column signature)."""
    if tensor:
        data = df.to_numpy(np.float32)
        return [({"name": "input-0", "shape": list(data.shape), "datatype": "FP32"}, data)]
    return [
        ({"name": str(c), "shape": [len(df)], "datatype": "FP64"}, df[c].to_numpy(np.float64))
        for c in df.columns
    ]


def _v2_json(df: pd.DataFrame, tensor: bool) -> bytes:
    inputs = [{**meta, "data": data.ravel().tolist()} for meta, data in _v2_tensors(df, tensor)]
    return orjson.dumps({"inputs": inputs})


def _v2_binary(df: pd.DataFrame, tensor: bool) -> tuple[bytes, int]:
    """The binary tensor extension: a JSON header, then the raw little-endian tensors."""
    inputs, blobs = [], []
    for meta, data in _v2_tensors(df, tensor):
        blob = np.ascontiguousarray(data).astype(data.dtype.newbyteorder("<")).tobytes()
        inputs.append({**meta, "parameters": {"binary_data_size": len(blob)}})
        blobs.append(blob)
    header = orjson.dumps({"inputs": inputs, "parameters": {"binary_data_output": True}})
    return header + b"".join(blobs), len(header)


# -- process accounting ----------------------------------------------------------------------------


# -- servers ---------------------------------------------------------------------------------------


class ServerFailed(Exception):
    """A server exited or never became ready; the message holds the end of its log."""


@dataclass
class Server:
    kind: str
    process: subprocess.Popen[bytes]
    url: str
    cold_start: float
    log: Path
    model_name: str

    def pids(self) -> list[int]:
        return _tree(self.process.pid)

    def path(self, payload: Payload) -> str:
        if payload.route == "v2":
            return f"/v2/models/{self.model_name}/infer"
        return "/invocations"

    def stop(self) -> None:
        if self.process.poll() is None:
            pids = self.pids()
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                for pid in reversed(pids):
                    try:
                        os.kill(pid, signal.SIGKILL)
                    except ProcessLookupError:
                        pass
                self.process.wait(10)


def start(
    kind: str,
    command: list[str],
    url: str,
    ready_path: str,
    log: Path,
    env: dict[str, str],
    model_name: str,
    cwd: Path | None = None,
) -> Server:
    """Spawn a server and wait for its first 200 on ``ready_path`` (the cold start)."""
    began = time.perf_counter()
    with log.open("wb") as sink:
        process = subprocess.Popen(
            command, stdout=sink, stderr=subprocess.STDOUT, env=env, cwd=cwd,
            start_new_session=True,
        )  # fmt: skip
    server = Server(kind, process, url, 0.0, log, model_name)
    while time.perf_counter() - began < 150:
        if process.poll() is not None:
            raise ServerFailed(f"{kind} exited with {process.returncode}: {_log_tail(log)}")
        if kind == "mlserver":
            text = log.read_text(errors="replace")
            if "stopped unexpectedly" in text or "Traceback" in text:
                time.sleep(1.0)  # let the traceback reach the log
                server.stop()
                raise ServerFailed(f"mlserver did not load the model: {_log_tail(log)}")
        try:
            with urllib.request.urlopen(f"{url}{ready_path}", timeout=2) as response:
                if response.status == 200:
                    server.cold_start = time.perf_counter() - began
                    return server
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        time.sleep(0.02)
    server.stop()
    raise ServerFailed(f"{kind} did not answer {ready_path} in 150 s: {_log_tail(log)}")


def _log_tail(log: Path) -> str:
    """The last lines of a server log that say why it failed (the traceback's last line first)."""
    lines = [line for line in log.read_text(errors="replace").splitlines() if line.strip()]
    errors = [
        line for line in lines if re.match(r"^[\w.]+(Error|Exception|NotFound)\b", line.strip())
    ]
    last = errors[-1].strip() if errors else (lines[-1].strip() if lines else "(empty log)")
    return last[:400]


def server_command(
    kind: str, package: Path, port: int, workers: int, extra: list[str] | None = None
) -> list[str]:
    if kind == "modelpack":
        return [
            str(BIN / "modelpack"), "serve", "-m", str(package),
            "-h", "127.0.0.1", "-p", str(port), "-w", str(workers), *(extra or []),
        ]  # fmt: skip
    if kind == "mlflow":
        return [
            str(BIN / "mlflow"), "models", "serve", "-m", str(package),
            "-h", "127.0.0.1", "-p", str(port), "-w", str(workers), "--env-manager", "local",
        ]  # fmt: skip
    raise ValueError(kind)


def base_env() -> dict[str, str]:
    env = {**os.environ, "MODELPACK_LOG_LEVEL": "warning", "PYTHONUNBUFFERED": "1"}
    env["PATH"] = f"{BIN}{os.pathsep}{env.get('PATH', '')}"  # mlflow runs `uvicorn` from PATH
    return env


def start_local(
    kind: str,
    package: Path,
    workers: int,
    log: Path,
    extra: list[str] | None = None,
    source: Path | None = None,
) -> Server:
    """modelpack or MLflow on ``package``; ``source``: run modelpack's code from there instead."""
    port = _free_port()
    command = server_command("modelpack" if source else kind, package, port, workers, extra)
    env = base_env()
    if source is not None:
        env["PYTHONPATH"] = str(source)
    url = f"http://127.0.0.1:{port}"
    return start(kind, command, url, "/ping", log, env, package.name)


def baseline_source(ref: str, work: Path) -> Path | None:
    """modelpack's code at git ``ref`` (``git archive``), or None when it cannot be had."""
    target = work / f"baseline-{ref}"
    target.mkdir(parents=True)
    top = subprocess.run(
        ["git", "-C", str(BENCH), "rev-parse", "--show-toplevel"], capture_output=True, text=True
    ).stdout.strip()
    archive = subprocess.run(
        ["git", "-C", top or str(BENCH), "archive", ref, "modelpack"], capture_output=True
    )
    if archive.returncode != 0:
        print(f"no baseline: git archive {ref}: {archive.stderr.decode().strip()}", flush=True)
        return None
    subprocess.run(["tar", "-x", "-C", str(target)], input=archive.stdout, check=True)
    return target


def start_mlserver(
    mlserver: Path, package: Path, workers: int, batch: tuple[int, float], work: Path
) -> Server:
    """MLServer on one package: settings.json and the model's model-settings.json in a fresh
    folder (it writes .envs/ and .metrics/ into its working directory)."""
    name = package.name
    repo = work / f"mlserver-{name}"
    shutil.rmtree(repo, ignore_errors=True)
    (repo / name).mkdir(parents=True)
    port, grpc, metrics = _free_port(), _free_port(), _free_port()
    settings = {
        "host": "127.0.0.1", "http_port": port, "grpc_port": grpc, "metrics_port": metrics,
        "parallel_workers": workers,
    }  # fmt: skip
    model_settings = {
        "name": name,
        "implementation": "mlserver_mlflow.MLflowRuntime",
        "parameters": {"uri": str(package)},
        "max_batch_size": batch[0],
        "max_batch_time": batch[1],
    }
    (repo / "settings.json").write_text(json.dumps(settings))
    (repo / name / "model-settings.json").write_text(json.dumps(model_settings))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MODELPACK_", "VIRTUAL_ENV"))}
    # python_model packages saved by modelpack name modelpack's loader: this checkout's code.
    env["PYTHONPATH"] = str(_source_root())
    env["PYTHONUNBUFFERED"] = "1"
    url = f"http://127.0.0.1:{port}"
    command = [str(mlserver), "start", str(repo)]
    log = work / f"{name}-mlserver.log"
    return start("mlserver", command, url, f"/v2/models/{name}/ready", log, env, name, cwd=repo)


def mlserver_venv(path: Path, models: list[str]) -> Path:
    """MLServer's own venv (made on first use), with what ``models`` need; its `mlserver`."""
    python = path / "bin" / "python"
    if not (path / "bin" / "mlserver").exists():
        print(f"making MLServer's venv in {path} (once: a few minutes) ...", flush=True)
        subprocess.run([sys.executable, "-m", "venv", "--clear", str(path)], check=True)
        _pip(python, MLSERVER_PINS)
    wanted = dict(lib for model in models for lib in FLAVOR_LIBS.get(model, []))
    probe = "import importlib.util, sys; print(' '.join(m for m in sys.argv[1:] if importlib.util.find_spec(m) is None))"  # noqa: E501
    missing = subprocess.run(
        [str(python), "-c", probe, *wanted], capture_output=True, text=True, check=True
    ).stdout.split()
    if missing:
        # The same versions as this interpreter's, so that both servers run the same model code.
        specs = [f"{wanted[m]}=={_version(wanted[m])}" for m in missing]
        print(f"adding {', '.join(specs)} to {path} ...", flush=True)
        _pip(python, specs)
    if "probe" in models and not _has_modelpack(python):
        # The probe is a python_model package: MLflow loads it through modelpack's loader, which
        # finds its flavors by entry point, so modelpack must be installed there, not only on
        # PYTHONPATH (the server still runs this checkout's code, first on its PYTHONPATH).
        _install_modelpack(python)
    return path / "bin" / "mlserver"


def _source_root() -> Path:
    import modelpack

    return Path(modelpack.__file__).resolve().parent.parent


def _has_modelpack(python: Path) -> bool:
    probe = "import importlib.metadata as m; print(len(m.entry_points(group='modelpack.flavors')))"
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    out = subprocess.run([str(python), "-c", probe], capture_output=True, text=True, env=env)
    return out.returncode == 0 and out.stdout.strip() not in ("", "0")


def _install_modelpack(python: Path) -> None:
    """pip install --no-deps a copy of this checkout (a build in place would litter it)."""
    root = _source_root()
    with tempfile.TemporaryDirectory() as tmp:
        copy = Path(tmp) / "modelpack-src"
        shutil.copytree(root / "modelpack", copy / "modelpack")
        for name in ("pyproject.toml", "README.md"):
            if (root / name).exists():
                shutil.copy(root / name, copy / name)
        print(f"installing modelpack (no dependencies) into {python.parent.parent} ...", flush=True)
        _pip(python, ["--no-deps", str(copy)])


def _version(distribution: str) -> str:
    return importlib.metadata.version(distribution).split("+")[0]  # torch's +cpu: any build


def _pip(python: Path, specs: list[str]) -> None:
    with tempfile.NamedTemporaryFile("w", suffix=".txt", delete=False) as pins:
        try:
            pins.write(f"torch=={_version('torch')}\n")  # never let anything pull another torch
        except importlib.metadata.PackageNotFoundError:
            pass
    try:
        subprocess.run(
            [str(python), "-m", "pip", "install", "-q", "-c", pins.name, *specs], check=True
        )
    finally:
        os.unlink(pins.name)


# -- load ------------------------------------------------------------------------------------------


@dataclass
class Result:
    requests_per_s: float
    p50_ms: float
    p99_ms: float
    cpu_ms_per_request: float
    errors: int


def check(server: Server, payload: Payload) -> tuple[str | None, Any]:
    """(None, the parsed answer) when the server answers the payload with 200, else (why, None)."""
    request = urllib.request.Request(
        f"{server.url}{server.path(payload)}",
        data=payload.path.read_bytes(),
        headers={"Content-Type": payload.content_type, **dict(payload.headers)},
    )
    try:
        with urllib.request.urlopen(request, timeout=120) as response:
            body = response.read()
            if response.status != 200:
                return f"HTTP {response.status}", None
            if payload.name.startswith("v2_bin"):
                return None, None
            return None, orjson.loads(body)
    except urllib.error.HTTPError as exc:
        return f"HTTP {exc.code}: {_summary(exc.read())}", None
    except (urllib.error.URLError, ConnectionError, TimeoutError) as exc:
        return f"no answer: {exc}", None


def _summary(body: bytes) -> str:
    """An error body in one short line: a traceback's last line, else its start."""
    text = body.decode(errors="replace").strip()
    if "Traceback" in text:
        text = text.splitlines()[-1]
    return " ".join(text.split())[:160]


def wrk(server: Server, payload: Payload, connections: int, seconds: float) -> Result:
    script = payload.path.with_suffix(f".{server.kind}.lua")
    headers = [("Content-Type", payload.content_type), *payload.headers]
    lines = "\n".join(f'wrk.headers["{k}"] = "{v}"' for k, v in headers)
    script.write_text(WRK_SCRIPT.format(headers=lines, body=payload.path))
    threads = 1 if connections == 1 else 2
    command = [
        "wrk", f"-t{threads}", f"-c{connections}", f"-d{max(1, round(seconds))}s",
        "--timeout", "30s", "-s", str(script), f"{server.url}{server.path(payload)}",
    ]  # fmt: skip
    pids = server.pids()
    cpu_before = _cpu_seconds(pids)
    out = subprocess.run(command, capture_output=True, text=True, check=True)
    cpu = _cpu_seconds(pids) - cpu_before
    found = re.search(r"BENCH (\d+) (\d+) (\d+) (\d+) (\d+) (\d+)", out.stdout)
    if found is None:
        raise RuntimeError(f"wrk printed no summary:\n{out.stdout}\n{out.stderr}")
    requests, micros, status_errors, socket_errors, p50, p99 = map(int, found.groups())
    return Result(
        requests / (micros / 1e6),
        p50 / 1e3,
        p99 / 1e3,
        cpu * 1e3 / max(requests, 1),
        status_errors + socket_errors,
    )


def settle(server: Server, limit: float = 15.0) -> None:
    """Wait until the server's processes are idle. wrk stops waiting at the end of a run, but
    the server still works through the requests it had taken in, which would slow the next run."""
    pids = server.pids()
    end = time.monotonic() + limit
    while time.monotonic() < end:
        before = _cpu_seconds(pids)
        time.sleep(0.2)
        if _cpu_seconds(pids) - before < 0.03:
            return


def open_loop(
    server: Server, payload: Payload, rate: float, seconds: float, timeout: float
) -> dict[str, Any]:
    """bench/loadgen.py at ``rate`` req/s for ``seconds``: its JSON summary."""
    command = [
        sys.executable, str(BENCH / "loadgen.py"), "--url", f"{server.url}{server.path(payload)}",
        "--body", str(payload.path), "--content-type", payload.content_type,
        "--rate", f"{rate:.1f}", "--duration", str(seconds), "--timeout", str(timeout),
    ]  # fmt: skip
    out = subprocess.run(command, capture_output=True, text=True, check=True)
    return dict(json.loads(out.stdout.strip().splitlines()[-1]))


# -- the run ---------------------------------------------------------------------------------------


@dataclass
class ServerRun:
    cold_start: float | None = None
    rss: float | None = None
    pss: float | None = None
    failed: str | None = None
    refused: dict[str, str] = field(default_factory=dict)
    answers: dict[str, Any] = field(default_factory=dict)
    load: tuple[float, float] | None = None
    """Load average when the server started, and when its runs ended."""


@dataclass
class ModelRun:
    servers: dict[str, ServerRun] = field(default_factory=dict)
    results: dict[tuple[str, int, str], Result] = field(default_factory=dict)
    overload: dict[str, Any] | None = None


def matrix(model: str, mode: str) -> list[tuple[str, int]]:
    """(payload, connections) pairs to run for a model."""
    if mode == "long":
        one = ("split", "records", "inputs", "csv", "v2", "v2_bin")
        big = ("split_10k", "csv_10k", "v2_10k", "v2_bin_10k")
        return [(p, c) for p in one for c in (1, 8, 64)] + [(p, c) for p in big for c in (1, 64)]
    if mode == "quick":
        return [("split", 1), ("split", 64), ("v2", 1), ("v2", 64)]
    v2 = [("v2", 1), ("v2", 64), ("v2_bin", 1), ("v2_bin", 64), ("v2_10k", 1), ("v2_bin_10k", 1)]
    if model == "probe":
        small = [(p, c) for p in ("split", "records", "inputs", "csv") for c in (1, 64)]
        return [*small, ("split", 8), ("split_10k", 1), ("csv_10k", 1), *v2]
    return [("split", 1), ("split", 8), ("split", 64), ("split_10k", 1), *v2]


def run_model(
    model: str,
    package: Path,
    payloads: dict[str, Payload],
    order: list[str],
    args: argparse.Namespace,
    work: Path,
) -> ModelRun:
    run = ModelRun()
    todo = matrix(model, args.mode)
    for kind in order:
        state = run.servers[kind] = ServerRun()
        print(f"  {kind:9s} starting ...", end="", flush=True)
        before = loadavg()
        try:
            log = work / f"{model}-{kind}.log"
            if kind == "mlserver":
                server = start_mlserver(args.mlserver, package, args.workers, args.batch, work)
            elif kind == "baseline":
                server = start_local(kind, package, args.workers, log, source=args.baseline_src)
            else:
                server = start_local(kind, package, args.workers, log)
        except ServerFailed as exc:
            state.failed = str(exc)
            print(f" FAILED: {exc}", flush=True)
            continue
        state.cold_start = server.cold_start
        print(f" up in {server.cold_start:.1f} s (load average {before:.2f})", flush=True)
        try:
            runs = todo if kind != "baseline" else [("split", 1), ("split", 64)]
            missing: dict[str, str] = {}  # route -> its 404: the route's other bodies get it too
            for name in dict.fromkeys(p for p, _ in runs):
                route = payloads[name].route
                if route in missing:
                    state.refused[name] = missing[route]
                    continue
                problem, answer = check(server, payloads[name])
                if problem is None:
                    state.answers[name] = answer
                    continue
                state.refused[name] = problem
                if problem.startswith("HTTP 404"):
                    missing[route] = problem
            warm = next((p for p in ("split", "v2") if p not in state.refused), None)
            if warm is not None:
                wrk(server, payloads[warm], 1, 1)  # warm-up: imports, caches, first-call paths
            for name, connections in runs:
                if name in state.refused:
                    continue
                duration = args.duration if payloads[name].rows == 1 else args.duration * 1.5
                result = wrk(server, payloads[name], connections, duration)
                settle(server)
                run.results[(name, connections, kind)] = result
                print(
                    f"    {name:10s} c={connections:<3d} {result.requests_per_s:9.1f} req/s"
                    f"  p50 {result.p50_ms:8.2f} ms  p99 {result.p99_ms:8.2f} ms"
                    + (f"  {result.errors} errors" if result.errors else ""),
                    flush=True,
                )
            state.rss, state.pss = _memory_mib(server.pids())
        finally:
            server.stop()
            state.load = (before, loadavg())
        if kind == "modelpack" and args.overload:
            run.overload = overload(model, package, payloads["split"], run, args, work)
    return run


def overload(
    model: str,
    package: Path,
    payload: Payload,
    run: ModelRun,
    args: argparse.Namespace,
    work: Path,
) -> dict[str, Any] | None:
    """modelpack with ``-t`` under open-loop load at 4x its measured 64-connection capacity."""
    capacity = run.results.get(("split", 64, "modelpack"))
    if capacity is None:
        return None
    rate = 4 * capacity.requests_per_s
    extra = ["-t", f"{args.overload_timeout:g}"]
    log = work / f"{model}-modelpack-overload.log"
    server = start_local("modelpack", package, args.workers, log, extra)
    before = loadavg()
    try:
        wrk(server, payload, 1, 1)
        result = open_loop(
            server, payload, rate, args.overload_duration, timeout=2 * args.overload_timeout + 1
        )
    finally:
        server.stop()
    result["capacity"] = capacity.requests_per_s
    result["load"] = (before, loadavg())
    statuses = result["statuses"]
    print(
        f"    overload   {rate:9.1f} req/s offered {result['offered_rate']:.1f}: "
        f"{statuses.get('200', 0)} ok (p99 {_num(result['p99_ms'], 0)} ms), "
        f"{statuses.get('503', 0)} x 503, other {_other_outcomes(result) or 'none'}",
        flush=True,
    )
    return result


def _other_outcomes(result: dict[str, Any]) -> str:
    parts = [f"{n} x {s}" for s, n in result["statuses"].items() if s not in ("200", "503")]
    for key in ("timeouts", "socket_errors", "never_sent", "503_without_retry_after"):
        if result[key]:
            parts.append(f"{result[key]} {key.replace('_', ' ')}")
    return ", ".join(parts)


def bare_ceiling(payload: Payload, args: argparse.Namespace, work: Path) -> dict[int, float]:
    (work / "bare_app.py").write_text(BARE_APP)
    port = _free_port()
    command = [
        sys.executable, "-m", "uvicorn", "bare_app:app", "--app-dir", str(work),
        "--host", "127.0.0.1", "--port", str(port), "--workers", str(args.workers),
        "--loop", "uvloop", "--http", "httptools", "--no-access-log", "--log-level", "warning",
    ]  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    server = start("bare", command, url, "/ping", work / "bare.log", base_env(), "bare")
    try:
        wrk(server, payload, 1, 1)
        return {c: wrk(server, payload, c, args.duration).requests_per_s for c in (1, 64)}
    finally:
        server.stop()


def workers_memory(args: argparse.Namespace, work: Path) -> dict[tuple[str, int], dict[str, float]]:
    """RSS and PSS of all processes after load, for ``-w 1`` and ``-w 4`` on a 256 MB model."""
    print(f"workers memory: a python_model with {BIG_WEIGHTS_MB} MB of weights", flush=True)
    package = make_big_package(work / "big")
    payload_path = work / "big" / "one.body"
    columns = [f"x{i}" for i in range(10)]
    payload_path.write_bytes(
        orjson.dumps({"dataframe_split": {"columns": columns, "data": [[1.0] * 10]}})
    )
    payload = Payload("split", "application/json", payload_path, 1)
    out: dict[tuple[str, int], dict[str, float]] = {}
    kinds = ["modelpack"] + (["mlflow"] if "mlflow" in args.peers and args.mode != "quick" else [])
    for kind in kinds:
        for workers in (1, 4):
            log = work / f"big-{kind}-w{workers}.log"
            try:
                server = start_local(kind, package, workers, log)
            except ServerFailed as exc:
                print(f"  {kind} -w {workers}: FAILED: {exc}", flush=True)
                continue
            try:
                time.sleep(1.0)  # every worker up
                result = wrk(server, payload, 16, 2)  # every worker has predicted
                pids = server.pids()
                rss, pss = _memory_mib(pids)
            finally:
                server.stop()
            out[(kind, workers)] = {
                "rss": rss, "pss": pss, "cold_start": server.cold_start,
                "processes": len(pids), "errors": result.errors,
                "load": loadavg(),
            }  # fmt: skip
            print(
                f"  {kind:9s} -w {workers}: PSS {pss:7.0f} MiB, RSS {rss:7.0f} MiB, "
                f"cold start {server.cold_start:.1f} s",
                flush=True,
            )
    return out


# -- the report ------------------------------------------------------------------------------------


def _ratio(a: float | None, b: float | None, digits: int = 1) -> str:
    if a is None or b is None or b == 0:
        return "n/a"
    return f"{a / b:.{digits}f}x"


def _rps(result: Result | None) -> float | None:
    return None if result is None else result.requests_per_s


def _num(value: float | None, digits: int = 1) -> str:
    return "n/a" if value is None else f"{value:,.{digits}f}"


def _verdict(ok: bool | None) -> str:
    return "n/a" if ok is None else ("met" if ok else "MISSED")


def report(
    runs: dict[str, ModelRun],
    payloads: dict[str, dict[str, Payload]],
    kinds: list[str],
    ceiling: dict[int, float],
    memory: dict[tuple[str, int], dict[str, float]],
    args: argparse.Namespace,
) -> None:
    cols = [SHORT[k] for k in kinds]

    def group(title: str, width: int) -> str:
        return f"{title} " + " ".join(f"{c:>{width}s}" for c in cols)

    header = (
        f"{'payload':11s} {'conn':>4s} | {group('req/s', 9)} | {group('p50 ms', 8)} | "
        f"{group('p99 ms', 8)} | {group('cpu ms/req', 6)} | {group('errors', 4)}"
    )
    for model, run in runs.items():
        loads = [s.load for s in run.servers.values() if s.load]
        span = f"{min(a for a, _ in loads):.2f}-{max(b for _, b in loads):.2f}" if loads else "?"
        print(f"\n{model} (load average {span} during its runs)")
        print(header)
        print("-" * len(header))
        keys = dict.fromkeys((p, c) for p, c, _ in run.results)
        for name, connections in keys:
            cells = [run.results.get((name, connections, k)) for k in kinds]

            def row(attr: str, width: int, digits: int, cells: list[Result | None] = cells) -> str:
                return " ".join(
                    f"{_num(getattr(c, attr) if c else None, digits):>{width}s}" for c in cells
                )

            errors = " ".join(f"{_num(c.errors if c else None, 0):>4s}" for c in cells)
            print(
                f"{name:11s} {connections:4d} | {'':5s} {row('requests_per_s', 9, 1)} | "
                f"{'':6s} {row('p50_ms', 8, 2)} | {'':6s} {row('p99_ms', 8, 2)} | "
                f"{'':10s} {row('cpu_ms_per_request', 6, 2)} | {'':6s} {errors}"
            )
        for kind in kinds:
            state = run.servers.get(kind)
            if state is None:
                continue
            if state.failed:
                print(f"  {kind}: FAILED to serve this package: {state.failed}")
                continue
            print(
                f"  {kind:9s} cold start {_num(state.cold_start, 2)} s, after load RSS "
                f"{_num(state.rss, 0)} MiB, PSS {_num(state.pss, 0)} MiB"
            )
            by_problem: dict[str, list[str]] = {}
            for name, problem in state.refused.items():
                by_problem.setdefault(problem, []).append(name)
            for problem, names in by_problem.items():
                print(f"  {kind:9s} refused {', '.join(names)}: {problem}")
        agree = _disagreements(run, kinds)
        print(f"  answers to the 1-row split body: {agree or 'all servers agree'}")

    if runs:
        targets(runs, payloads, ceiling, args)
    if memory:
        print(f"\nworkers memory: python_model with {BIG_WEIGHTS_MB} MB of weights, after load")
        for kind in ("modelpack", "mlflow"):
            one, four = memory.get((kind, 1)), memory.get((kind, 4))
            if not one or not four:
                continue
            ratio = four["pss"] / one["pss"]
            target = f"  (target ≤ 2x: {_verdict(ratio <= 2)})" if kind == "modelpack" else ""
            print(
                f"  {kind:9s} PSS -w 1 {one['pss']:6.0f} MiB, -w 4 {four['pss']:6.0f} MiB: "
                f"{ratio:.2f}x{target}; RSS {one['rss']:.0f} / {four['rss']:.0f} MiB; "
                f"cold start {one['cold_start']:.1f} / {four['cold_start']:.1f} s "
                f"(load {one['load']:.2f} / {four['load']:.2f})"
            )


def targets(
    runs: dict[str, ModelRun],
    payloads: dict[str, dict[str, Payload]],
    ceiling: dict[int, float],
    args: argparse.Namespace,
) -> None:
    """The ratios the issues' targets are stated in, each with its verdict."""
    print("\ntargets, issue 11 (1-row dataframe_split; MLServer's V2 is its adaptive batching on)")
    line = (
        f"{'model':13s} | {'req/s c64 ÷mf':>13s} {'≥20x':>6s} | {'÷ms inv':>8s} {'÷ms V2':>7s} "
        f"{'>1':>6s} | {'p99 c64 ÷mf':>11s} {'≤0.5':>6s} | {'÷ms inv':>8s} {'÷ms V2':>7s} "
        f"{'<1':>6s}"
    )
    print(line)
    print("-" * len(line))
    for model, run in runs.items():
        mp = run.results.get(("split", 64, "modelpack"))
        mf = run.results.get(("split", 64, "mlflow"))
        ms_inv = run.results.get(("split", 64, "mlserver"))
        ms_v2 = run.results.get(("v2", 64, "mlserver"))
        rps = [r.requests_per_s if r else None for r in (mp, mf, ms_inv, ms_v2)]
        p99 = [r.p99_ms if r else None for r in (mp, mf, ms_inv, ms_v2)]
        target_mf = None if None in rps[:2] else rps[0] / rps[1] >= 20  # type: ignore[operator]
        ms_best = [v for v in rps[2:] if v is not None]
        ahead = None if rps[0] is None or not ms_best else rps[0] > max(ms_best)
        p99_mf = None if None in p99[:2] else p99[0] <= 0.5 * p99[1]  # type: ignore[operator]
        ms_p99 = [v for v in p99[2:] if v is not None]
        below = None if p99[0] is None or not ms_p99 else p99[0] < min(ms_p99)
        if model == "probe":
            target_mf = ahead = p99_mf = below = None  # the probe has no model: no target
        print(
            f"{model:13s} | {_ratio(rps[0], rps[1]):>13s} {_verdict(target_mf):>6s} | "
            f"{_ratio(rps[0], rps[2]):>8s} {_ratio(rps[0], rps[3]):>7s} {_verdict(ahead):>6s} | "
            f"{_ratio(p99[0], p99[1], 2):>11s} {_verdict(p99_mf):>6s} | "
            f"{_ratio(p99[0], p99[2], 2):>8s} {_ratio(p99[0], p99[3], 2):>7s} "
            f"{_verdict(below):>6s}"
        )

    print(
        "\n1 connection, 1-row dataframe_split, against modelpack before the engine: in this run "
        f"(modelpack at {args.baseline}, run next to today's), and as recorded in "
        "bench/RESULTS.md on 2026-11-23 (absolute figures across runs move with the load; "
        "÷MLflow in each run is the fairer comparison)"
    )
    print(f"{'model':13s} | {'req/s now':>9s} {'at ' + str(args.baseline)[:7]:>10s} {'÷':>6s} "
          f"{'≥0.95':>6s} | {'c64 now':>8s} {'at ref':>8s} {'÷':>6s} | {'÷mf now':>8s} "
          f"{'÷mf 11-23':>9s} {'req/s 11-23':>11s}")  # fmt: skip
    for model, run in runs.items():
        now, ref = (
            run.results.get(("split", 1, "modelpack")),
            run.results.get(("split", 1, "baseline")),
        )
        now64 = run.results.get(("split", 64, "modelpack"))
        ref64 = run.results.get(("split", 64, "baseline"))
        mf = run.results.get(("split", 1, "mlflow"))
        before_mp, before_mf = BASELINE_1CONN.get(model, (None, None))
        ok = None if now is None or ref is None else now.requests_per_s >= 0.95 * ref.requests_per_s
        print(
            f"{model:13s} | {_num(_rps(now)):>9s} {_num(_rps(ref)):>10s} "
            f"{_ratio(_rps(now), _rps(ref), 2):>6s} {_verdict(ok):>6s} | "
            f"{_num(_rps(now64)):>8s} {_num(_rps(ref64)):>8s} "
            f"{_ratio(_rps(now64), _rps(ref64), 2):>6s} | {_ratio(_rps(now), _rps(mf)):>8s} "
            f"{_ratio(before_mp, before_mf):>9s} {_num(before_mp):>11s}"
        )

    if any(run.overload for run in runs.values()):
        print(
            f"\noverload: modelpack -t {args.overload_timeout:g}, open loop at 4x its "
            f"64-connection req/s for {args.overload_duration:g} s (bench/loadgen.py; "
            "latency from when each request was due)"
        )
        print(f"{'model':13s} | {'target/s':>8s} {'offered/s':>9s} | {'200s':>6s} {'p50 ms':>7s} "
              f"{'p99 ms':>7s} | {'503s':>6s} | other outcomes | p99 < -t, no other")  # fmt: skip
        for model, run in runs.items():
            o = run.overload
            if not o:
                continue
            others = _other_outcomes(o)
            ok = o["p99_ms"] is not None and o["p99_ms"] < args.overload_timeout * 1e3
            print(
                f"{model:13s} | {o['target_rate']:8.0f} {o['offered_rate']:9.0f} | "
                f"{o['statuses'].get('200', 0):6d} {_num(o['p50_ms'], 0):>7s} "
                f"{_num(o['p99_ms'], 0):>7s} | {o['statuses'].get('503', 0):6d} | "
                f"{others or 'none'} | {_verdict(ok and not others)} "
                f"(load {o['load'][0]:.2f}-{o['load'][1]:.2f})"
            )

    if any(k in ("v2", "v2_bin") for run in runs.values() for k, _, _ in run.results) or any(
        "v2" in s.refused for run in runs.values() for s in run.servers.values()
    ):
        print("\ntargets, issue 12 (V2; MLServer with its adaptive batching on)")
        print(f"{'model':13s} | {'V2 c1 mp÷ms':>11s} {'V2 c64 mp÷ms':>12s} {'≥5x':>6s} | "
              f"{'bin 10k ÷ split 10k rows/s (mp)':>31s} {'≥3x':>6s}")  # fmt: skip
        for model, run in runs.items():
            res = run.results
            c1 = [res.get(("v2", 1, k)) for k in ("modelpack", "mlserver")]
            c64 = [res.get(("v2", 64, k)) for k in ("modelpack", "mlserver")]
            r1 = [r.requests_per_s if r else None for r in c1]
            r64 = [r.requests_per_s if r else None for r in c64]
            ok = None
            if None not in r1 + r64:
                ok = r1[0] >= 5 * r1[1] and r64[0] >= 5 * r64[1]  # type: ignore[operator]
            binary = res.get(("v2_bin_10k", 1, "modelpack"))
            split = res.get(("split_10k", 1, "modelpack"))
            bin_ok = None
            if binary and split:
                bin_ok = binary.requests_per_s >= 3 * split.requests_per_s
            print(
                f"{model:13s} | {_ratio(r1[0], r1[1]):>11s} {_ratio(r64[0], r64[1]):>12s} "
                f"{_verdict(ok):>6s} | "
                f"{_ratio(_rps(binary), _rps(split)):>31s}"
                f" {_verdict(bin_ok):>6s}"
            )
        mp_v2 = [
            s.refused["v2"] for run in runs.values()
            if (s := run.servers.get("modelpack")) and "v2" in s.refused
        ]  # fmt: skip
        if mp_v2:
            print(f"  modelpack does not serve V2 here: {mp_v2[0]}")

    if ceiling:
        print(
            f"\nbare starlette app (orjson parse, constant answer): "
            f"{ceiling[1]:,.0f} req/s at 1 connection, {ceiling[64]:,.0f} at 64"
        )
    probe = runs.get("probe")
    if probe is not None:
        print("\noverhead probe, 1-row bodies: modelpack ÷ MLflow, ÷ MLServer, ÷ the bare app")
        for (name, connections, kind), result in probe.results.items():
            if kind != "modelpack" or payloads["probe"][name].rows != 1:
                continue
            mf = probe.results.get((name, connections, "mlflow"))
            ms = probe.results.get((name, connections, "mlserver"))
            bare = ceiling.get(connections)
            print(
                f"  {name:8s} c={connections:<3d} ÷mf "
                f"{_ratio(result.requests_per_s, _rps(mf)):>6s}, ÷ms "
                f"{_ratio(result.requests_per_s, _rps(ms)):>6s}, ÷bare "
                f"{_ratio(result.requests_per_s, bare):>6s}"
            )


def _disagreements(run: ModelRun, kinds: list[str]) -> str:
    """Servers whose answer to the 1-row split (and V2) body differs from modelpack's."""
    reference = run.servers.get("modelpack")
    if reference is None or "split" not in reference.answers:
        return "no modelpack answer to compare"
    expected = np.asarray(reference.answers["split"]["predictions"], dtype=float).ravel()
    out = []
    for kind in kinds:
        state = run.servers.get(kind)
        if state is None:
            continue
        for name, answer in state.answers.items():
            if name == "split" and kind != "modelpack":
                got = np.asarray(answer["predictions"], dtype=float).ravel()
            elif name == "v2":
                got = np.asarray(answer["outputs"][0]["data"], dtype=float).ravel()
            else:
                continue
            if got.shape != expected.shape or not np.allclose(got, expected, rtol=1e-6):
                out.append(f"{kind} {name} answered {got[:3].tolist()}, modelpack {expected[:3]}")
    return "; ".join(out)


# -- main ------------------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--models", default=None, help=f"comma-separated subset of {MODELS}")
    parser.add_argument("--peers", default="mlflow,mlserver", help="comma-separated peers")
    parser.add_argument("--duration", type=float, default=None, help="seconds per 1-row run (3)")
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--long", action="store_true", help="the full matrix at 10 s per run")
    parser.add_argument("--quick", action="store_true", help="smoke run: 2 models, 2 s per run")
    parser.add_argument("--no-bare", action="store_true", help="skip the bare-app ceiling")
    parser.add_argument("--no-overload", action="store_true", help="skip the overload runs")
    parser.add_argument(
        "--overload-timeout", type=float, default=2.0, help="modelpack's -t in the overload run"
    )
    parser.add_argument("--overload-duration", type=float, default=None, help="seconds (6)")
    parser.add_argument(
        "--workers-memory", action="store_true", help="only the -w 1 / -w 4 memory comparison"
    )
    parser.add_argument("--no-workers-memory", action="store_true")
    parser.add_argument(
        "--mlserver-venv",
        type=Path,
        default=Path(
            os.environ.get("MODELPACK_BENCH_MLSERVER_VENV")
            or Path.home() / ".cache" / "modelpack-bench" / "mlserver-venv"
        ),
        help="MLServer's venv, made on first use (env: MODELPACK_BENCH_MLSERVER_VENV)",
    )
    parser.add_argument(
        "--baseline",
        default=BASELINE_REF,
        help="git ref of modelpack to run beside today's (split, 1 and 64 connections); 'none'",
    )
    parser.add_argument(
        "--mlserver-batch",
        default="64,0.005",
        help="MLServer's max_batch_size,max_batch_time (seconds); 0,0 turns its batching off",
    )
    args = parser.parse_args()
    args.mode = "long" if args.long else "quick" if args.quick else "default"
    if args.duration is None:
        args.duration = {"long": 10.0, "quick": 2.0}.get(args.mode, 3.0)
    if args.overload_duration is None:
        args.overload_duration = 4.0 if args.quick else 6.0
    if args.models is None:
        args.models = "elasticnet,random_forest" if args.quick else ",".join(MODELS)
    args.peers = [p for p in args.peers.split(",") if p]
    args.overload = not args.no_overload
    size, wait = args.mlserver_batch.split(",")
    args.batch = (int(size), float(wait))
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is not installed: apt-get install -y wrk (or brew install wrk)")
    names = [m for m in args.models.split(",") if m]
    kinds = ["modelpack"] + [k for k in SERVERS[1:] if k in args.peers]
    began = time.time()
    print(
        f"{time.strftime('%Y-%m-%d %H:%M')}, {os.cpu_count()} CPUs, load average "
        f"{' '.join(f'{v:.2f}' for v in os.getloadavg())}",
        flush=True,
    )
    work = Path(tempfile.mkdtemp(prefix="modelpack-bench-"))
    try:
        runs: dict[str, ModelRun] = {}
        all_payloads: dict[str, dict[str, Payload]] = {}
        ceiling: dict[int, float] = {}
        memory: dict[tuple[str, int], dict[str, float]] = {}
        if not args.workers_memory:
            if "mlserver" in kinds:
                args.mlserver = mlserver_venv(args.mlserver_venv, names)
            args.baseline_src = None
            if args.baseline != "none":
                args.baseline_src = baseline_source(args.baseline, work)
            print(f"saving {len(names)} packages in {work} ...", flush=True)
            packages = make_packages(work / "packages", names)
            for i, model in enumerate(names):
                order = kinds[i % len(kinds) :] + kinds[: i % len(kinds)]
                if args.baseline_src is not None:  # next to today's modelpack, under like load
                    order.insert(order.index("modelpack") + 1, "baseline")
                print(f"{model}:", flush=True)
                payloads = make_payloads(work / "payloads" / model, tensor=model == "torch")
                all_payloads[model] = payloads
                runs[model] = run_model(model, packages[model], payloads, order, args, work)
            if not args.no_bare and args.mode != "quick":
                bare = make_payloads(work / "payloads" / "bare", tensor=False)
                ceiling = bare_ceiling(bare["split"], args, work)
        if args.workers_memory or not args.no_workers_memory:
            memory = workers_memory(args, work)
        report(runs, all_payloads, kinds, ceiling, memory, args)
        print(
            f"\nwall time {(time.time() - began) / 60:.1f} min; load average at the end "
            f"{' '.join(f'{v:.2f}' for v in os.getloadavg())}"
        )
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
