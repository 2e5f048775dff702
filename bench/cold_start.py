"""Cold start: spawn -> first 200 on /ping, `modelpack serve` against `mlflow models serve`.

    python bench/cold_start.py                       # every model, 5 starts each, ~6-10 minutes
    python bench/cold_start.py --models elasticnet,xgboost --repeat 3
    python bench/cold_start.py --baseline d997cc2    # modelpack at a git ref beside today's

Models, saved once into a scratch folder: ElasticNet (skops, modelpack's default) and
RandomForest(100) (cloudpickle) on sklearn's diabetes data, XGBoost(100 trees), a torch MLP
10-64-1 exported as pt2, all saved by modelpack; and a PythonModel saved by MLflow itself
(`mlflow.pyfunc.save_model`), which modelpack loads through mlflow.

Servers, one worker each, started one after the other in rotating order:
- `modelpack`: `modelpack serve` from this interpreter, this checkout's code first on PYTHONPATH;
- `baseline` (with `--baseline REF`): the same, with modelpack's code at git REF;
- `mlflow`: `mlflow models serve --env-manager local` from this interpreter's environment (MLflow
  3.17.2 with every extra beside it, torch included);
- `mlflow-lean`: the same in a venv of only `mlflow scikit-learn` and what the model's flavor needs
  (skops for the ElasticNet, xgboost-cpu for XGBoost; the torch model gets a venv of its own with
  `mlflow torch`, so that torch never sits beside the sklearn models: skops imports it when it
  is installed). Made on first use under ~/.cache/modelpack-bench (`--venvs`).

For each start: the wall time from spawn to the first 200 on /ping (polled every 10 ms), the CPU
seconds the server's processes used by then (user + system, children included: steadier than
wall time on a shared machine), and RSS and PSS summed over its processes once it answers.
Medians of `--repeat` starts. Load averages are printed beside the figures: compare within a run.
Not a test: it prints, and asserts nothing.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from _procs import cpu_seconds as _cpu_seconds
from _procs import free_port as _free_port
from _procs import memory_mib as _memory_mib
from _procs import tree as _tree

BENCH = Path(__file__).resolve().parent
BIN = Path(sys.executable).parent
MODELS = ["elasticnet", "random_forest", "xgboost", "torch", "mlflow_pyfunc"]
SERVERS = ["modelpack", "baseline", "mlflow", "mlflow-lean"]
# What each model needs beside `mlflow scikit-learn` in MLflow's lean venv: (module, distribution).
LEAN_EXTRAS: dict[str, list[tuple[str, str]]] = {
    "elasticnet": [("skops", "skops")],
    "random_forest": [],
    "xgboost": [("xgboost", "xgboost-cpu")],
    "mlflow_pyfunc": [],
}
# Each model's cold-start target against MLflow in its lean venv (the table).
TARGETS = {
    "elasticnet": 0.25,
    "random_forest": 0.25,
    "xgboost": 0.25,
    "torch": 0.25,
    "mlflow_pyfunc": 0.5,
}
ABSOLUTE_TARGET = ("elasticnet", 1.2)


def loadavg() -> str:
    one, five, _ = os.getloadavg()
    return f"{one:.1f}/{five:.1f}"


# -- packages --------------------------------------------------------------------------------------


def make_packages(root: Path, names: list[str]) -> dict[str, Path]:
    """Save the benchmark models: those of bench/serve.py as it saves them, RandomForest as
    cloudpickle (the slowest format to load), and a python_model saved by MLflow."""
    from serve import make_packages as make_served
    from sklearn.datasets import load_diabetes

    import modelpack

    own = ("random_forest", "mlflow_pyfunc")
    out = make_served(root, [name for name in names if name not in own])
    x, y = load_diabetes(return_X_y=True, as_frame=True)
    example = x.head(3)
    if "random_forest" in names:
        from sklearn.ensemble import RandomForestRegressor

        forest = RandomForestRegressor(n_estimators=100, random_state=0, n_jobs=1).fit(x, y)
        out["random_forest"] = root / "random_forest"
        modelpack.save_model(
            forest, out["random_forest"], input_example=example, serialization_format="cloudpickle"
        )
    if "mlflow_pyfunc" in names:
        out["mlflow_pyfunc"] = root / "mlflow_pyfunc"
        _save_mlflow_pyfunc(out["mlflow_pyfunc"], example)
    return {name: out[name] for name in names}


def _save_mlflow_pyfunc(path: Path, example: Any) -> None:
    import mlflow.pyfunc

    class Doubler(mlflow.pyfunc.PythonModel):  # defined here: cloudpickle stores it by value
        def predict(self, context, model_input, params=None):  # type: ignore[no-untyped-def]
            # (no type hints: MLflow would try to read a signature from them)
            return model_input.iloc[:, 0] * 2

    mlflow.pyfunc.save_model(str(path), python_model=Doubler(), input_example=example)


# -- processes -------------------------------------------------------------------------------------


@dataclass
class Start:
    wall_s: float
    cpu_s: float
    rss_mib: float
    pss_mib: float
    load: str


class ServerFailed(Exception):
    """A server exited or never answered; the message holds the end of its log."""


def cold_start(command: list[str], port: int, env: dict[str, str], log: Path) -> Start:
    """Spawn ``command``, poll /ping until a 200, measure, stop it."""
    url = f"http://127.0.0.1:{port}/ping"
    load = loadavg()
    began = time.perf_counter()
    with log.open("wb") as sink:
        process = subprocess.Popen(
            command, stdout=sink, stderr=subprocess.STDOUT, env=env, start_new_session=True
        )
    try:
        while time.perf_counter() - began < 180:
            if process.poll() is not None:
                raise ServerFailed(f"exited with {process.returncode}: {_tail(log)}")
            try:
                with urllib.request.urlopen(url, timeout=5) as response:
                    if response.status == 200:
                        wall = time.perf_counter() - began
                        pids = _tree(process.pid)
                        cpu = _cpu_seconds(pids)
                        rss, pss = _memory_mib(pids)
                        return Start(wall, cpu, rss, pss, load)
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                pass
            time.sleep(0.01)
        raise ServerFailed(f"no 200 on /ping in 180 s: {_tail(log)}")
    finally:
        _stop(process)


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is not None:
        return
    pids = _tree(process.pid)
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(20)
    except subprocess.TimeoutExpired:
        for pid in reversed(pids):
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        process.wait(10)
    for pid in pids[1:]:  # MLflow's uvicorn child, if the launcher left it behind
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


def _tail(log: Path) -> str:
    lines = [line for line in log.read_text(errors="replace").splitlines() if line.strip()]
    errors = [line for line in lines if re.match(r"^[\w.]+(Error|Exception)\b", line.strip())]
    last = errors[-1] if errors else (lines[-1] if lines else "(empty log)")
    return last.strip()[:400]


# -- servers ---------------------------------------------------------------------------------------


@dataclass
class Venvs:
    root: Path

    def for_model(self, model: str) -> Path:
        """The bin/ folder of MLflow's lean venv for ``model`` (made or completed on first use)."""
        if model == "torch":
            return _venv(self.root / "mlflow-torch-venv", ["mlflow==" + _version("mlflow")], [
                ("torch", "torch")
            ])  # fmt: skip
        base = [f"mlflow=={_version('mlflow')}", f"scikit-learn=={_version('scikit-learn')}"]
        return _venv(self.root / "mlflow-lean-venv", base, LEAN_EXTRAS[model])


