"""`modelpack predict`: files of every format, chunking, streaming, errors with line numbers."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import modelpack
from modelpack.batch import predict_file
from modelpack.batch._files import prediction_columns
from modelpack.cli import main
from modelpack.errors import InvalidArgument, SignatureMismatch


@pytest.fixture(scope="module")
def model(sklearn_package: Path):
    return modelpack.load_model(sklearn_package)


@pytest.fixture(scope="module")
def expected(model, wine_frame: pd.DataFrame) -> np.ndarray:
    """The in-process answer, which is MLflow's to the bit (tests/test_mlflow_identical.py):
    scoring a file in chunks must give exactly the same."""
    return np.asarray(model.predict(wine_frame))


def _predictions(path: Path) -> list[float]:
    return json.loads(path.read_text())["predictions"]


def test_csv_to_json(tmp_path: Path, model, wine_frame, expected) -> None:
    wine_frame.to_csv(tmp_path / "in.csv", index=False)
    predict_file(model, str(tmp_path / "in.csv"), str(tmp_path / "out.json"), batch_size=37)
    np.testing.assert_array_equal(_predictions(tmp_path / "out.json"), expected)


def test_semicolon_csv_is_read(tmp_path: Path, model, wine_frame, expected) -> None:
    wine_frame.to_csv(tmp_path / "in.csv", index=False, sep=";")
    predict_file(model, str(tmp_path / "in.csv"), str(tmp_path / "out.json"))
    np.testing.assert_array_equal(_predictions(tmp_path / "out.json"), expected)


def test_csv_to_csv_keeps_the_input_columns(tmp_path: Path, model, wine_frame, expected) -> None:
    wine_frame.to_csv(tmp_path / "in.csv", index=False)
    predict_file(model, str(tmp_path / "in.csv"), str(tmp_path / "out.csv"), batch_size=50)
    out = pd.read_csv(tmp_path / "out.csv")
    assert list(out.columns) == [*wine_frame.columns, "prediction"]
    np.testing.assert_array_equal(out["prediction"], expected)
    np.testing.assert_allclose(out[wine_frame.columns], wine_frame, rtol=1e-12)


def test_json_envelope_to_json(tmp_path: Path, model, wine_frame, expected) -> None:
    body = {"dataframe_split": wine_frame.to_dict(orient="split", index=False)}
    (tmp_path / "in.json").write_text(json.dumps(body))
    predict_file(model, str(tmp_path / "in.json"), str(tmp_path / "out.json"))
    np.testing.assert_array_equal(_predictions(tmp_path / "out.json"), expected)


def test_jsonl_to_csv(tmp_path: Path, model, wine_frame, expected) -> None:
    lines = [json.dumps(record) for record in wine_frame.to_dict(orient="records")]
    (tmp_path / "in.jsonl").write_text("\n".join(lines) + "\n")
    predict_file(model, str(tmp_path / "in.jsonl"), str(tmp_path / "out.csv"), batch_size=64)
    np.testing.assert_allclose(
        pd.read_csv(tmp_path / "out.csv")["prediction"], expected, rtol=1e-12
    )


def test_parquet_to_parquet(tmp_path: Path, model, wine_frame, expected) -> None:
    wine_frame.to_parquet(tmp_path / "in.parquet")
    predict_file(model, str(tmp_path / "in.parquet"), str(tmp_path / "out.parquet"), batch_size=30)
    out = pd.read_parquet(tmp_path / "out.parquet")
    np.testing.assert_array_equal(out["prediction"], expected)
    assert len(out) == len(wine_frame)


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(rows=st.integers(1, 120), batch_size=st.integers(1, 130))
def test_chunk_size_does_not_change_the_result(
    tmp_path: Path, model, wine_frame, expected, rows: int, batch_size: int
) -> None:
    wine_frame.head(rows).to_csv(tmp_path / "in.csv", index=False)
    out = io.BytesIO()
    predict_file(model, str(tmp_path / "in.csv"), "-", batch_size=batch_size, stdout=out)
    whole = np.asarray(model.predict(wine_frame.head(rows)))  # the file in one call, as MLflow
    np.testing.assert_array_equal(json.loads(out.getvalue())["predictions"], whole)


def test_bad_value_names_its_line_and_column_and_leaves_no_output(
    tmp_path: Path, model, wine_frame
) -> None:
    big = pd.concat([wine_frame] * 40, ignore_index=True)  # 8,000 rows
    big["pH"] = big["pH"].astype(object)
    big.loc[7121, "pH"] = "acidic"  # row 7121 is line 7123: the header is line 1
    big.to_csv(tmp_path / "in.csv", index=False)
    with pytest.raises(SignatureMismatch) as info:
        predict_file(model, str(tmp_path / "in.csv"), str(tmp_path / "out.json"), batch_size=1000)
    assert str(info.value) == (
        f"{tmp_path / 'in.csv'}: line 7123, column 'pH': expected double, got str 'acidic'"
    )
    assert list(tmp_path.iterdir()) == [tmp_path / "in.csv"]


def test_stdin_to_stdout_through_the_cli(sklearn_package: Path, wine_frame, expected) -> None:
    body = json.dumps({"dataframe_split": wine_frame.to_dict(orient="split", index=False)})
    result = CliRunner().invoke(
        main, ["predict", "-m", str(sklearn_package), "-i", "-", "-o", "-"], input=body
    )
    assert result.exit_code == 0, result.output
    np.testing.assert_array_equal(json.loads(result.output)["predictions"], expected)


def test_cli_in_a_subprocess_with_csv_content_type(
    tmp_path: Path, sklearn_package: Path, wine_frame, expected
) -> None:
    wine_frame.to_csv(tmp_path / "in.txt", index=False)
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "modelpack",
            "predict",
            "-m",
            str(sklearn_package),
            "-i",
            str(tmp_path / "in.txt"),
            "-t",
            "csv",
            "-o",
            str(tmp_path / "out.json"),
        ],
        capture_output=True,
        text=True,
    )
    assert out.returncode == 0, out.stderr
    np.testing.assert_array_equal(_predictions(tmp_path / "out.json"), expected)
    assert out.stderr == ""  # no progress bar when stderr is not a terminal


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["-m", "/nonexistent/model", "-i", "x.csv"],
            "Error: model URI '/nonexistent/model': no such file or directory",
        ),
        (["-i", "/nonexistent/in.csv"], "Error: input file not found: /nonexistent/in.csv"),
        (
            ["-i", "-", "-t", "xml"],
            "Error: format must be one of csv, json, jsonl, parquet; got 'xml'",
        ),
    ],
)
def test_cli_errors_are_one_line(sklearn_package: Path, args: list[str], message: str) -> None:
    if "-m" not in args:
        args = ["-m", str(sklearn_package), *args]
    result = CliRunner().invoke(main, ["predict", *args], input="")
    assert result.exit_code == 2
    assert result.output.startswith(message)
    assert result.output.count("\n") == 1


def test_json_inputs_envelope_to_csv(tmp_path: Path, model, wine_frame, expected) -> None:
    body = {"inputs": wine_frame.head(5).to_dict(orient="list")}
    (tmp_path / "in.json").write_text(json.dumps(body))
    predict_file(model, str(tmp_path / "in.json"), str(tmp_path / "out.csv"))
    out = pd.read_csv(tmp_path / "out.csv")
    np.testing.assert_array_equal(out["prediction"], expected[:5])


def test_predictions_that_are_not_one_per_row_do_not_fit_a_table() -> None:
    with pytest.raises(InvalidArgument, match=r"only one prediction .* per input row fits a table"):
        prediction_columns(np.zeros((2, 2, 2)), rows=2)


def test_progress_goes_to_stderr_when_asked(
    tmp_path: Path, model, wine_frame, capsys: pytest.CaptureFixture[str]
) -> None:
    wine_frame.to_csv(tmp_path / "in.csv", index=False)
    predict_file(model, str(tmp_path / "in.csv"), str(tmp_path / "out.json"), progress=True)
    err = capsys.readouterr().err
    assert err.endswith("\n")
    assert err.rstrip().split("\r")[-1].startswith("200 rows in ")


def test_no_progress_by_default_when_stderr_is_not_a_terminal(
    tmp_path: Path, model, wine_frame, capsys: pytest.CaptureFixture[str]
) -> None:
    wine_frame.to_csv(tmp_path / "in.csv", index=False)
    predict_file(model, str(tmp_path / "in.csv"), str(tmp_path / "out.json"))
    assert capsys.readouterr().err == ""
