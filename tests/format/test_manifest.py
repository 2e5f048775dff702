"""The integrity manifest: written by save_model, checked by every load, MLflow unaffected."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import sys
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import modelpack
from modelpack.errors import IntegrityError, InvalidArgument
from modelpack.flavors import sklearn as sk_flavor
from modelpack.format import (
    MANIFEST_FILE,
    FileReport,
    build_manifest,
    check_files,
    read_manifest,
    verify_package,
    write_manifest,
)
from modelpack.settings import Settings

HELPER = "helpers_for_manifest_test"


class UsesHelper(modelpack.PythonModel):
    """Imports a module from the package's code/ when it loads (Python writes its .pyc then)."""

    def load_context(self, context: modelpack.PythonModelContext) -> None:
        import helpers_for_manifest_test  # type: ignore[import-not-found]

        self.factor = helpers_for_manifest_test.FACTOR * float(
            Path(context.artifacts["weights"]).read_text()
        )

    def predict(self, context, model_input, params=None):
        return model_input * self.factor


@pytest.fixture
def package(tmp_path: Path, sklearn_package: Path) -> Path:
    """A private copy of the session's sklearn package, free to tamper with."""
    path = tmp_path / "wine"
    shutil.copytree(sklearn_package, path)
    return path


@pytest.fixture(scope="module")
def code_package(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A python_model package with code/ and artifacts/."""
    src = tmp_path_factory.mktemp("src")
    (src / HELPER).mkdir()
    (src / HELPER / "__init__.py").write_text("FACTOR = 2.0\n")
    (src / "weights.txt").write_text("1.5")
    path = tmp_path_factory.mktemp("pm") / "helper"
    modelpack.save_model(
        UsesHelper(), path, code_paths=[src / HELPER], artifacts={"weights": src / "weights.txt"}
    )
    return path


@pytest.fixture
def code_copy(tmp_path: Path, code_package: Path) -> Path:
    path = tmp_path / "helper"
    shutil.copytree(code_package, path)
    return path


def _files(root: Path) -> dict[str, Path]:
    return {
        p.relative_to(root).as_posix(): p
        for p in root.rglob("*")
        if p.is_file() and p.name != MANIFEST_FILE
    }


def _refused(path: Path, summary: str) -> str:
    return (
        f"{path} does not match its manifest (MANIFEST.json): {summary}; "
        f"modelpack verify -m {path} lists every difference"
    )


def test_save_model_lists_every_file_with_its_size_and_sha256(code_package: Path) -> None:
    doc = json.loads((code_package / MANIFEST_FILE).read_text())
    expected = {
        name: {"sha256": hashlib.sha256(p.read_bytes()).hexdigest(), "size": p.stat().st_size}
        for name, p in _files(code_package).items()
    }

    assert doc == {"algorithm": "sha256", "files": expected, "version": 1}
    assert {"MLmodel", f"code/{HELPER}/__init__.py", "artifacts/weights.txt"} <= set(expected)


def test_manifest_file_is_canonical_json(sklearn_package: Path) -> None:
    text = (sklearn_package / MANIFEST_FILE).read_text()

    assert text == json.dumps(json.loads(text), sort_keys=True, indent=2) + "\n"


def test_intact_package_loads_and_predicts(package: Path, wine_frame: pd.DataFrame) -> None:
    model = modelpack.load_model(package)

    assert model.predict(wine_frame.head(2)).shape == (2,)


def test_changed_file_of_the_same_size_is_refused(package: Path) -> None:
    data = bytearray((package / "model.skops").read_bytes())
    data[-1] ^= 1
    (package / "model.skops").write_bytes(data)

    with pytest.raises(IntegrityError) as info:
        modelpack.load_model(package)

    assert str(info.value) == _refused(package, "changed: model.skops")


def test_changed_mlmodel_is_refused_before_it_is_read(package: Path) -> None:
    (package / "MLmodel").write_text("flavors: [")  # not even YAML: never parsed

    with pytest.raises(IntegrityError) as info:
        modelpack.load_model(package)

    assert str(info.value) == _refused(package, "changed: MLmodel")


def test_missing_file_is_refused(package: Path) -> None:
    (package / "requirements.txt").unlink()

    with pytest.raises(IntegrityError) as info:
        modelpack.load_model(package)

    assert str(info.value) == _refused(package, "missing: requirements.txt")


def test_added_files_in_code_and_artifacts_are_refused(code_copy: Path) -> None:
    (code_copy / "code" / "sitecustomize.py").write_text("print('hi')\n")
    (code_copy / "artifacts" / "extra.bin").write_bytes(b"\0")

    with pytest.raises(IntegrityError) as info:
        modelpack.load_model(code_copy)

    assert str(info.value) == _refused(
        code_copy, "added: artifacts/extra.bin, code/sitecustomize.py"
    )


def test_every_kind_of_difference_is_named_in_one_message(code_copy: Path) -> None:
    (code_copy / "artifacts" / "weights.txt").write_text("9.9")
    (code_copy / "python_env.yaml").unlink()
    (code_copy / "notes.txt").write_text("new")

    with pytest.raises(IntegrityError) as info:
        modelpack.load_model(code_copy)

    assert str(info.value) == _refused(
        code_copy, "changed: artifacts/weights.txt; missing: python_env.yaml; added: notes.txt"
    )


def test_many_added_files_are_cut_to_five_names(package: Path) -> None:
    for i in range(8):
        (package / f"extra{i}.txt").write_text(str(i))

    with pytest.raises(IntegrityError) as info:
        modelpack.load_model(package)

    assert str(info.value) == _refused(
        package, "added: extra0.txt, extra1.txt, extra2.txt, extra3.txt, extra4.txt and 3 more"
    )


def test_the_flavor_helpers_check_the_manifest_too(package: Path) -> None:
    (package / "model.skops").write_bytes(b"")

    with pytest.raises(IntegrityError, match=r"changed: model\.skops"):
        sk_flavor.load_model(package)


def test_bytecode_that_importing_the_code_writes_does_not_fail_the_next_load(
    code_copy: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sys, "dont_write_bytecode", False)  # Python's default
    sys.modules.pop(HELPER, None)
    first = modelpack.load_model(code_copy)
    written = list((code_copy / "code" / HELPER / "__pycache__").glob("*.pyc"))

    second = modelpack.load_model(code_copy)

    assert written  # Python did write bytecode into the package
    assert first.predict(np.array([1.0])) == second.predict(np.array([1.0])) == 3.0
    sys.modules.pop(HELPER, None)


def test_only_pyc_files_inside_pycache_are_ignored(code_copy: Path) -> None:
    (code_copy / "code" / "__pycache__").mkdir()
    (code_copy / "code" / "__pycache__" / "x.cpython-311.pyc").write_bytes(b"ignored")
    (code_copy / "code" / "__pycache__" / "evil.py").write_text("")
    (code_copy / "code" / "sourceless.pyc").write_bytes(b"importable without a .py")

    with pytest.raises(IntegrityError) as info:
        modelpack.load_model(code_copy)

    assert str(info.value) == _refused(
        code_copy, "added: code/__pycache__/evil.py, code/sourceless.pyc"
    )


def test_files_mlflow_and_the_signature_add_beside_the_manifest_are_not_added_files(
    package: Path,
) -> None:
    (package / "registered_model_meta").write_text("model_name: wine\nmodel_version: '1'\n")
    (package / "MANIFEST.sig").write_text("{}")

    assert check_files(package, read_manifest(package)[0]).ok  # type: ignore[index]


def test_package_without_manifest_loads_as_before(package: Path, wine_frame) -> None:
    (package / MANIFEST_FILE).unlink()

    assert verify_package(package, Settings()) is None
    assert modelpack.load_model(package).predict(wine_frame.head(1)).shape == (1,)


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        (b"{", "not JSON"),
        (b"[]", "expected a JSON object"),
        (b'{"version": 2, "algorithm": "sha256", "files": {}}', "version 2; this modelpack"),
        (b'{"version": 1, "algorithm": "md5", "files": {}}', "hash algorithm 'md5'"),
        (
            b'{"version": 1, "algorithm": "sha256", "files": {"../x": {"size": 1, "sha256": ""}}}',
            "file name '../x' is not a relative path inside the package",
        ),
        (
            b'{"version": 1, "algorithm": "sha256", "files": {"MLmodel": {"size": -1}}}',
            "MLmodel: 'size' is not a non-negative integer",
        ),
        (
            b'{"version": 1, "algorithm": "sha256", "files": {"a": {"size": 1, "sha256": "ab"}}}',
            "a: 'sha256' is not 64 lowercase hex digits",
        ),
    ],
)
def test_unreadable_manifest_is_refused(package: Path, content: bytes, reason: str) -> None:
    (package / MANIFEST_FILE).write_bytes(content)

    with pytest.raises(IntegrityError) as info:
        modelpack.load_model(package)

    message = f"{package / MANIFEST_FILE} is not a valid manifest: {reason}"
    assert str(info.value).startswith(message)


def test_a_listed_file_turned_into_a_fifo_is_changed_and_not_read(package: Path) -> None:
    (package / "conda.yaml").unlink()
    os.mkfifo(package / "conda.yaml")  # opening it to hash would block forever

    report = check_files(package, read_manifest(package)[0])  # type: ignore[index]

    assert report == FileReport(
        changed=("conda.yaml",), details={"conda.yaml": "now not a regular file"}
    )


def test_links_to_directories_are_not_listed(package: Path, tmp_path: Path) -> None:
    (tmp_path / "outside").mkdir()
    (package / "linked").symlink_to(tmp_path / "outside")

    with pytest.raises(InvalidArgument, match="is a symbolic link to a directory"):
        build_manifest(package)
    assert check_files(package, read_manifest(package)[0]).added == ("linked",)  # type: ignore[index]


def test_parallel_hashing_gives_the_same_manifest(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    for i in range(6):
        (tmp_path / f"part{i}.bin").write_bytes(rng.bytes(5_000_000 + i))

    assert build_manifest(tmp_path, workers=4) == build_manifest(tmp_path, workers=1)
    assert (
        build_manifest(tmp_path).files["part3.bin"].sha256
        == hashlib.sha256((tmp_path / "part3.bin").read_bytes()).hexdigest()
    )


def test_rewriting_an_unchanged_package_keeps_the_same_bytes(package: Path) -> None:
    before = (package / MANIFEST_FILE).read_bytes()

    _, data, changed = write_manifest(package)

    assert (data, changed) == (before, False)


_names = st.lists(
    st.from_regex(r"[a-z]{1,6}(/[a-z]{1,6}){0,2}\.txt", fullmatch=True), min_size=1, max_size=6
)


@settings(
    max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(names=_names, data=st.data())
def test_any_single_edit_is_reported_under_its_file(tmp_path: Path, names, data) -> None:
    with tempfile.TemporaryDirectory(dir=tmp_path) as tmp:
        _check_one_edit(Path(tmp), names, data)


def _check_one_edit(root: Path, names: list[str], data: st.DataObject) -> None:
    kept = []
    for name in names:
        file = root / name
        if any(parent.is_file() for parent in file.parents) or file.is_dir():
            continue
        file.parent.mkdir(parents=True, exist_ok=True)
        file.write_bytes(data.draw(st.binary(max_size=64)))
        kept.append(name)
    manifest = write_manifest(root)[0]
    target = data.draw(st.sampled_from(sorted(set(kept))))
    edit = data.draw(st.sampled_from(["change", "delete", "add"]))

    if edit == "change":
        old = (root / target).read_bytes()
        (root / target).write_bytes(old + b"!" if data.draw(st.booleans()) else bytes(len(old)))
        expected = FileReport(changed=(target,)) if (root / target).read_bytes() != old else None
    elif edit == "delete":
        (root / target).unlink()
        expected = FileReport(missing=(target,))
    else:
        (root / (target + ".new")).write_bytes(b"")
        expected = FileReport(added=(target + ".new",))
    report = check_files(root, manifest)

    if expected is None:  # zeroing a file of zeros changes nothing
        assert report.ok
    else:
        assert (report.changed, report.missing, report.added) == (
            expected.changed,
            expected.missing,
            expected.added,
        )


@pytest.mark.mlflow
def test_mlflow_loads_a_package_that_carries_a_manifest(
    sklearn_package: Path, wine_frame: pd.DataFrame
) -> None:
    mlflow_pyfunc = pytest.importorskip("mlflow.pyfunc")
    assert (sklearn_package / MANIFEST_FILE).is_file()

    loaded = mlflow_pyfunc.load_model(str(sklearn_package))

    np.testing.assert_array_equal(
        loaded.predict(wine_frame), modelpack.load_model(sklearn_package).predict(wine_frame)
    )


@pytest.mark.mlflow
def test_mlflow_loads_a_python_model_package_through_the_manifest_check(
    code_copy: Path,
) -> None:
    mlflow_pyfunc = pytest.importorskip("mlflow.pyfunc")
    sys.modules.pop(HELPER, None)
    assert mlflow_pyfunc.load_model(str(code_copy)).predict(np.array([2.0])) == 6.0
    (code_copy / "artifacts" / "weights.txt").write_text("100")

    # MLflow calls modelpack's loader for this flavor, and that checks the manifest.
    with pytest.raises(IntegrityError, match=r"changed: artifacts/weights\.txt"):
        mlflow_pyfunc.load_model(str(code_copy))
    sys.modules.pop(HELPER, None)


@pytest.mark.mlflow
def test_mlflow_package_without_manifest_loads_and_can_be_sealed(
    tmp_path: Path, mlflow_sklearn_package: Path, wine_frame: pd.DataFrame
) -> None:
    mlflow_pyfunc = pytest.importorskip("mlflow.pyfunc")
    path = tmp_path / "mlflow"
    shutil.copytree(mlflow_sklearn_package, path)
    expected = modelpack.load_model(path).predict(wine_frame)

    write_manifest(path)
    (path / "model.skops").write_bytes(b"tampered")

    with pytest.raises(IntegrityError, match=r"changed: model\.skops"):
        modelpack.load_model(path)
    shutil.copy2(mlflow_sklearn_package / "model.skops", path / "model.skops")
    np.testing.assert_array_equal(modelpack.load_model(path).predict(wine_frame), expected)
    np.testing.assert_array_equal(mlflow_pyfunc.load_model(str(path)).predict(wine_frame), expected)