def _venv(path: Path, base: list[str], extras: list[tuple[str, str]]) -> Path:
    python = path / "bin" / "python"
    if not (path / "bin" / "mlflow").exists():
        print(
            f"making a venv in {path} with {' '.join(base)} (once: a few minutes) ...", flush=True
        )
        subprocess.run([sys.executable, "-m", "venv", "--clear", str(path)], check=True)
        _pip(python, base)
    probe = "import importlib.util, sys; print(' '.join(m for m in sys.argv[1:] if importlib.util.find_spec(m) is None))"  # noqa: E501
    wanted = dict(extras)
    missing = subprocess.run(
        [str(python), "-c", probe, *wanted], capture_output=True, text=True, check=True
    ).stdout.split()
    if missing:
        specs = [_spec(wanted[m]) for m in missing]
        print(f"adding {', '.join(specs)} to {path} ...", flush=True)
        _pip(python, specs)
    return path / "bin"


def _spec(distribution: str) -> str:
    """``distribution`` at this interpreter's version (xgboost-cpu at xgboost's)."""
    installed = distribution.removesuffix("-cpu")
    return f"{distribution}=={_version(installed)}"


def _version(distribution: str) -> str:
    return importlib.metadata.version(distribution).split("+")[0]  # torch's +cpu: any build


