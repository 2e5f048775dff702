"""Batch scoring on Spark: `modelpack predict --engine spark` vs the local engine, same file.

    SPARK_LOCAL_IP=127.0.0.1 python bench/spark_predict.py [--rows 1000000] [--repeat 1]
        [--master local[*]]

Writes a Parquet file of wine-quality features (row groups of 100,000 rows), saves an ElasticNet
package, and times whole `modelpack predict` processes (start-up, imports, loading and, for
Spark, the JVM's start included; median of --repeat runs), then the Spark engine again on a
session already running in this process (what a notebook or a cluster job pays). It checks
that both engines wrote the same rows, columns and bits. Not a test: it prints and asserts
nothing beyond that check.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

COLUMNS = [
    "fixed acidity",
    "volatile acidity",
    "citric acid",
    "residual sugar",
    "chlorides",
    "free sulfur dioxide",
    "total sulfur dioxide",
    "density",
    "pH",
    "sulphates",
    "alcohol",
]


def make_inputs(root: Path, rows: int) -> tuple[Path, Path]:
    import pyarrow as pa
    import pyarrow.parquet as pq
    from sklearn.linear_model import ElasticNet

    import modelpack

    rng = np.random.default_rng(0)
    train = pd.DataFrame(rng.uniform(0.1, 20.0, size=(200, len(COLUMNS))), columns=COLUMNS)
    target = train["alcohol"] * 0.3 - train["volatile acidity"] * 0.1 + 3
    package = root / "wine"
    model = ElasticNet(alpha=0.1, l1_ratio=0.5, random_state=42).fit(train, target)
    modelpack.save_model(model, package, input_example=train.head(3))
    frame = pd.DataFrame(rng.uniform(0.1, 20.0, size=(rows, len(COLUMNS))), columns=COLUMNS)
    source = root / "wine.parquet"
    pq.write_table(pa.Table.from_pandas(frame), source, row_group_size=100_000)
    return package, source


def timed(cmd: list[str]) -> float:
    started = time.perf_counter()
    out = subprocess.run(cmd, capture_output=True, text=True)
    wall = time.perf_counter() - started
    if out.returncode != 0:
        raise SystemExit(f"failed: {' '.join(cmd)}\n{out.stdout}{out.stderr}")
    return wall


def read_parquet(path: Path) -> pd.DataFrame:
    files = sorted(path.glob("part-*.parquet")) if path.is_dir() else [path]
    return pd.concat([pd.read_parquet(f) for f in files], ignore_index=True)


def warm_seconds(package: Path, source: Path, target: Path, master: str) -> float:
    """predict_spark on a session this process already runs (the second of two runs)."""
    from pyspark.sql import SparkSession

    from modelpack.batch import predict_spark

    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    spark = (
        SparkSession.builder.master(master)
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
        .getOrCreate()
    )
    spark.sparkContext.setLogLevel("OFF")
    try:
        predict_spark(str(package), str(source), str(target), spark=spark)
        shutil.rmtree(target)
        started = time.perf_counter()
        predict_spark(str(package), str(source), str(target), spark=spark)
        return time.perf_counter() - started
    finally:
        spark.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--master", default="local[*]")
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="modelpack-bench-spark-"))
    try:
        package, source = make_inputs(root, args.rows)
        size = source.stat().st_size / 2**20
        print(f"{args.rows:,} rows x {len(COLUMNS)} double columns, {size:,.0f} MiB Parquet")
        predict = [sys.executable, "-m", "modelpack", "predict", "-m", str(package), "-q"]
        local_out, spark_out = root / "local.parquet", root / "spark"
        runs: dict[str, list[float]] = {"local": [], "spark": []}
        for _ in range(args.repeat):  # in alternation, so drift hits both alike
            local_out.unlink(missing_ok=True)
            shutil.rmtree(spark_out, ignore_errors=True)
            runs["local"].append(timed([*predict, "-i", str(source), "-o", str(local_out)]))
            spark_cmd = [*predict, "-i", str(source), "-o", str(spark_out), "--engine", "spark"]
            runs["spark"].append(timed([*spark_cmd, "--spark-master", args.master]))
        equal = read_parquet(spark_out).equals(read_parquet(local_out))
        parts = len(list(spark_out.glob("part-*.parquet")))
        warm = warm_seconds(package, source, root / "warm", args.master)
        local, spark = statistics.median(runs["local"]), statistics.median(runs["spark"])
        print(f"local engine, whole process:              {local:7.1f} s")
        print(f"spark engine ({args.master}), whole process:  {spark:7.1f} s")
        print(f"spark engine, session already running:    {warm:7.1f} s")
        print(f"same rows, columns and bits: {'yes' if equal else 'NO'}; {parts} part files")
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
