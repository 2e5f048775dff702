"""Models for the V2 tests, saved by value (cloudpickle) so a server process loads them."""

from __future__ import annotations

import pandas as pd

import modelpack

TORCH_WIDTH = 10
"""Inputs of the pt2 MLP the V2 tests serve."""


class TwoCols(modelpack.PythonModel):
    """A DataFrame of two outputs, one of them text, and a param: MLServer's ``pyfunc-twocols``."""

    def predict(self, context, model_input, params=None):
        multiplier = (params or {}).get("multiplier", 1.0)
        return pd.DataFrame(
            {
                "greeting": ["hello " + name for name in model_input["name"]],
                "scaled": model_input["x"] * multiplier,
            }
        )
