"""The wine-quality example and the demo that `make demo` runs."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
from pathlib import Path

import pandas as pd

import modelpack

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "wine-quality"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_synthetic_data_has_the_real_columns_and_is_deterministic(tmp_path: Path) -> None:
    for name in ("a.csv", "b.csv"):
        subprocess.run(
            [sys.executable, str(EXAMPLE / "make_data.py"), "-o", str(tmp_path / name)], check=True
        )
    assert (tmp_path / "a.csv").read_bytes() == (tmp_path / "b.csv").read_bytes()
    frame = pd.read_csv(tmp_path / "a.csv", sep=";")
    assert list(frame.columns)[-1] == "quality"
    assert "free sulfur dioxide" in frame.columns and len(frame) == 1599


def test_train_saves_a_package_with_signature_and_example(tmp_path: Path) -> None:
    subprocess.run(
        [sys.executable, str(EXAMPLE / "make_data.py"), "-o", str(tmp_path / "w.csv")], check=True
    )
    subprocess.run(
        [
            sys.executable,
            str(EXAMPLE / "train.py"),
            "-i",
            str(tmp_path / "w.csv"),
            "-o",
            str(tmp_path / "model"),
        ],
        check=True,
        capture_output=True,
    )
    model = modelpack.load_model(tmp_path / "model")
    assert model.input_schema is not None and len(model.input_schema.inputs) == 11
    assert (tmp_path / "model" / "serving_input_example.json").is_file()


def test_demo_serves_and_answers_seed_000s_request() -> None:
    out = subprocess.run(
        [sys.executable, str(EXAMPLE / "demo.py"), "--check", "--port", str(_free_port())],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert out.returncode == 0, out.stderr[-2000:]
    assert "curl -X POST -H 'Content-Type:application/json; format=pandas-split'" in out.stdout
    answer = out.stdout.split("It answered: ", 1)[1].splitlines()[0]
    assert len(json.loads(answer)) == 1