def _pip(python: Path, specs: list[str]) -> None:
    with tempfile.NamedTemporaryFile("w", suffix=".txt", delete=False) as pins:
        pins.write(f"torch=={_version('torch')}\n")  # never let anything pull another torch
    try:
        subprocess.run(
            [str(python), "-m", "pip", "install", "-q", "-c", pins.name, *specs], check=True
        )
    finally:
        os.unlink(pins.name)


def baseline_source(ref: str, work: Path) -> Path:
    """modelpack's code at git ``ref`` (``git archive``) in ``work``."""
    target = work / f"baseline-{ref}"
    target.mkdir(parents=True)
    archive = subprocess.run(
        ["git", "-C", str(BENCH.parent), "archive", ref, "modelpack"],
        capture_output=True,
        check=True,
    )
    subprocess.run(["tar", "-x", "-C", str(target)], input=archive.stdout, check=True)
    return target


def command_for(
    server: str, model: str, package: Path, port: int, venvs: Venvs, source: Path | None
) -> tuple[list[str], dict[str, str]]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MODELPACK_", "VIRTUAL_ENV"))}
    env["PYTHONUNBUFFERED"] = "1"
    where = ["-h", "127.0.0.1", "-p", str(port)]
    if server in ("modelpack", "baseline"):
        env["PYTHONPATH"] = str(source)
        env["MODELPACK_LOG_LEVEL"] = "warning"
        return [str(BIN / "modelpack"), "serve", "-m", str(package), *where], env
    env.pop("PYTHONPATH", None)  # MLflow's own code only
    bin_dir = BIN if server == "mlflow" else venvs.for_model(model)
    env["PATH"] = f"{bin_dir}{os.pathsep}{env.get('PATH', '')}"  # mlflow runs `uvicorn` from PATH
    command = [str(bin_dir / "mlflow"), "models", "serve", "-m", str(package), *where]
    return [*command, "--env-manager", "local"], env


# -- report ----------------------------------------------------------------------------------------


def _median(starts: list[Start], attr: str) -> float:
    return statistics.median(getattr(s, attr) for s in starts)


