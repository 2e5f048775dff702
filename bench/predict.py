"""Batch scoring: `modelpack predict` vs `mlflow models predict` vs a hand-written script.

    python bench/predict.py [--rows 1000000] [--repeat 3] [--big-gb 0]

Writes a CSV of 10 float columns, saves an ElasticNet and an XGBoost(100 trees) package, and
times whole processes (start-up, imports and loading included), taking the median of
--repeat runs and the peak RSS of each process. The floor is one Python process that imports
pandas and the model library, loads the estimator, reads the CSV, predicts and writes JSON.
With --big-gb N it also scores an N GB CSV with modelpack alone, to show bounded memory.
Not a test: it prints a table and asserts nothing.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd

BIN = Path(sys.executable).parent
FLOOR = """
import sys, orjson, pandas as pd
from modelpack.flavors.{flavor} import load_model
model = load_model(sys.argv[1])
if {xgb}:
    model = getattr(model, "get_booster", lambda: model)()
    import xgboost
    data = xgboost.DMatrix(pd.read_csv(sys.argv[2]))
else:
    data = pd.read_csv(sys.argv[2])
out = model.predict(data)
body = orjson.dumps({{"predictions": out}}, option=orjson.OPT_SERIALIZE_NUMPY)
open(sys.argv[3], "wb").write(body)
"""


# Linux carries a process's peak RSS across fork and exec, so a child of this (large) process
# would report at least our own size: a tiny launcher runs the command and reports its peak.
LAUNCHER = (
    "import os, subprocess, sys, time; t = time.perf_counter(); "
    "p = subprocess.Popen(sys.argv[1:], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE); "
    "_, s, u = os.wait4(p.pid, 0); w = time.perf_counter() - t; "
    "err = p.stderr.read().decode()[-2000:]; "
    "print(os.waitstatus_to_exitcode(s), w, u.ru_maxrss / 1024); "
    "sys.stderr.write(err)"
)


def run(cmd: list[str]) -> tuple[float, float]:
    """Wall seconds and peak RSS (MiB) of one process."""
    out = subprocess.run(
        [sys.executable, "-S", "-c", LAUNCHER, *cmd], capture_output=True, text=True, check=True
    )
    code, wall, rss = out.stdout.split()
    if code != "0":
        raise SystemExit(f"failed: {' '.join(cmd)}\n{out.stderr}")
    return float(wall), float(rss)


def _floor(name: str) -> str:
    flavor = "xgboost" if name == "XGBoost" else "sklearn"
    return FLOOR.format(flavor=flavor, xgb=name == "XGBoost")


def make_packages(root: Path, rows: int) -> tuple[Path, dict[str, Path]]:
    import xgboost
    from sklearn.linear_model import ElasticNet

    import modelpack

    rng = np.random.default_rng(0)
    columns = [f"f{i}" for i in range(10)]
    train = pd.DataFrame(rng.normal(size=(5000, 10)), columns=columns)
    target = train.sum(axis=1) + rng.normal(size=5000)
    packages = {
        "ElasticNet": ElasticNet(alpha=0.1).fit(train, target),
        "XGBoost": xgboost.XGBRegressor(n_estimators=100, max_depth=6).fit(train, target),
    }
    paths = {}
    for name, est in packages.items():
        paths[name] = root / name
        modelpack.save_model(est, paths[name], input_example=train.head(2))
    csv = root / "input.csv"
    chunk = 200_000
    with open(csv, "w") as fh:
        for start in range(0, rows, chunk):
            n = min(chunk, rows - start)
            frame = pd.DataFrame(rng.normal(size=(n, 10)), columns=columns)
            frame.to_csv(fh, index=False, header=start == 0, float_format="%.6f")
    return csv, paths


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--big-gb", type=float, default=0.0)
    parser.add_argument("--no-mlflow", action="store_true")
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="modelpack-bench-"))
    try:
        csv, paths = make_packages(root, args.rows)
        size = csv.stat().st_size / 2**20
        print(
            f"{args.rows:,} rows x 10 float columns, {size:,.0f} MiB CSV; median of {args.repeat}"
        )
        print(
            f"{'model':<11} {'tool':<22} {'wall s':>8} {'peak MiB':>9} "
            f"{'vs MLflow':>10} {'vs floor':>9}"
        )
        for name, pkg in paths.items():
            out = root / "out.json"
            tools = {
                "modelpack predict": [
                    str(BIN / "modelpack"),
                    "predict",
                    "-m",
                    str(pkg),
                    "-i",
                    str(csv),
                    "-o",
                    str(out),
                    "-q",
                ],
                "floor (one script)": [
                    sys.executable,
                    "-c",
                    FLOOR.format(
                        flavor=(name == "XGBoost" and "xgboost") or "sklearn", xgb=name == "XGBoost"
                    ),
                    str(pkg),
                    str(csv),
                    str(out),
                ],
            }
            if not args.no_mlflow:
                tools["mlflow models predict"] = [
                    str(BIN / "mlflow"),
                    "models",
                    "predict",
                    "-m",
                    str(pkg),
                    "-i",
                    str(csv),
                    "-t",
                    "csv",
                    "-o",
                    str(out),
                    "--env-manager",
                    "local",
                ]
            results: dict[str, tuple[float, float]] = {}
            for _ in range(args.repeat):  # in alternation, so drift hits every tool alike
                for tool, cmd in tools.items():
                    wall, rss = run(cmd)
                    prev = results.get(tool, ([], []))
                    results[tool] = (prev[0] + [wall], prev[1] + [rss])  # type: ignore[assignment]
            medians = {
                t: (statistics.median(w), max(r))  # type: ignore[arg-type]
                for t, (w, r) in results.items()
            }
            for tool, (wall, rss) in medians.items():
                vs_mlflow = medians.get("mlflow models predict", (None, 0))[0]
                ratio = f"{vs_mlflow / wall:9.2f}x" if vs_mlflow else "         -"
                floor = wall / medians["floor (one script)"][0]
                print(f"{name:<11} {tool:<22} {wall:8.2f} {rss:9.0f} {ratio} {floor:8.2f}x")
        if args.big_gb > 0:
            big = root / "big.csv"
            with open(big, "wb") as fh:
                body = csv.read_bytes().split(b"\n", 1)[1]
                fh.write(csv.read_bytes().split(b"\n", 1)[0] + b"\n")
                while fh.tell() < args.big_gb * 2**30:
                    fh.write(body)
            wall, rss = run(
                [
                    str(BIN / "modelpack"),
                    "predict",
                    "-m",
                    str(paths["ElasticNet"]),
                    "-i",
                    str(big),
                    "-o",
                    str(root / "big.json"),
                    "-q",
                ]
            )
            print(
                f"{big.stat().st_size / 2**30:.2f} GiB CSV, ElasticNet: {wall:.1f} s, "
                f"peak RSS {rss:,.0f} MiB"
            )
        print(
            "'vs MLflow' is MLflow's time over ours (higher is better); "
            "'vs floor' is our time over the floor's (1.00 is the floor)."
        )
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
