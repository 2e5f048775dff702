"""Plain-Python models for the engine's end-to-end tests (pickled by value into their packages,
so that the server process needs nothing from the tests)."""

from __future__ import annotations

import os
import time
from typing import Any

import numpy as np
import pandas as pd

import modelpack


class RowCount(modelpack.PythonModel):
    """One answer per request, not per row: a model whose output is not row-wise."""

    def predict(self, context: Any, model_input: Any, params: Any = None) -> Any:
        return np.array([len(model_input)])


class Slow(modelpack.PythonModel):
    """Sleeps ``x`` seconds (the first column of the first row), counting calls that overlap:
    each call writes how many calls ran at once into a file the test reads."""

    def load_context(self, context: Any) -> None:
        self.running = 0
        self.most = 0

    def predict(self, context: Any, model_input: Any, params: Any = None) -> Any:
        self.running += 1
        self.most = max(self.most, self.running)
        try:
            seconds = float(model_input.iloc[0, 0])
            if seconds > 0:
                time.sleep(seconds)
            record = os.environ.get("MODELPACK_TEST_OVERLAP_FILE")
            if record:
                with open(record, "a") as fh:
                    fh.write(f"{self.most}\n")
            return np.zeros(len(model_input))
        finally:
            self.running -= 1


class Heavy(modelpack.PythonModel):
    """256 MB of weights, loaded from an artifact in load_context (in the server's parent)."""

    def load_context(self, context: Any) -> None:
        self.weights = np.load(context.artifacts["weights"])

    def predict(self, context: Any, model_input: Any, params: Any = None) -> Any:
        return pd.Series(np.full(len(model_input), float(self.weights[:4].sum())))


class Echo(modelpack.PythonModel):
    """Answers its first column."""

    def predict(self, context: Any, model_input: Any, params: Any = None) -> Any:
        return model_input.iloc[:, 0].to_numpy()