def report(results: dict[str, dict[str, list[Start]]], servers: list[str]) -> None:
    print()
    print("cold start: spawn -> first 200 on /ping; medians; CPU = user+system of the server's")
    print("processes by then; RSS/PSS summed over them once /ping answered")
    head = f"{'model':<14}{'server':<12}{'wall s':>8}{'min':>7}{'max':>7}{'cpu s':>8}"
    print(head + f"{'RSS MiB':>9}{'PSS MiB':>9}  load at starts")
    print("-" * (len(head) + 40))
    for model, by_server in results.items():
        for server in servers:
            starts = by_server.get(server)
            if not starts:
                continue
            walls = [s.wall_s for s in starts]
            print(
                f"{model:<14}{server:<12}{_median(starts, 'wall_s'):8.2f}{min(walls):7.2f}"
                f"{max(walls):7.2f}{_median(starts, 'cpu_s'):8.2f}{_median(starts, 'rss_mib'):9.0f}"
                f"{_median(starts, 'pss_mib'):9.0f}  {' '.join(s.load for s in starts)}"
            )
    print()
    print("targets: modelpack / MLflow in its lean venv (wall; CPU in brackets)")
    for model, by_server in results.items():
        ours, lean = by_server.get("modelpack"), by_server.get("mlflow-lean")
        full, before = by_server.get("mlflow"), by_server.get("baseline")
        parts = []
        if ours and lean:
            ratio = _median(ours, "wall_s") / _median(lean, "wall_s")
            cpu = _median(ours, "cpu_s") / _median(lean, "cpu_s")
            goal = TARGETS[model]
            verdict = "met" if ratio <= goal else "NOT met"
            parts.append(f"vs lean {ratio:.2f} ({cpu:.2f}), target <= {goal:g}: {verdict}")
        if ours and full:
            parts.append(f"vs full venv {_median(ours, 'wall_s') / _median(full, 'wall_s'):.2f}")
        if ours and before:
            parts.append(f"vs baseline {_median(ours, 'wall_s') / _median(before, 'wall_s'):.2f}")
        if ours and model == ABSOLUTE_TARGET[0]:
            wall = _median(ours, "wall_s")
            limit = ABSOLUTE_TARGET[1]
            parts.append(f"absolute {wall:.2f} s, target <= {limit:g} s: " + _verdict(wall, limit))
        if parts:
            print(f"  {model:<14}" + "; ".join(parts))


def _verdict(value: float, limit: float) -> str:
    return "met" if value <= limit else "NOT met"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--models", default=",".join(MODELS))
    parser.add_argument("--servers", default="modelpack,mlflow,mlflow-lean")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--baseline", metavar="REF", help="also run modelpack's code at REF")
    parser.add_argument(
        "--venvs",
        type=Path,
        default=Path(
            os.environ.get("MODELPACK_BENCH_VENVS") or Path.home() / ".cache" / "modelpack-bench"
        ),
        help="where MLflow's lean venvs are made on first use (env: MODELPACK_BENCH_VENVS)",
    )
    parser.add_argument("--keep", type=Path, help="save the packages here (and reuse them)")
    args = parser.parse_args()
    models = [m for m in args.models.split(",") if m]
    servers = [s for s in args.servers.split(",") if s]
    if args.baseline and "baseline" not in servers:
        servers.insert(1, "baseline")
    unknown = sorted(set(servers) - set(SERVERS)) + sorted(set(models) - set(MODELS))
    if unknown:
        raise SystemExit(f"unknown: {unknown}; servers {SERVERS}, models {MODELS}")
    work = Path(tempfile.mkdtemp(prefix="modelpack-cold-"))
    try:
        packages_root = args.keep or work / "packages"
        wanted = [m for m in models if not (packages_root / m).exists()]
        packages = make_packages(packages_root, wanted)
        packages.update({m: packages_root / m for m in models})
        venvs = Venvs(args.venvs)
        sources = {"modelpack": _source_root()}
        if "baseline" in servers:
            sources["baseline"] = baseline_source(args.baseline, work)
        if "mlflow-lean" in servers:
            for model in models:
                venvs.for_model(model)
        results: dict[str, dict[str, list[Start]]] = {}
        for model in models:
            results[model] = {}
            for turn in range(args.repeat):
                order = servers[turn % len(servers) :] + servers[: turn % len(servers)]
                for server in order:
                    port = _free_port()
                    command, env = command_for(
                        server, model, packages[model], port, venvs, sources.get(server)
                    )
                    log = work / f"{model}-{server}-{turn}.log"
                    try:
                        start = cold_start(command, port, env, log)
                    except ServerFailed as exc:
                        print(f"{model} {server}: {exc}", flush=True)
                        continue
                    results[model].setdefault(server, []).append(start)
                    print(
                        f"{model:<14}{server:<12} {start.wall_s:6.2f} s  cpu {start.cpu_s:5.2f} s"
                        f"  RSS {start.rss_mib:5.0f} MiB  load {start.load}",
                        flush=True,
                    )
        report(results, servers)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _source_root() -> Path:
    return BENCH.parent


if __name__ == "__main__":
    main()
