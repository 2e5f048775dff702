"""Spark: ``spark_udf`` and ``predict --engine spark`` on a real local[2] Spark (pyspark on the
machine's Java), compared bit for bit with the in-process predictions."""

from __future__ import annotations

import importlib.util
import os
import shutil
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner
from winedata import WINE_COLUMNS

import modelpack
from modelpack.batch import predict_file, predict_spark
from modelpack.cli import main
from modelpack.errors import InvalidArgument, InvalidModel, InvalidParams, SignatureMismatch
from modelpack.format import write_manifest

pyspark = pytest.importorskip("pyspark")

# One worker runs the whole module under `pytest -n 2 --dist loadgroup`: one Spark session
# (module scope below) instead of one per worker, and the two cores are not fought over.
pytestmark = [pytest.mark.spark, pytest.mark.slow, pytest.mark.xdist_group("spark")]

# A multiple of 64, so that the in-process call on the whole table has no short last block (BLAS
# gives a table's last rows mod 4 other bits, and no cut of the table can reproduce that); the
# three partitions of ~1,685 rows end in the middle of blocks, which the UDF's padding handles.
ROWS = 5_056
BATCH = 1_024


@pytest.fixture(scope="module")
def spark() -> Iterator[object]:
    """One local[2] session for the module (~20 s to start), loopback only, no UI."""
    from pyspark.sql import SparkSession

    saved = {k: os.environ.get(k) for k in ("SPARK_LOCAL_IP", "PYSPARK_PYTHON")}
    os.environ["SPARK_LOCAL_IP"] = "127.0.0.1"
    os.environ["PYSPARK_PYTHON"] = sys.executable  # the workers run this venv's Python
    session = (
        SparkSession.builder.master("local[2]")
        .appName("modelpack-tests")
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
        .config("spark.driver.host", "127.0.0.1")
        .config("spark.sql.shuffle.partitions", "3")
        .config("spark.sql.execution.arrow.maxRecordsPerBatch", str(BATCH))
        .getOrCreate()
    )
    session.sparkContext.setLogLevel("OFF")
    yield session
    session.stop()
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value


@pytest.fixture(scope="module")
def table(wine_frame: pd.DataFrame) -> pd.DataFrame:
    """ROWS rows of wine features and an id to put them back in order."""
    rng = np.random.default_rng(11)
    values = rng.uniform(0.1, 20.0, size=(ROWS, len(WINE_COLUMNS)))
    frame = pd.DataFrame(values, columns=WINE_COLUMNS)
    frame.insert(0, "id", np.arange(ROWS))
    return frame


@pytest.fixture(scope="module")
def spark_table(spark, table: pd.DataFrame):
    """The table in three uneven partitions (round-robin after a shuffle)."""
    return spark.createDataFrame(table).repartition(3)


def _collect(frame, column: str = "p") -> pd.DataFrame:
    return frame.toPandas().sort_values("id").reset_index(drop=True)[column]


def _in_process(package: Path, table: pd.DataFrame, **kwargs) -> np.ndarray:
    return np.asarray(modelpack.load_model(package).predict(table[WINE_COLUMNS], **kwargs))


# ---------------------------------------------------------------------------------------------
# packages


@pytest.fixture(scope="module")
def cloudpickle_package(tmp_path_factory, elasticnet, wine_frame) -> Path:
    path = tmp_path_factory.mktemp("spark") / "cloudpickle"
    modelpack.flavors.sklearn.save_model(
        elasticnet, path, input_example=wine_frame.head(3), serialization_format="cloudpickle"
    )
    return path


@pytest.fixture(scope="module")
def proba_package(tmp_path_factory, wine_frame, wine_target) -> Path:
    from sklearn.linear_model import LogisticRegression

    labels = (wine_target > np.median(wine_target)).astype(int)
    model = LogisticRegression(max_iter=1000).fit(wine_frame, labels)
    path = tmp_path_factory.mktemp("spark") / "proba"
    modelpack.flavors.sklearn.save_model(
        model, path, input_example=wine_frame.head(3), pyfunc_predict_fn="predict_proba"
    )
    return path


