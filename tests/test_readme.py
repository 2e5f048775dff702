"""The README's tour runs as written: its Python blocks, in order, in a fresh interpreter, on the
example's synthetic wine data."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

pytestmark = pytest.mark.slow


def _tour_blocks() -> list[str]:
    text = (ROOT / "README.md").read_text()
    tour = text.split("## A five-minute tour", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```python\n(.*?)```", tour, flags=re.S)


def test_the_tours_python_blocks_run(tmp_path: Path) -> None:
    blocks = _tour_blocks()
    assert len(blocks) >= 2
    data = tmp_path / "examples" / "wine-quality" / "data" / "winequality.csv"
    data.parent.mkdir(parents=True)
    subprocess.run(
        [sys.executable, str(ROOT / "examples" / "wine-quality" / "make_data.py"), "-o", str(data)],
        check=True,
        capture_output=True,
    )
    script = "\n".join(blocks)
    result = subprocess.run(
        [sys.executable, "-c", script], cwd=tmp_path, capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == "Model is missing inputs ['alcohol']."
    assert (tmp_path / "wine" / "MLmodel").is_file()
    assert (tmp_path / "wine" / "model.skops").is_file()
