"""Write a wine-quality CSV with the real column names of the UCI data set (seed 000).

The values are SYNTHETIC: drawn from fixed seeds within the ranges of the real red-wine data,
with a quality score that depends on alcohol, volatile acidity and sulphates plus noise. They are
deterministic, so the example model is the same on every machine.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pandas as pd

# (column, low, high, decimals), ranges of the real winequality-red.csv
COLUMNS = [
    ("fixed acidity", 4.6, 15.9, 1),
    ("volatile acidity", 0.12, 1.58, 3),
    ("citric acid", 0.0, 1.0, 2),
    ("residual sugar", 0.9, 15.5, 1),
    ("chlorides", 0.012, 0.611, 3),
    ("free sulfur dioxide", 1.0, 72.0, 0),
    ("total sulfur dioxide", 6.0, 289.0, 0),
    ("density", 0.990, 1.004, 4),
    ("pH", 2.74, 4.01, 2),
    ("sulphates", 0.33, 2.0, 2),
    ("alcohol", 8.4, 14.9, 1),
]


def make(rows: int = 1599, seed: int = 42) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    data = {
        name: np.round(rng.uniform(low, high, rows), decimals).astype("float64")
        for name, low, high, decimals in COLUMNS
    }
    frame = pd.DataFrame(data)
    score = (
        0.35 * frame["alcohol"]
        - 1.2 * frame["volatile acidity"]
        + 0.8 * frame["sulphates"]
        + rng.normal(0, 0.4, rows)
    )
    frame["quality"] = np.clip(np.round(score + 2.0), 3, 8).astype("int64")
    return frame


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-o", "--output", type=Path, default=Path("data/winequality.csv"))
    args = parser.parse_args()
    args.output.parent.mkdir(parents=True, exist_ok=True)
    make().to_csv(args.output, sep=";", index=False)
    print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