@pytest.fixture(scope="module")
def xgboost_package(tmp_path_factory, wine_frame, wine_target) -> Path:
    xgboost = pytest.importorskip("xgboost")
    model = xgboost.XGBRegressor(n_estimators=20, max_depth=3, random_state=0)
    model.fit(wine_frame, wine_target)
    path = tmp_path_factory.mktemp("spark") / "xgb"
    modelpack.save_model(model, path, input_example=wine_frame.head(3))
    return path


@pytest.fixture(scope="module")
def torch_package(tmp_path_factory, wine_frame) -> Path:
    torch = pytest.importorskip("torch")
    torch.manual_seed(0)
    net = torch.nn.Sequential(
        torch.nn.Linear(len(WINE_COLUMNS), 8), torch.nn.ReLU(), torch.nn.Linear(8, 2)
    ).eval()
    path = tmp_path_factory.mktemp("spark") / "torch"
    example = wine_frame.head(5).to_numpy(dtype=np.float32)
    modelpack.flavors.pytorch.save_model(net, path, input_example=example)
    return path


MODEL_CODE = '''
import os
from pathlib import Path

import modelpack


class Shifted(modelpack.PythonModel):
    """alcohol * scale + shift + bonus; each load appends this process's id to a log file."""

    def load_context(self, context):
        self.scale = float(Path(context.artifacts["scale"]).read_text())
        self.shift = float(context.model_config.get("shift", 0.0))
        log = context.model_config.get("load_log")
        if log:
            with open(log, "a") as fh:
                fh.write(f"{os.getpid()}\\n")
        if context.model_config.get("fail"):
            raise RuntimeError("the weights are gone")
        if context.model_config.get("fail_in_spark"):
            from pyspark import TaskContext

            if TaskContext.get() is not None:  # in a Spark task, not on the driver
                raise RuntimeError("the executors have no weights")

    def predict(self, context, model_input, params=None):
        bonus = (params or {}).get("bonus", 0.0)
        return model_input["alcohol"] * self.scale + self.shift + bonus


class Table(modelpack.PythonModel):
    """A DataFrame per batch: a score, a label and a count."""

    def predict(self, context, model_input, params=None):
        import pandas as pd

        alcohol = model_input["alcohol"]
        return pd.DataFrame(
            {
                "score": alcohol * 0.5,
                "label": (alcohol > 10).map({True: "high", False: "low"}),
                "count": alcohol.astype("int64"),
            }
        )
'''


@pytest.fixture(scope="module")
def model_code(tmp_path_factory) -> tuple[Path, object]:
    """The PythonModels' module, imported here and saved into each package's code/ (the
    workers import it from there)."""
    root = tmp_path_factory.mktemp("code")
    module = root / "spark_models.py"
    module.write_text(textwrap.dedent(MODEL_CODE))
    spec = importlib.util.spec_from_file_location("spark_models", module)
    assert spec is not None and spec.loader is not None
    loaded = importlib.util.module_from_spec(spec)
    sys.modules["spark_models"] = loaded
    spec.loader.exec_module(loaded)
    return module, loaded


@pytest.fixture(scope="module")
def python_package(tmp_path_factory, model_code, wine_frame) -> Path:
    module, loaded = model_code
    root = tmp_path_factory.mktemp("spark")
    (root / "scale.txt").write_text("0.5")
    path = root / "shifted"
    modelpack.save_model(
        loaded.Shifted(),
        path,
        artifacts={"scale": root / "scale.txt"},
        model_config={"shift": 1.0},
        code_paths=[module],
        input_example=(wine_frame.head(3), {"bonus": 0.0}),
    )
    return path


