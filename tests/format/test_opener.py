"""The opener: the one place where package bytes become objects by running code."""

from __future__ import annotations

import ast
import pickle
import sys
import zipfile
from pathlib import Path

import pytest

import modelpack
from modelpack.errors import InvalidModel, MissingDependency, PickleRefused
from modelpack.format import opener
from modelpack.settings import Settings

STRICT = Settings(allow_pickle=False)
LENIENT = Settings(allow_pickle=True)
REFUSED = (
    "is stored with pickle, and MODELPACK_ALLOW_PICKLE is false; load it only if you trust its "
    "source (set MODELPACK_ALLOW_PICKLE=true), or re-save the model in a pickle-free format"
)

UNPICKLED: list[str] = []


class Tripwire:
    """Records each time it is unpickled."""

    def __init__(self, tag: str) -> None:
        self.tag = tag

    def __setstate__(self, state: dict) -> None:
        UNPICKLED.append(state["tag"])
        self.__dict__.update(state)


@pytest.fixture
def pickled(tmp_path: Path) -> Path:
    UNPICKLED.clear()
    file = tmp_path / "model.pkl"
    file.write_bytes(pickle.dumps(Tripwire("opener")))
    return file


# ---------------------------------------------------------------------------------------------
# pickle


def test_load_pickle_refuses_before_reading(pickled: Path) -> None:
    with pytest.raises(PickleRefused) as info:
        opener.load_pickle(pickled, STRICT)
    assert str(info.value) == f"{pickled} {REFUSED}"
    assert UNPICKLED == []


def test_load_pickle_loads_when_allowed(pickled: Path) -> None:
    obj = opener.load_pickle(pickled, LENIENT)
    assert isinstance(obj, Tripwire)
    assert UNPICKLED == ["opener"]


def test_load_pickle_of_something_else_is_an_invalid_model(tmp_path: Path) -> None:
    (tmp_path / "m.pkl").write_bytes(b"PK\x03\x04 not a pickle")
    with pytest.raises(InvalidModel) as info:
        opener.load_pickle(tmp_path / "m.pkl", LENIENT)
    assert str(info.value).startswith(f"{tmp_path / 'm.pkl'} is not a readable pickle: ")


def test_load_pickle_names_the_module_it_lacks(tmp_path: Path) -> None:
    # Protocol 0: GLOBAL 'no_such_module_for_modelpack Thing', then STOP.
    (tmp_path / "m.pkl").write_bytes(b"cno_such_module_for_modelpack\nThing\n.")
    with pytest.raises(MissingDependency) as info:
        opener.load_pickle(tmp_path / "m.pkl", LENIENT)
    assert str(info.value) == (
        f"{tmp_path / 'm.pkl'} refers to the module 'no_such_module_for_modelpack', which cannot "
        "be imported here; install the packages in the model's requirements.txt"
    )


# ---------------------------------------------------------------------------------------------
# modules and code the package names


def _plant_module(directory: Path, name: str) -> Path:
    """A module that leaves a flag file behind when it is imported."""
    flag = directory / f"{name}.ran"
    (directory / f"{name}.py").write_text(
        "from pathlib import Path\n"
        f"Path({str(flag)!r}).write_text('ran')\n"
        "def _load_pyfunc(path, model_config=None):\n"
        "    return ('loaded', path, model_config)\n"
    )
    return flag


def test_import_module_refuses_untrusted_modules_before_importing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    flag = _plant_module(tmp_path, "planted_for_opener_a")
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(PickleRefused) as info:
        opener.import_module("planted_for_opener_a", STRICT, trusted={"xgboost"})
    assert str(info.value) == (
        "the module 'planted_for_opener_a' named by the package is not part of ['xgboost'], so "
        "importing it may run the package's code, and MODELPACK_ALLOW_PICKLE is false; load it "
        "only if you trust its source (set MODELPACK_ALLOW_PICKLE=true)"
    )
    assert not flag.exists()
    assert (
        opener.import_module("json.decoder", STRICT, trusted={"json"})
        is sys.modules["json.decoder"]
    )
    opener.import_module("planted_for_opener_a", LENIENT, trusted={"xgboost"})
    assert flag.read_text() == "ran"


