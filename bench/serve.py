"""Serving: `modelpack serve` vs `mlflow models serve --env-manager local`, same packages.

    python bench/serve.py                 # short run, ~4-5 minutes
    python bench/serve.py --long          # every payload at 1, 8 and 64 connections, 10 s each
    python bench/serve.py --models probe,elasticnet --duration 5 --workers 2

Load comes from wrk on loopback (Debian/Ubuntu: `apt-get install -y wrk`; macOS: `brew install
wrk`). Packages (saved once by modelpack, which MLflow also serves): a PythonModel returning the
row count (the pure-overhead probe), ElasticNet and RandomForest(100) on sklearn's diabetes data,
XGBoost(100 trees) and a torch MLP 10-64-1. The two servers run one after the other for each model,
in alternating order, with the same worker count. For each payload and connection count the table
gives requests/s (and rows/s), p50 and p99 latency and server CPU per request (all processes of
the server, from /proc); per model, the cold start (spawn to the first 200 on /ping) and the
resident memory of the server's processes after the load. A bare starlette app that parses the
JSON body and answers a constant gives the ceiling. Not a test: it prints and asserts nothing.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import signal
import socket
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

BIN = Path(sys.executable).parent
MODELS = ["probe", "elasticnet", "random_forest", "xgboost", "torch"]
BIG_ROWS = 10_000

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
wrk.headers["Content-Type"] = "{content_type}"
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


@dataclass(frozen=True)
class Payload:
    name: str
    content_type: str
    path: Path
    rows: int


def make_payloads(root: Path, tensor: bool) -> dict[str, Payload]:
    """1-row bodies as split, records, inputs and CSV; 10,000-row bodies as split and CSV."""
    from sklearn.datasets import load_diabetes

    x = load_diabetes(as_frame=True).data
    one = x.head(1)
    big = x.sample(BIG_ROWS, replace=True, random_state=0).reset_index(drop=True)
    inputs = one.to_numpy().tolist() if tensor else one.to_dict(orient="list")
    bodies = {
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
    return out


def _split(df: pd.DataFrame) -> bytes:
    split = {"columns": list(df.columns), "data": df.to_numpy().tolist()}
    return orjson.dumps({"dataframe_split": split})


def _records(df: pd.DataFrame) -> list[dict[str, Any]]:
    return df.to_dict(orient="records")


# -- servers ---------------------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _tree(pid: int) -> list[int]:
    """A process and all its descendants."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            parent = int(stat.rsplit(")", 1)[1].split()[1])
            children.setdefault(parent, []).append(int(entry))
    out, todo = [], [pid]
    while todo:
        current = todo.pop()
        out.append(current)
        todo.extend(children.get(current, []))
    return out


def _cpu_seconds(pids: list[int]) -> float:
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / ticks


def _rss_mib(pids: list[int]) -> float:
    total = 0
    for pid in pids:
        try:
            status = Path(f"/proc/{pid}/status").read_text()
        except OSError:
            continue
        found = re.search(r"VmRSS:\s+(\d+) kB", status)
        total += int(found.group(1)) if found else 0
    return total / 1024


@dataclass
class Server:
    name: str
    process: subprocess.Popen[bytes]
    url: str
    cold_start: float
    log: Path

    def pids(self) -> list[int]:
        return _tree(self.process.pid)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(20)
            except subprocess.TimeoutExpired:
                for pid in reversed(self.pids()):
                    try:
                        os.kill(pid, signal.SIGKILL)
                    except ProcessLookupError:
                        pass
                self.process.wait(10)


def start(name: str, command: list[str], port: int, log: Path, env: dict[str, str]) -> Server:
    """Spawn a server and wait for its first 200 on /ping (the cold start)."""
    url = f"http://127.0.0.1:{port}"
    began = time.perf_counter()
    with log.open("wb") as sink:
        process = subprocess.Popen(
            command, stdout=sink, stderr=subprocess.STDOUT, env=env, start_new_session=True
        )
    while time.perf_counter() - began < 180:
        if process.poll() is not None:
            raise RuntimeError(
                f"{name} exited with {process.returncode}:\n{log.read_text()[-3000:]}"
            )
        try:
            with urllib.request.urlopen(f"{url}/ping", timeout=2) as response:
                if response.status == 200:
                    return Server(name, process, url, time.perf_counter() - began, log)
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            time.sleep(0.02)
    process.kill()
    raise RuntimeError(f"{name} did not answer /ping in 180 s:\n{log.read_text()[-3000:]}")


def server_command(kind: str, package: Path, port: int, workers: int, app_dir: Path) -> list[str]:
    if kind == "modelpack":
        return [
            str(BIN / "modelpack"), "serve", "-m", str(package),
            "-h", "127.0.0.1", "-p", str(port), "-w", str(workers),
        ]  # fmt: skip
    if kind == "mlflow":
        return [
            str(BIN / "mlflow"), "models", "serve", "-m", str(package),
            "-h", "127.0.0.1", "-p", str(port), "-w", str(workers), "--env-manager", "local",
        ]  # fmt: skip
    return [
        sys.executable, "-m", "uvicorn", "bare_app:app", "--app-dir", str(app_dir),
        "--host", "127.0.0.1", "--port", str(port), "--workers", str(workers),
        "--loop", "uvloop", "--http", "httptools", "--no-access-log", "--log-level", "warning",
    ]  # fmt: skip