@pytest.fixture(scope="module")
def fragile_package(tmp_path_factory, model_code) -> Path:
    """The python_model package, but its load_context fails in a Spark task: it loads on the
    driver and not on the executors (as when their machines lack a file the model reads)."""
    module, loaded = model_code
    root = tmp_path_factory.mktemp("spark")
    (root / "scale.txt").write_text("0.5")
    path = root / "fragile"
    modelpack.save_model(
        loaded.Shifted(),
        path,
        artifacts={"scale": root / "scale.txt"},
        model_config={"shift": 1.0, "fail_in_spark": True},
        code_paths=[module],
    )
    return path


@pytest.fixture(scope="module")
def frame_package(tmp_path_factory, model_code, wine_frame) -> Path:
    module, loaded = model_code
    path = tmp_path_factory.mktemp("spark") / "table"
    modelpack.save_model(
        loaded.Table(), path, code_paths=[module], input_example=wine_frame.head(3)
    )
    return path


# ---------------------------------------------------------------------------------------------
# spark_udf equals the in-process predictions


@pytest.mark.parametrize("which", ["skops", "cloudpickle", "xgboost"])
def test_udf_with_columns_equals_in_process(request, spark, spark_table, table, which) -> None:
    package = {
        "skops": "sklearn_package",
        "cloudpickle": "cloudpickle_package",
        "xgboost": "xgboost_package",
    }[which]
    path = request.getfixturevalue(package)
    udf = modelpack.spark_udf(spark, str(path), result_type="double")

    got = _collect(spark_table.select("id", udf(*WINE_COLUMNS).alias("p")))

    np.testing.assert_array_equal(got.to_numpy(), _in_process(path, table))


@pytest.mark.parametrize("which", ["skops", "xgboost", "python_model"])
def test_udf_with_a_struct_equals_in_process(request, spark, spark_table, table, which) -> None:
    from pyspark.sql.functions import struct

    package = {
        "skops": "sklearn_package",
        "xgboost": "xgboost_package",
        "python_model": "python_package",
    }[which]
    path = request.getfixturevalue(package)
    udf = modelpack.spark_udf(spark, str(path), result_type="double")
    # The struct's fields in another order: a struct is matched by name, not position.
    got = _collect(spark_table.select("id", udf(struct(*WINE_COLUMNS[::-1])).alias("p")))

    np.testing.assert_array_equal(got.to_numpy(), _in_process(path, table))


def test_udf_without_columns_takes_the_signatures_names(spark, spark_table, table, sklearn_package):
    udf = modelpack.spark_udf(spark, str(sklearn_package), result_type="double")

    got = _collect(spark_table.select("id", udf().alias("p")))

    np.testing.assert_array_equal(got.to_numpy(), _in_process(sklearn_package, table))


def test_result_type_defaults_to_the_output_schema_as_mlflow(spark, sklearn_package) -> None:
    from pyspark.sql.types import ArrayType, DoubleType

    # A tensor output of shape (-1,) is an array per row in MLflow 3's spark_udf.
    udf = modelpack.spark_udf(spark, str(sklearn_package))

    frame = spark.createDataFrame(pd.DataFrame(np.ones((3, 11)), columns=WINE_COLUMNS))
    assert frame.select(udf().alias("p")).schema["p"].dataType == ArrayType(DoubleType())


def test_predict_proba_as_an_array_of_doubles(spark, spark_table, table, proba_package) -> None:
    udf = modelpack.spark_udf(spark, str(proba_package), result_type="array<double>")

    got = _collect(spark_table.select("id", udf().alias("p")))

    expected = _in_process(proba_package, table)
    assert expected.shape == (ROWS, 2)
    np.testing.assert_array_equal(np.stack(got.to_numpy()), expected)


def _float_arrays(spark, table: pd.DataFrame):
    """The features as one array<float> column ``x`` beside ``id``, in three partitions."""
    from pyspark.sql.functions import array, col

    frame = spark.createDataFrame(table).repartition(3)
    return frame.select("id", array(*[col(c).cast("float") for c in WINE_COLUMNS]).alias("x"))