def test_code_dir_is_refused_and_not_put_on_sys_path(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sys, "path", list(sys.path))
    code = tmp_path / "code"
    with pytest.raises(PickleRefused) as info:
        opener.add_code_path(code, STRICT)
    assert str(info.value) == (
        f"{code} holds Python code that loading would import, and MODELPACK_ALLOW_PICKLE is "
        "false; load it only if you trust its source (set MODELPACK_ALLOW_PICKLE=true)"
    )
    assert str(code) not in sys.path
    opener.add_code_path(code, LENIENT)
    opener.add_code_path(code, LENIENT)
    assert sys.path.count(str(code)) == 1
    assert sys.path[0] == str(code)


@pytest.mark.mlflow
def test_mlflow_loaders_are_refused_before_they_are_imported(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    flag = _plant_module(tmp_path, "planted_for_opener_b")
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(PickleRefused) as info:
        opener.load_with_mlflow("planted_for_opener_b", tmp_path, STRICT, {"k": 1})
    assert str(info.value) == (
        f"{tmp_path} holds a model that MLflow's loader 'planted_for_opener_b' loads by "
        "unpickling it or by importing its code, and MODELPACK_ALLOW_PICKLE is false; load it "
        "only if you trust its source (set MODELPACK_ALLOW_PICKLE=true)"
    )
    assert not flag.exists()
    assert "planted_for_opener_b" not in sys.modules
    loaded = opener.load_with_mlflow("planted_for_opener_b", tmp_path, LENIENT, {"k": 1})
    assert loaded == ("loaded", str(tmp_path), {"k": 1})
    monkeypatch.delitem(sys.modules, "planted_for_opener_b")


# ---------------------------------------------------------------------------------------------
# skops


@pytest.fixture(scope="module")
def skops_with_a_custom_type(tmp_path_factory: pytest.TempPathFactory) -> Path:
    sio = pytest.importorskip("skops.io")
    from sklearn.preprocessing import FunctionTransformer

    file = tmp_path_factory.mktemp("skops") / "model.skops"
    sio.dump(FunctionTransformer(abs), file)
    return file


def test_skops_trusts_the_packages_types_only_with_pickle_on(
    skops_with_a_custom_type: Path,
) -> None:
    file = skops_with_a_custom_type
    loaded = opener.skops_load(file, LENIENT, ["builtins.abs"])
    assert loaded.func is abs
    with pytest.raises(InvalidModel) as info:
        opener.skops_load(file, LENIENT, [])
    assert str(info.value) == (
        f"{file} holds types that are not trusted: ['builtins.abs']; list them in the sklearn "
        "flavor's skops_trusted_types if you trust this package"
    )
    with pytest.raises(PickleRefused) as refused:
        opener.skops_load(file, STRICT, ["builtins.abs"])
    assert str(refused.value).startswith(
        f"{file} holds types outside skops' built-in safe list: ['builtins.abs']"
    )


def test_skops_of_something_else_is_an_invalid_model(pickled: Path) -> None:
    pytest.importorskip("skops.io")
    for settings in (STRICT, LENIENT):
        with pytest.raises(InvalidModel) as info:
            opener.skops_load(pickled, settings, [])
        assert str(info.value).startswith(f"{pickled} is not a readable skops file: ")
    assert UNPICKLED == []


# ---------------------------------------------------------------------------------------------
# PyTorch


@pytest.fixture(scope="module")
def torch_files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    torch = pytest.importorskip("torch")
    root = tmp_path_factory.mktemp("torch")
    net = torch.nn.Linear(3, 1)
    torch.save(net, root / "pickled.pth")
    program = torch.export.export(net, (torch.zeros(2, 3),))
    torch.export.save(program, str(root / "m.pt2"))
    (root / "bad.pt2").write_bytes(b"not a zip")
    return {p.name: p for p in root.iterdir()}


@pytest.mark.torch
def test_torch_loaders_refuse_pickles(torch_files: dict[str, Path]) -> None:
    pth = torch_files["pickled.pth"]
    for load in (opener.torch_load, opener.torch_jit_load, opener.torch_export_load):
        with pytest.raises(PickleRefused) as info:
            load(pth, STRICT)
        assert str(info.value) == f"{pth} {REFUSED}"
    assert type(opener.torch_load(pth, LENIENT)).__name__ == "Linear"


@pytest.mark.torch
def test_a_pickle_free_export_loads_with_pickle_off(torch_files: dict[str, Path]) -> None:
    assert opener.pt2_is_pickle_free(torch_files["m.pt2"])
    assert not opener.pt2_is_pickle_free(torch_files["bad.pt2"])
    program = opener.torch_export_load(torch_files["m.pt2"], STRICT)
    assert [n.op for n in program.graph.nodes].count("placeholder") == 3  # weight, bias, input


@pytest.mark.torch
def test_torch_load_names_a_pickle_module_it_cannot_import(torch_files: dict[str, Path]) -> None:
    pth = torch_files["pickled.pth"]
    with pytest.raises(InvalidModel) as info:
        opener.torch_load(pth, LENIENT, pickle_module="no_such_pickle_module_for_modelpack")
    assert str(info.value).startswith(
        f"{pth} was saved with the pickle module 'no_such_pickle_module_for_modelpack', "
        "which cannot be imported: "
    )


# ---------------------------------------------------------------------------------------------
# what a package holds


def test_pickled_files_are_found_by_content(tmp_path: Path, pickled: Path) -> None:
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "innocent.txt").write_bytes(pickle.dumps([1, 2]))  # a name proves nothing
    (tmp_path / "notes.pkl").write_text("just text")
    with zipfile.ZipFile(tmp_path / "archive.pth", "w") as archive:
        archive.writestr("archive/data.pkl", pickle.dumps(1))
    with zipfile.ZipFile(tmp_path / "plain.zip", "w") as archive:
        archive.writestr("schema.json", "{}")
    assert opener.pickled_files(tmp_path) == ["archive.pth", "model.pkl", "sub/innocent.txt"]


