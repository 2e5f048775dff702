"""A plain-Python package whose predictions can be held at a gate, for tests of real servers.

Its model answers each request with its row count, one value per row, and logs one WARNING line
per call (on the ``gated`` logger, from the engine's prediction thread). While the file
``<gate>/closed`` exists, a call touches ``<gate>/entered`` and waits: a test closes the gate to
hold the warm-up or an in-flight request, and opens it to let them finish.
"""

from __future__ import annotations

import importlib
import sys
import textwrap
from pathlib import Path
from typing import Any

import pandas as pd

import modelpack

SOURCE = """
import logging
import time
from pathlib import Path

import modelpack


class Gated(modelpack.PythonModel):
    def load_context(self, context):
        self.gate = Path(context.model_config["gate"])

    def predict(self, context, model_input, params=None):
        logging.getLogger("gated").warning("predicting %d rows", len(model_input))
        closed = self.gate / "closed"
        if closed.exists():
            (self.gate / "entered").touch()
            while closed.exists():
                time.sleep(0.02)
        return [len(model_input)] * len(model_input)
"""


class Gate:
    """The files a gated package's model watches."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def close(self) -> None:
        (self.path / "entered").unlink(missing_ok=True)
        (self.path / "closed").touch()

    def open(self) -> None:
        (self.path / "closed").unlink(missing_ok=True)

    @property
    def entered(self) -> bool:
        return (self.path / "entered").exists()


def save_gated(root: Path, **options: Any) -> tuple[Path, Gate]:
    """A gated package under ``root`` (column ``x``, double; serving example of 2 rows)."""
    source = root / "src" / "gated_model_for_tests.py"
    source.parent.mkdir(parents=True, exist_ok=True)
    source.write_text(textwrap.dedent(SOURCE))
    gate = Gate(root / "gate")
    gate.path.mkdir(exist_ok=True)
    sys.path.insert(0, str(source.parent))
    try:
        module = importlib.import_module("gated_model_for_tests")
        package = root / "gated"
        modelpack.save_model(
            module.Gated(),
            package,
            code_paths=[source],
            input_example=pd.DataFrame({"x": [1.0, 2.0]}),
            model_config={"gate": str(gate.path)},
            **options,
        )
    finally:
        sys.path.remove(str(source.parent))
        sys.modules.pop("gated_model_for_tests", None)
    return package, gate