def test_torch_array_column_in_array_out(spark, table, torch_package) -> None:
    from pyspark.sql.types import ArrayType, FloatType

    features = _float_arrays(spark, table)
    udf = modelpack.spark_udf(spark, str(torch_package), result_type=ArrayType(FloatType()))

    got = _collect(features.select("id", udf("x").alias("p")))

    expected = _in_process(torch_package, table.astype({c: np.float32 for c in WINE_COLUMNS}))
    assert expected.shape == (ROWS, 2)
    np.testing.assert_array_equal(np.stack(got.to_numpy()), expected)


def test_batches_that_are_not_multiples_of_64_give_the_same_bits(
    spark, table, torch_package
) -> None:
    """Arrow batches of 1,000 rows: every call is padded to a multiple of 64 rows."""
    features = _float_arrays(spark, table)
    udf = modelpack.spark_udf(spark, str(torch_package), result_type="array<float>")
    spark.conf.set("spark.sql.execution.arrow.maxRecordsPerBatch", "1000")
    try:
        got = _collect(features.select("id", udf("x").alias("p")))
    finally:
        spark.conf.set("spark.sql.execution.arrow.maxRecordsPerBatch", str(BATCH))

    expected = _in_process(torch_package, table.astype({c: np.float32 for c in WINE_COLUMNS}))
    np.testing.assert_array_equal(np.stack(got.to_numpy()), expected)


def test_python_model_with_params(spark, spark_table, table, python_package) -> None:
    udf = modelpack.spark_udf(spark, str(python_package), params={"bonus": 2.0})

    got = _collect(spark_table.select("id", udf().alias("p")))

    expected = _in_process(python_package, table, params={"bonus": 2.0})
    np.testing.assert_array_equal(got.to_numpy(), expected)
    assert got.iloc[0] == table["alcohol"].iloc[0] * 0.5 + 1.0 + 2.0


@pytest.mark.parametrize(
    ("result_type", "expected"),
    [
        # A struct takes the output's columns by name; the scalar types take the leftmost
        # column that fits (MLflow's rules): long the integer one, float and string the first.
        ("score double, label string", lambda out: out[["score", "label"]]),
        ("long", lambda out: out["count"]),
        ("float", lambda out: out["score"].astype(np.float32)),
        ("string", lambda out: out["score"].map(str)),
        ("array<double>", lambda out: out[["score", "count"]].astype(float)),
    ],
)
def test_result_types_of_a_dataframe_output(
    spark, spark_table, table, frame_package, result_type, expected
) -> None:
    udf = modelpack.spark_udf(spark, str(frame_package), result_type=result_type)

    rows = spark_table.select("id", udf().alias("p")).toPandas().sort_values("id")

    want = expected(modelpack.load_model(frame_package).predict(table[WINE_COLUMNS]))
    if isinstance(want, pd.DataFrame) and "array" in result_type:
        assert [list(v) for v in rows["p"]] == want.to_numpy().tolist()
    elif isinstance(want, pd.DataFrame):
        got = pd.DataFrame([r.asDict() if hasattr(r, "asDict") else r for r in rows["p"]])
        pd.testing.assert_frame_equal(got, want.reset_index(drop=True), check_dtype=False)
    else:
        assert rows["p"].tolist() == want.tolist()


def test_bad_params_fail_on_the_driver(spark, python_package) -> None:
    with pytest.raises(InvalidParams, match="bonus"):
        modelpack.spark_udf(spark, str(python_package), params={"bonus": "lots"})