# -- load ------------------------------------------------------------------------------------------


@dataclass
class Result:
    requests_per_s: float
    p50_ms: float
    p99_ms: float
    cpu_ms_per_request: float
    errors: int


def check(server: Server, payload: Payload) -> str | None:
    """None when the server answers the payload with 200, else why not."""
    request = urllib.request.Request(
        f"{server.url}/invocations",
        data=payload.path.read_bytes(),
        headers={"Content-Type": payload.content_type},
    )
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return None if response.status == 200 else f"HTTP {response.status}"
    except urllib.error.HTTPError as exc:
        return f"HTTP {exc.code}: {exc.read()[:120].decode(errors='replace')}"


def wrk(server: Server, payload: Payload, connections: int, seconds: float) -> Result:
    script = payload.path.with_suffix(".lua")
    if not script.exists():
        script.write_text(WRK_SCRIPT.format(content_type=payload.content_type, body=payload.path))
    threads = 1 if connections == 1 else 2
    command = [
        "wrk", f"-t{threads}", f"-c{connections}", f"-d{max(1, round(seconds))}s",
        "--timeout", "30s", "-s", str(script), f"{server.url}/invocations",
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


# -- the run ---------------------------------------------------------------------------------------


@dataclass
class ModelRun:
    cold_start: dict[str, float] = field(default_factory=dict)
    rss: dict[str, float] = field(default_factory=dict)
    results: dict[tuple[str, int, str], Result] = field(default_factory=dict)
    refused: dict[tuple[str, str], str] = field(default_factory=dict)


def matrix(model: str, long: bool) -> list[tuple[str, int]]:
    """(payload, connections) pairs to run for a model."""
    if long:
        return [(p, c) for p in ("split", "records", "inputs", "csv") for c in (1, 8, 64)] + [
            (p, c) for p in ("split_10k", "csv_10k") for c in (1, 8)
        ]
    if model == "probe":
        return [(p, c) for p in ("split", "records", "inputs", "csv") for c in (1, 64)] + [
            ("split", 8),
            ("split_10k", 1),
            ("csv_10k", 1),
        ]
    return [("split", 1), ("split", 64), ("split_10k", 1)]


def run_model(
    model: str,
    package: Path,
    payloads: dict[str, Payload],
    order: list[str],
    args: argparse.Namespace,
    work: Path,
) -> ModelRun:
    run = ModelRun()
    env = {**os.environ, "MODELPACK_LOG_LEVEL": "warning", "PYTHONUNBUFFERED": "1"}
    env["PATH"] = f"{BIN}{os.pathsep}{env.get('PATH', '')}"  # mlflow runs `uvicorn` from PATH
    for kind in order:
        port = _free_port()
        log = work / f"{model}-{kind}.log"
        command = server_command(kind, package, port, args.workers, work)
        print(f"  {kind:9s} starting ...", end="", flush=True)
        server = start(kind, command, port, log, env)
        run.cold_start[kind] = server.cold_start
        print(f" up in {server.cold_start:.1f} s", flush=True)
        try:
            todo = matrix(model, args.long)
            for name in dict.fromkeys(p for p, _ in todo):
                problem = check(server, payloads[name])
                if problem is not None:
                    run.refused[(name, kind)] = problem
            warm = payloads["split"]
            if (warm.name, kind) not in run.refused:
                wrk(server, warm, 1, 1)  # warm-up: imports, caches, first-call paths
            for name, connections in todo:
                if (name, kind) in run.refused:
                    continue
                duration = args.duration if payloads[name].rows == 1 else args.duration * 1.5
                result = wrk(server, payloads[name], connections, duration)
                run.results[(name, connections, kind)] = result
                print(
                    f"    {name:10s} c={connections:<3d} {result.requests_per_s:9.1f} req/s"
                    f"  p50 {result.p50_ms:8.2f} ms",
                    flush=True,
                )
            run.rss[kind] = _rss_mib(server.pids())
        finally:
            server.stop()
    return run


def bare_ceiling(payload: Payload, args: argparse.Namespace, work: Path) -> dict[int, float]:
    (work / "bare_app.py").write_text(BARE_APP)
    port = _free_port()
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    command = server_command("bare", Path(), port, args.workers, work)
    server = start("bare", command, port, work / "bare.log", env)
    try:
        wrk(server, payload, 1, 1)
        return {c: wrk(server, payload, c, args.duration).requests_per_s for c in (1, 64)}
    finally:
        server.stop()


def _ratio(a: float | None, b: float | None) -> str:
    if a is None or b is None or b == 0:
        return "n/a"
    return f"{a / b:.1f}x"


def _num(value: float | None, digits: int = 1) -> str:
    return "n/a" if value is None else f"{value:,.{digits}f}"


def report(
    runs: dict[str, ModelRun], payloads: dict[str, Payload], ceiling: dict[int, float]
) -> None:
    header = (
        f"{'model':13s} {'payload':10s} {'conn':>4s} | {'req/s mp':>9s} {'req/s mf':>9s} "
        f"{'ratio':>6s} | {'rows/s mp':>11s} | {'p50 mp':>7s} {'p50 mf':>7s} | "
        f"{'p99 mp':>7s} {'p99 mf':>7s} | {'cpu/req mp':>10s} {'mf':>6s}"
    )
    print("\n" + header)
    print("-" * len(header))
    for model, run in runs.items():
        keys = dict.fromkeys((p, c) for p, c, _ in run.results)
        for name, _kind in run.refused:
            keys.setdefault((name, 1), None)
        for name, connections in keys:
            mp = run.results.get((name, connections, "modelpack"))
            mf = run.results.get((name, connections, "mlflow"))
            rows = payloads[name].rows
            print(
                f"{model:13s} {name:10s} {connections:4d} | "
                f"{_num(mp and mp.requests_per_s):>9s} {_num(mf and mf.requests_per_s):>9s} "
                f"{_ratio(mp and mp.requests_per_s, mf and mf.requests_per_s):>6s} | "
                f"{_num(mp and mp.requests_per_s * rows, 0):>11s} | "
                f"{_num(mp and mp.p50_ms, 2):>7s} {_num(mf and mf.p50_ms, 2):>7s} | "
                f"{_num(mp and mp.p99_ms, 2):>7s} {_num(mf and mf.p99_ms, 2):>7s} | "
                f"{_num(mp and mp.cpu_ms_per_request, 2):>10s} "
                f"{_num(mf and mf.cpu_ms_per_request, 2):>6s}"
            )
    print("\ncold start (spawn -> first 200 on /ping) and RSS after load (all server processes)")
    for model, run in runs.items():
        cs, rss = run.cold_start, run.rss
        print(
            f"{model:13s} cold start {_num(cs.get('modelpack'), 2)} s vs "
            f"{_num(cs.get('mlflow'), 2)} s ({_ratio(cs.get('modelpack'), cs.get('mlflow'))}); "
            f"RSS {_num(rss.get('modelpack'), 0)} MiB vs {_num(rss.get('mlflow'), 0)} MiB "
            f"({_ratio(rss.get('modelpack'), rss.get('mlflow'))})"
        )
    for model, run in runs.items():
        for (name, kind), problem in run.refused.items():
            print(f"{model}: {kind} refused the {name} payload: {problem}")
    errors = [
        (model, key) for model, run in runs.items() for key, r in run.results.items() if r.errors
    ]
    for model, key in errors:
        print(f"{model} {key}: {runs[model].results[key].errors} failed requests")
    if ceiling:
        print(
            f"\nbare starlette app (orjson parse, constant answer): "
            f"{ceiling[1]:,.0f} req/s at 1 connection, {ceiling[64]:,.0f} at 64"
        )
    probe = runs.get("probe")
    if probe is not None:
        print("\ntargets (overhead probe, 1-row bodies): >= 10x MLflow, >= half the bare app")
        for (name, connections, kind), result in probe.results.items():
            if kind != "modelpack" or payloads[name].rows != 1:
                continue
            mf = probe.results.get((name, connections, "mlflow"))
            bare = ceiling.get(connections)
            print(
                f"  {name:8s} c={connections:<3d} vs MLflow "
                f"{_ratio(result.requests_per_s, mf and mf.requests_per_s):>6s}, vs bare app "
                f"{_ratio(result.requests_per_s, bare):>6s}"
            )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--models", default=",".join(MODELS), help="comma-separated subset")
    parser.add_argument("--duration", type=float, default=3.0, help="seconds per 1-row run")
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--long", action="store_true", help="the full matrix at 10 s per run")
    parser.add_argument("--no-bare", action="store_true", help="skip the bare-app ceiling")
    args = parser.parse_args()
    if args.long and args.duration == 3.0:
        args.duration = 10.0
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is not installed: apt-get install -y wrk (or brew install wrk)")
    names = [m for m in args.models.split(",") if m]
    work = Path(tempfile.mkdtemp(prefix="modelpack-bench-"))
    try:
        print(f"saving {len(names)} packages in {work} ...", flush=True)
        packages = make_packages(work / "packages", names)
        runs: dict[str, ModelRun] = {}
        for i, model in enumerate(names):
            order = ["modelpack", "mlflow"] if i % 2 == 0 else ["mlflow", "modelpack"]
            print(f"{model}:", flush=True)
            payloads = make_payloads(work / "payloads" / model, tensor=model == "torch")
            runs[model] = run_model(model, packages[model], payloads, order, args, work)
        payloads = make_payloads(work / "payloads" / "bare", tensor=False)
        ceiling = {} if args.no_bare else bare_ceiling(payloads["split"], args, work)
        report(runs, payloads, ceiling)
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
