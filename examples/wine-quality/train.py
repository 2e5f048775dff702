"""Train the wine-quality ElasticNet of seed 000 and save it as a modelpack package.

python train.py --input_file data/winequality.csv --alpha 0.4 --l1_ratio 0.75 --output model
"""

from __future__ import annotations

import argparse
import shutil
from pathlib import Path

import pandas as pd
from sklearn.linear_model import ElasticNet
from sklearn.metrics import mean_absolute_error, mean_squared_error, r2_score
from sklearn.model_selection import train_test_split

import modelpack


def main() -> None:
    parser = argparse.ArgumentParser(description="Train ElasticNet on the wine-quality data.")
    parser.add_argument("-i", "--input_file", type=Path, required=True)
    parser.add_argument("-a", "--alpha", type=float, default=0.5)
    parser.add_argument("-l", "--l1_ratio", type=float, default=0.5)
    parser.add_argument("-o", "--output", type=Path, default=Path("model"))
    args = parser.parse_args()

    df = pd.read_csv(args.input_file, sep=";")
    df_train, df_test = train_test_split(df, train_size=0.8, random_state=42)
    x_train, x_test = df_train.drop(["quality"], axis=1), df_test.drop(["quality"], axis=1)
    y_train, y_test = df_train["quality"], df_test["quality"]

    lr = ElasticNet(alpha=args.alpha, l1_ratio=args.l1_ratio, random_state=42)
    lr.fit(x_train, y_train)
    y_pred = lr.predict(x_test)
    print(
        f"ElasticNet(alpha={args.alpha},l1_ratio={args.l1_ratio}): "
        f"RMSE={mean_squared_error(y_test, y_pred) ** 0.5:.4f}, "
        f"MAE={mean_absolute_error(y_test, y_pred):.4f}, R2={r2_score(y_test, y_pred):.4f}"
    )

    if args.output.exists():
        shutil.rmtree(args.output)
    signature = modelpack.infer_signature(x_train, lr.predict(x_train))
    modelpack.save_model(lr, args.output, signature=signature, input_example=x_train.head(3))
    print(f"saved the model package to {args.output}")


if __name__ == "__main__":
    main()
