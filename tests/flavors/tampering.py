"""Edits to a package's MLmodel, and a tripwire that records every unpickling of a test model.

The flavor tests save a model whose class records itself in ``UNPICKLED`` from ``__setstate__``
(pickle calls it while loading the object, never while saving it), then load the package with
pickle off after any edit the strategy below can make to MLmodel's path-like keys: the load must
fail with a ModelpackError, and ``UNPICKLED`` must stay empty.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import event
from hypothesis import strategies as st

from modelpack.errors import ModelpackError

UNPICKLED: list[str] = []
"""Tags of the tripwire objects unpickled since the last ``reset``."""


def record(tag: str) -> None:
    """Called from a tripwire class's ``__setstate__`` (or from package code that runs)."""
    UNPICKLED.append(tag)


def reset() -> None:
    UNPICKLED.clear()


SECTIONS = ("python_function", "<flavor>")
"""Where an edit lands; ``<flavor>`` is the package's own flavor section."""

KEYS = (
    "python_model",
    "model_path",
    "pickled_model",
    "data",
    "model_data",
    "serialization_format",
    "loader_module",
    "model_code_path",
    "code",
    "pickle_module_name",
    "model_class",
    "model_format",
)

VALUES: tuple[Any, ...] = (
    None,
    "",
    ".",
    "..",
    "MLmodel",
    "model.pkl",
    "model.skops",
    "python_model.pkl",
    "data",
    "data/model.pth",
    "elsewhere",
    "model_code.py",
    "code",
    "artifacts",
    "skops",
    "pickle",
    "cloudpickle",
    "pt2",
    "torchscript",
    "ubj",
    "mlflow.pyfunc.model",
    "mlflow.pyfunc.loaders.code_model",
    "mlflow.sklearn",
    "mlflow.pytorch",
    "modelpack.flavors.python_model",
    "xgboost.core.Booster",
    0,
    ["data"],
)

FLAVOR_NAMES = ("sklearn", "pytorch", "xgboost", "python_model", "h2o")

DELETE = object()


def _edits() -> st.SearchStrategy[tuple[Any, ...]]:
    value = st.one_of(st.sampled_from(VALUES), st.text(alphabet="ab./_", max_size=8))
    set_or_delete = st.tuples(
        st.just("key"),
        st.sampled_from(SECTIONS),
        st.sampled_from(KEYS),
        st.one_of(st.just(DELETE), value),
    )
    rename = st.tuples(st.just("rename"), st.sampled_from(FLAVOR_NAMES))
    drop = st.tuples(st.just("drop"), st.sampled_from(SECTIONS))
    return st.one_of(set_or_delete, set_or_delete, set_or_delete, rename, drop)


mlmodel_edits = st.lists(_edits(), min_size=1, max_size=4)
"""Up to four edits: set or delete a path-like key (adding it where it was absent), rename the
flavor section, or drop a section."""


def apply(mlmodel: dict[str, Any], flavor: str, edits: list[tuple[Any, ...]]) -> dict[str, Any]:
    """``mlmodel`` (MLmodel's YAML as a dict) after ``edits``; ``flavor`` names its section."""
    data = yaml.safe_load(yaml.safe_dump(mlmodel))  # a deep copy
    flavors: dict[str, Any] = data["flavors"]
    name = flavor
    for edit in edits:
        if edit[0] == "rename":
            if name in flavors:
                flavors[edit[1]] = flavors.pop(name)
            name = edit[1]
        elif edit[0] == "drop":
            flavors.pop(name if edit[1] == "<flavor>" else edit[1], None)
        else:
            _, section, key, value = edit
            conf = flavors.setdefault(name if section == "<flavor>" else section, {})
            if value is DELETE:
                conf.pop(key, None)
            else:
                conf[key] = value
    return data


@contextmanager
def tampered(package: Path, mlmodel: dict[str, Any]) -> Iterator[None]:
    """``package``'s MLmodel replaced by ``mlmodel`` for the duration, then restored."""
    file = package / "MLmodel"
    original = file.read_text(encoding="utf-8")
    file.write_text(yaml.safe_dump(mlmodel, sort_keys=False), encoding="utf-8")
    try:
        yield
    finally:
        file.write_text(original, encoding="utf-8")


def plant_model_code(package: Path) -> Path:
    """Add a models-from-code file that records when it runs, for edits to point at."""
    (package / "model_code.py").write_text(
        "from flavors import tampering\n\ntampering.record('model_code.py ran')\n",
        encoding="utf-8",
    )
    # Without a manifest, as MLflow's packages come: with one, every edit here would be refused
    # by the manifest check before the pickle policy is reached, and prove nothing about it.
    (package / "MANIFEST.json").unlink(missing_ok=True)
    return package


def assert_never_unpickles(
    package: Path, flavor: str, edits: list[tuple[Any, ...]], *loads: Callable[[Path], object]
) -> None:
    """Each of ``loads`` fails with a ModelpackError on the edited package, and nothing is
    unpickled or run."""
    mlmodel = yaml.safe_load((package / "MLmodel").read_text(encoding="utf-8"))
    with tampered(package, apply(mlmodel, flavor, edits)):
        for load in loads:
            reset()
            with pytest.raises(ModelpackError) as info:
                load(package)
            event(type(info.value).__name__)
            assert UNPICKLED == [], f"{load} unpickled or ran {UNPICKLED} after {edits}"