def test_the_package_is_loaded_once_per_python_worker(
    spark, table, python_package, tmp_path: Path
) -> None:
    log = tmp_path / "loads.txt"
    udf = modelpack.spark_udf(
        spark, str(python_package), model_config={"shift": 1.0, "load_log": str(log)}
    )
    frame = spark.createDataFrame(table).repartition(8)
    spark.conf.set("spark.sql.execution.arrow.maxRecordsPerBatch", "64")
    try:
        got = _collect(frame.select("id", udf().alias("p")))  # 8 tasks, ~80 batches
    finally:
        spark.conf.set("spark.sql.execution.arrow.maxRecordsPerBatch", str(BATCH))

    np.testing.assert_array_equal(got.to_numpy(), _in_process(python_package, table))
    loads = log.read_text().split()
    assert len(loads) == len(set(loads))  # no worker loaded it twice
    assert len(loads) < 8  # fewer loads than tasks: workers kept it between tasks


def test_a_package_that_cannot_load_fails_the_job_with_one_line(
    spark, spark_table, python_package
) -> None:
    from pyspark.errors import PythonException

    udf = modelpack.spark_udf(spark, str(python_package), model_config={"fail": True})

    with pytest.raises(PythonException) as info:
        spark_table.select(udf().alias("p")).collect()

    lines = str(info.value).strip().splitlines()
    assert lines[-1] == (
        "modelpack.errors.InvalidModel: the package cannot be loaded: "
        "RuntimeError: the weights are gone"
    )
    assert len(lines) <= 6, str(info.value)


def test_a_corrupt_model_file_fails_the_job_with_one_line(
    spark, spark_table, cloudpickle_package, tmp_path: Path
) -> None:
    from pyspark.errors import PythonException

    broken = tmp_path / "broken"
    shutil.copytree(cloudpickle_package, broken)
    (broken / "model.pkl").write_bytes(b"not a pickle")
    write_manifest(broken)  # sealed again: the file is corrupt, not tampered with
    udf = modelpack.spark_udf(spark, str(broken), result_type="double")

    with pytest.raises(PythonException) as info:
        spark_table.select(udf().alias("p")).collect()

    last = str(info.value).strip().splitlines()[-1]
    assert last.startswith("modelpack.errors.InvalidModel: ")
    assert last.endswith("model.pkl is not a readable pickle: invalid load key, 'n'.")
    assert len(str(info.value).strip().splitlines()) <= 6


def test_a_session_without_a_spark_context_is_refused(sklearn_package) -> None:
    with pytest.raises(InvalidArgument) as info:
        modelpack.spark_udf(object(), str(sklearn_package))
    assert str(info.value) == (
        "object has no SparkContext to ship the package with (Spark Connect is not supported): "
        "use a classic SparkSession"
    )


def test_env_managers_other_than_local_are_refused(spark, sklearn_package) -> None:
    with pytest.raises(InvalidArgument, match="env_manager 'conda' is not supported yet"):
        modelpack.spark_udf(spark, str(sklearn_package), env_manager="conda")


def test_a_result_type_spark_cannot_return_is_refused(spark, sklearn_package) -> None:
    with pytest.raises(InvalidArgument, match="result_type map<string,double> is not supported"):
        modelpack.spark_udf(spark, str(sklearn_package), result_type="map<string,double>")


# ---------------------------------------------------------------------------------------------
# predict --engine spark


SCORED_ROWS = 20_000


