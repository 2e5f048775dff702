"""Module references read from pickles and skops files without loading them."""

from __future__ import annotations

import pickle
from pathlib import Path

import cloudpickle
import numpy as np

from modelpack.format.references import pickle_modules, skops_modules


def test_pickle_modules_of_an_estimator(tmp_path: Path, elasticnet) -> None:
    for protocol in (2, pickle.HIGHEST_PROTOCOL):
        file = tmp_path / f"m{protocol}.pkl"
        file.write_bytes(pickle.dumps(elasticnet, protocol=protocol))
        assert {"sklearn", "numpy"} <= pickle_modules(file)


def test_cloudpickle_of_a_lambda_names_cloudpickle(tmp_path: Path) -> None:
    file = tmp_path / "f.pkl"
    file.write_bytes(cloudpickle.dumps(lambda x: np.sum(x)))
    assert "cloudpickle" in pickle_modules(file)


def test_skops_modules(tmp_path: Path, elasticnet) -> None:
    import skops.io as sio

    sio.dump(elasticnet, tmp_path / "m.skops")
    assert {"sklearn", "numpy"} <= skops_modules(tmp_path / "m.skops")
