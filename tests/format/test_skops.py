"""skops.io imported for one file: the same trust and the same objects as the usual import.

Each check runs in a fresh interpreter, where skops.io is not imported yet (the narrowed import is
used only then): the file is read through ``skops_for_file``, then through the usual
``import skops.io``, and the two must agree on the types they do not trust and on the model's
answers, bit for bit.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

sio = pytest.importorskip("skops.io")

SCRIPT = """
import json, pickle, sys
from pathlib import Path
import numpy as np
from modelpack.format._skops import skops_for_file

def answer(model, x):
    return (model.predict(x) if hasattr(model, "predict") else model.transform(x)).tolist()

out = {}
for name in sys.argv[1:]:
    file = Path(name)
    with skops_for_file(file) as narrowed:
        untrusted = narrowed.get_untrusted_types(file=file)
        model = narrowed.load(file, trusted=untrusted)
        lists = narrowed._trusted_types.SKLEARN_ESTIMATOR_TYPE_NAMES
    kept = "skops.io" in sys.modules  # True only when the usual import was used
    if kept:
        for key in [k for k in sys.modules if k.startswith("skops.io")]:
            del sys.modules[key]
        del sys.modules["skops"].io
    x = np.load(file.with_suffix(".npy"))
    out[file.stem] = {"untrusted": untrusted, "answer": answer(model, x),
                      "narrowed": len(lists), "kept": kept}
import skops.io as full
for name in sys.argv[1:]:
    file = Path(name)
    out[file.stem]["full"] = full.get_untrusted_types(file=file)
    out[file.stem]["full_list"] = len(full._trusted_types.SKLEARN_ESTIMATOR_TYPE_NAMES)
print(json.dumps(out))
"""


def _models() -> dict[str, object]:
    from scipy.special import expit
    from sklearn.ensemble import HistGradientBoostingClassifier, RandomForestRegressor
    from sklearn.linear_model import ElasticNet, LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import FunctionTransformer, StandardScaler
    from sklearn.utils._mocking import CheckingClassifier

    rng = np.random.default_rng(0)
    x = rng.normal(size=(60, 4))
    y = (x[:, 0] > 0).astype(int)
    return {
        "elasticnet": ElasticNet(alpha=0.1).fit(x, x[:, 1]),
        "forest": RandomForestRegressor(n_estimators=5, random_state=0).fit(x, x[:, 1]),
        "pipeline": make_pipeline(StandardScaler(), LogisticRegression()).fit(x, y),
        "ufuncs": make_pipeline(
            FunctionTransformer(np.log1p),
            FunctionTransformer(np.abs),
            FunctionTransformer(expit),
            StandardScaler(),
        ).fit(np.abs(x)),
        "untrusted": make_pipeline(FunctionTransformer(abs), LogisticRegression()).fit(x, y),
        "histgb": HistGradientBoostingClassifier(max_iter=5).fit(x, y),
        # An estimator no public module exports: the usual import decides.
        "mocking": CheckingClassifier(random_state=0).fit(x, y),
    }


@pytest.fixture(scope="module")
def compared(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict]:
    folder = tmp_path_factory.mktemp("skops")
    x = np.random.default_rng(1).normal(size=(20, 4))
    files = []
    for name, model in _models().items():
        file = folder / f"{name}.skops"
        sio.dump(model, file)
        np.save(file.with_suffix(".npy"), np.abs(x) if name == "ufuncs" else x)
        files.append(str(file))
    result = subprocess.run(
        [sys.executable, "-c", SCRIPT, *files], capture_output=True, text=True, timeout=600
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


@pytest.mark.parametrize(
    "name", ["elasticnet", "forest", "pipeline", "ufuncs", "untrusted", "histgb", "mocking"]
)
def test_a_narrowed_import_trusts_what_the_full_one_trusts(compared: dict, name: str) -> None:
    assert compared[name]["untrusted"] == compared[name]["full"]


def test_the_narrowed_list_holds_only_the_files_estimators(compared: dict) -> None:
    assert compared["elasticnet"]["narrowed"] == 1
    assert compared["pipeline"]["narrowed"] == 3  # Pipeline, StandardScaler, LogisticRegression
    assert compared["elasticnet"]["full_list"] > 150
    assert [name for name, c in compared.items() if c["kept"]] == ["mocking"]


def test_what_loads_answers_as_the_original(compared: dict) -> None:
    x = np.random.default_rng(1).normal(size=(20, 4))
    for name, model in _models().items():
        rows = np.abs(x) if name == "ufuncs" else x
        expected = model.predict(rows) if hasattr(model, "predict") else model.transform(rows)
        assert compared[name]["answer"] == expected.tolist(), name


def test_loading_forgets_the_narrowed_module(tmp_path: Path) -> None:
    from sklearn.linear_model import ElasticNet

    file = tmp_path / "m.skops"
    sio.dump(ElasticNet().fit([[0.0], [1.0]], [0.0, 1.0]), file)
    script = (
        "import sys\n"
        "from pathlib import Path\n"
        "from modelpack.format.opener import skops_load\n"
        "from modelpack.settings import Settings\n"
        f"model = skops_load(Path({str(file)!r}), Settings(), [])\n"
        "print(type(model).__name__, 'skops.io' in sys.modules, 'pytest' in sys.modules)\n"
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert result.stdout.split() == ["ElasticNet", "False", "False"], result.stderr