@pytest.fixture(scope="module")
def wine_parquet(tmp_path_factory) -> Path:
    """SCORED_ROWS rows of wine features in Parquet, in row groups of 2,000 (~180 KB each)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    rng = np.random.default_rng(3)
    values = rng.uniform(0.1, 20.0, size=(SCORED_ROWS, len(WINE_COLUMNS)))
    frame = pd.DataFrame(values, columns=WINE_COLUMNS)
    path = tmp_path_factory.mktemp("scored") / "wine.parquet"
    pq.write_table(pa.Table.from_pandas(frame), path, row_group_size=2_000)
    return path


def _read_parquet(path: Path) -> pd.DataFrame:
    """A Parquet file, or a directory of part files in order."""
    files = sorted(path.glob("part-*.parquet")) if path.is_dir() else [path]
    return pd.concat([pd.read_parquet(f) for f in files], ignore_index=True)


def test_predict_engine_spark_equals_the_local_engine(
    spark, wine_parquet: Path, sklearn_package: Path, tmp_path: Path
) -> None:
    """The same rows, columns and bits as the local engine; one part file per input split.
    (The 1,000,000-row case is timed by bench/spark_predict.py, not here.)"""
    model = modelpack.load_model(sklearn_package)
    predict_file(model, str(wine_parquet), str(tmp_path / "local.parquet"))

    # Splits of 512 KB: the 1.8 MB file is read as several partitions, as a big file is.
    conf = "spark.sql.files.maxPartitionBytes"
    before = spark.conf.get(conf)
    spark.conf.set(conf, str(512 * 1024))
    try:
        result = predict_spark(
            str(sklearn_package), str(wine_parquet), str(tmp_path / "spark"), spark=spark
        )
    finally:
        spark.conf.set(conf, before)

    local = _read_parquet(tmp_path / "local.parquet")
    scored = _read_parquet(tmp_path / "spark")
    assert result.rows == SCORED_ROWS
    assert list(scored.columns) == [*WINE_COLUMNS, "prediction"]
    pd.testing.assert_frame_equal(scored, local, check_exact=True)
    assert len(list((tmp_path / "spark").glob("part-*.parquet"))) > 1  # partitioned as read


def test_cli_engine_spark_reads_csv_and_writes_parquet(
    spark, sklearn_package: Path, table: pd.DataFrame, tmp_path: Path
) -> None:
    table[WINE_COLUMNS].to_csv(tmp_path / "in.csv", index=False, sep=";")
    result = CliRunner().invoke(
        main,
        [
            "predict",
            "-m",
            str(sklearn_package),
            "-i",
            str(tmp_path / "in.csv"),
            "-o",
            str(tmp_path / "out"),
            "--engine",
            "spark",
            "-q",
        ],
    )
    assert result.exit_code == 0, result.output

    scored = _read_parquet(tmp_path / "out")
    expected = _in_process(sklearn_package, pd.read_csv(tmp_path / "in.csv", sep=";"))
    np.testing.assert_array_equal(scored["prediction"], expected)
    assert result.output == ""


def test_progress_comes_from_the_jobs_status_and_ends_with_rows_and_seconds(
    spark, sklearn_package: Path, wine_frame: pd.DataFrame, tmp_path: Path, capsys
) -> None:
    wine_frame.to_parquet(tmp_path / "in.parquet")

    result = predict_spark(
        str(sklearn_package),
        str(tmp_path / "in.parquet"),
        str(tmp_path / "out"),
        progress=True,
        spark=spark,
    )

    err = capsys.readouterr().err
    assert result.rows == 200
    assert err.endswith("\n")
    assert err.rstrip().split("\r")[-1].startswith("200 rows in ")


def test_cli_engine_spark_gives_the_local_engines_error_for_bad_input(
    spark, sklearn_package: Path, wine_frame: pd.DataFrame, tmp_path: Path
) -> None:
    bad = wine_frame.assign(pH=wine_frame["pH"].map(str))  # numbers as text: cast, as locally
    bad.loc[3, "pH"] = "acidic"
    bad.to_parquet(tmp_path / "in.parquet")
    args = ["predict", "-m", str(sklearn_package), "-i", str(tmp_path / "in.parquet")]

    local = CliRunner().invoke(main, [*args, "-o", str(tmp_path / "local.parquet")])
    on_spark = CliRunner().invoke(main, [*args, "-o", str(tmp_path / "out"), "--engine", "spark"])

    assert local.exit_code == on_spark.exit_code == 2
    assert on_spark.output == local.output
    assert on_spark.output.startswith(f"Error: {tmp_path / 'in.parquet'}: row 3, column 'pH': ")
    assert on_spark.output.count("\n") == 1
    assert not (tmp_path / "out").exists()


def test_cli_engine_spark_a_package_that_fails_to_load_on_the_executors_is_one_line(
    spark, fragile_package: Path, wine_frame: pd.DataFrame, tmp_path: Path
) -> None:
    wine_frame.to_parquet(tmp_path / "in.parquet")

    result = CliRunner().invoke(
        main,
        [
            *("predict", "-m", str(fragile_package), "-i", str(tmp_path / "in.parquet")),
            *("-o", str(tmp_path / "out"), "--engine", "spark"),
        ],
    )

    assert result.exit_code == InvalidModel.exit_code
    assert result.output == (
        "Error: the package cannot be loaded: RuntimeError: the executors have no weights\n"
    )
    assert list(tmp_path.iterdir()) == [tmp_path / "in.parquet"]  # no partial output left


def test_cli_engine_spark_names_the_csv_file_but_no_line(
    spark, sklearn_package: Path, wine_frame: pd.DataFrame, tmp_path: Path
) -> None:
    bad = wine_frame.astype({"pH": object})
    bad.loc[3, "pH"] = "acidic"
    bad.to_csv(tmp_path / "in.csv", index=False)

    result = CliRunner().invoke(
        main,
        [
            *("predict", "-m", str(sklearn_package), "-i", str(tmp_path / "in.csv")),
            *("-o", str(tmp_path / "out"), "--engine", "spark"),
        ],
    )

    # Spark does not number a CSV file's lines, so the local engine's "line 5" is left out.
    assert result.exit_code == 2
    assert result.output == (
        f"Error: {tmp_path / 'in.csv'}, column 'pH': expected double, got str 'acidic'\n"
    )


def test_engine_spark_names_the_file_of_a_directory_that_holds_the_bad_row(
    spark, sklearn_package: Path, wine_frame: pd.DataFrame, tmp_path: Path
) -> None:
    text = wine_frame.assign(pH=wine_frame["pH"].map(str))
    (tmp_path / "in").mkdir()
    text.iloc[:100].to_parquet(tmp_path / "in" / "a.parquet")
    bad = text.iloc[100:].reset_index(drop=True)
    bad.loc[7, "pH"] = "acidic"
    bad.to_parquet(tmp_path / "in" / "b.parquet")

    with pytest.raises(SignatureMismatch) as info:
        predict_spark(str(sklearn_package), str(tmp_path / "in"), str(tmp_path / "o"), spark=spark)

    assert str(info.value) == (
        f"{tmp_path / 'in' / 'b.parquet'}: row 7, column 'pH': expected double, got str 'acidic'"
    )


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["-i", "/nonexistent/in.parquet"], "Error: input file not found: /nonexistent/in.parquet"),
        (["-i", "-"], "Error: --engine spark reads files, not standard input: give -i PATH"),
        (["-t", "json"], "Error: --engine spark reads parquet or csv; got 'json'"),
        (["-o", "-"], "Error: --engine spark writes a Parquet directory: give -o DIRECTORY"),
    ],
)
def test_cli_engine_spark_argument_errors_are_one_line(
    sklearn_package: Path, tmp_path: Path, args: list[str], message: str
) -> None:
    defaults = {"-i": str(tmp_path / "in.parquet"), "-o": str(tmp_path / "out")}
    for flag, value in defaults.items():
        if flag not in args:
            args = [*args, flag, value]
    pd.DataFrame({"a": [1.0]}).to_parquet(tmp_path / "in.parquet")

    result = CliRunner().invoke(
        main, ["predict", "-m", str(sklearn_package), "--engine", "spark", *args]
    )

    assert result.exit_code == 2
    assert result.output == message + "\n"


def test_spark_master_needs_the_spark_engine(sklearn_package: Path) -> None:
    result = CliRunner().invoke(
        main, ["predict", "-m", str(sklearn_package), "-i", "x.csv", "--spark-master", "local[2]"]
    )
    assert result.exit_code == 2
    assert result.output == "Error: --spark-master needs --engine spark\n"