# ---------------------------------------------------------------------------------------------
# nothing else in modelpack turns bytes into objects by running code

# Receivers whose load/loads/Unpickler run pickle (or code) on what they read.
_UNSAFE_RECEIVERS = {"pickle", "_pickle", "cloudpickle", "dill", "joblib", "torch", "skops.io"}
_UNSAFE_TAILS = {"pickle", "cloudpickle", "jit", "export", "sio"}
_UNSAFE_ATTRS = {"load", "loads", "Unpickler"}
_UNSAFE_MODULES = {"pickle", "_pickle", "cloudpickle", "dill", "joblib", "skops.io", "torch"}


def _dotted(node: ast.expr) -> str | None:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        base = _dotted(node.value)
        return f"{base}.{node.attr}" if base else None
    return None


def _unsafe_loads(source: str) -> list[str]:
    """``line: text`` of each reference to an unsafe loader in ``source``."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Attribute):
            receiver = _dotted(node.value)
            if node.attr == "read_pickle" or (
                node.attr in _UNSAFE_ATTRS
                and receiver is not None
                and (receiver in _UNSAFE_RECEIVERS or receiver.rsplit(".", 1)[-1] in _UNSAFE_TAILS)
            ):
                found.append(f"{node.lineno}: {receiver}.{node.attr}")
        elif isinstance(node, ast.ImportFrom) and node.module in _UNSAFE_MODULES:
            found += [
                f"{node.lineno}: from {node.module} import {a.name}"
                for a in node.names
                if a.name in _UNSAFE_ATTRS or a.name in ("jit", "export")
            ]
    return sorted(found, key=lambda hit: int(hit.split(":")[0]))


def test_the_walk_finds_every_unsafe_loader() -> None:
    source = "\n".join(
        [
            "pickle.load(fh)",
            "pickle.loads(b)",
            "cloudpickle.load(fh)",
            "cloudpickle.loads(b)",
            "torch.load(f, weights_only=False)",
            "torch.jit.load(f)",
            "torch.export.load(f)",
            "skops.io.load(f)",
            "sio.load(f, trusted=None)",
            "module.load = pickle.load",
            "u = pickle.Unpickler(fh)",
            "pd.read_pickle(f)",
            "from pickle import loads",
            "from torch import jit",
            "Model.load(path)",  # the lines below are safe
            "json.loads(text)",
            "yaml.load(text, Loader=_Loader)",
            "ep.load()",
        ]
    )
    assert [f.split(": ")[0] for f in _unsafe_loads(source)] == [str(n) for n in range(1, 15)]


def test_only_the_opener_loads_unsafely() -> None:
    root = Path(modelpack.__file__).parent
    allowed = root / "format" / "opener.py"
    found = {
        str(file.relative_to(root)): hits
        for file in sorted(root.rglob("*.py"))
        if file != allowed and (hits := _unsafe_loads(file.read_text(encoding="utf-8")))
    }
    assert found == {}
    assert _unsafe_loads(allowed.read_text(encoding="utf-8"))  # the walk sees the opener's own
