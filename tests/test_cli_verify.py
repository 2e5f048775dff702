"""The command line of integrity: verify, verify --write, sign, keygen, info --verify, and the
refusals of predict and serve."""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from modelpack.cli import main
from modelpack.format import MANIFEST_FILE, SIGNATURE_FILE


def _run(*args: str, env: dict[str, str] | None = None):
    return CliRunner().invoke(main, list(args), env=env)


@pytest.fixture
def package(tmp_path: Path, sklearn_package: Path) -> Path:
    path = tmp_path / "wine"
    shutil.copytree(sklearn_package, path)
    return path


@pytest.fixture
def tampered(package: Path) -> Path:
    (package / "model.skops").write_bytes(b"tampered")
    (package / "conda.yaml").unlink()
    (package / "code").mkdir()
    (package / "code" / "sitecustomize.py").write_text("import os\n")
    return package


@pytest.fixture(scope="module")
def keys(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path | str]:
    pytest.importorskip("cryptography", reason="signatures need modelpack[sign]")
    root = tmp_path_factory.mktemp("keys")
    result = CliRunner().invoke(main, ["keygen", "-o", str(root)])
    assert result.exit_code == 0, result.output
    return {
        "private": root / "private_key.pem",
        "public": root / "public_key.pem",
        "fingerprint": result.output.splitlines()[-1].removeprefix("Fingerprint: "),
    }


def test_verify_intact_package(package: Path) -> None:
    result = _run("verify", "-m", str(package))

    assert (result.exit_code, result.output) == (
        0,
        f"signature: none\nOK: {package} matches its manifest (7 files)\n",
    )


def test_verify_names_every_changed_missing_and_added_file(tampered: Path) -> None:
    size = json.loads((tampered / MANIFEST_FILE).read_text())["files"]["model.skops"]["size"]

    result = _run("verify", "-m", str(tampered))

    assert (result.exit_code, result.output.splitlines()) == (
        1,
        [
            f"changed  model.skops (size {size} -> 8)",
            "missing  conda.yaml",
            "added    code/sitecustomize.py",
            "signature: none",
            f"FAILED: {tampered} does not match its manifest (1 changed, 1 missing, 1 added)",
        ],
    )


def test_verify_without_manifest_exits_1_and_says_how_to_add_one(package: Path) -> None:
    (package / MANIFEST_FILE).unlink()

    result = _run("verify", "-m", str(package))

    assert (result.exit_code, result.output) == (
        1,
        f"FAILED: {package} has no manifest (MANIFEST.json), so its files cannot be checked; "
        f"add one with: modelpack verify --write -m {package}\n",
    )


def test_verify_of_a_missing_package_is_a_usage_error(tmp_path: Path) -> None:
    result = _run("verify", "-m", str(tmp_path / "nothing"))

    assert result.exit_code == 2
    assert result.output.startswith("Error: model URI")


def test_verify_write_seals_an_mlflow_package(tmp_path: Path, mlflow_sklearn_package: Path) -> None:
    path = tmp_path / "mlflow"
    shutil.copytree(mlflow_sklearn_package, path)
    files = sorted(
        p.relative_to(path).as_posix()
        for p in path.rglob("*")
        if p.is_file() and "__pycache__" not in p.parts
    )

    info_before = _run("info", "-m", str(path))
    written = _run("verify", "--write", "-m", str(path))
    checked = _run("verify", "-m", str(path))

    assert (
        "Manifest: none: files are not checked (modelpack verify --write -m DIR adds one)"
        in info_before.output.splitlines()
    )
    assert written.exit_code == 0, written.output
    assert written.output.splitlines()[0].startswith(f"Wrote {path / MANIFEST_FILE} (")
    assert sorted(json.loads((path / MANIFEST_FILE).read_text())["files"]) == files
    assert (checked.exit_code, checked.output.splitlines()[-1]) == (
        0,
        f"OK: {path} matches its manifest ({len(files)} files)",
    )


def test_verify_write_needs_a_local_package_directory(tmp_path: Path) -> None:
    result = _run("verify", "--write", "-m", str(tmp_path))

    assert (result.exit_code, result.output) == (
        2,
        f"Error: --write needs a local package directory (one holding MLmodel); "
        f"{tmp_path} is not one\n",
    )


def test_verify_write_of_an_unchanged_package_changes_nothing(package: Path) -> None:
    before = (package / MANIFEST_FILE).read_bytes()

    result = _run("verify", "--write", "-m", str(package))

    assert result.output.startswith(f"{package / MANIFEST_FILE} is up to date (7 files, ")
    assert (package / MANIFEST_FILE).read_bytes() == before


def test_keygen_writes_a_private_key_only_its_owner_reads(keys) -> None:
    assert stat.S_IMODE(keys["private"].stat().st_mode) == 0o600
    assert keys["public"].read_text().startswith("-----BEGIN PUBLIC KEY-----")
    assert len(keys["fingerprint"]) == 64


def test_keygen_needs_somewhere_to_write() -> None:
    result = _run("keygen")

    assert (result.exit_code, result.output) == (
        2,
        "Error: give -o DIR, or both --private-key PATH and --public-key PATH\n",
    )


def test_sign_then_verify_with_the_trusted_key(package: Path, keys) -> None:
    signed = _run("sign", "-m", str(package), "--key", str(keys["private"]))
    trusted = _run("verify", "-m", str(package), "--trusted-key", str(keys["public"]))

    assert (signed.exit_code, signed.output.splitlines()) == (
        0,
        [
            f"Signed {package / MANIFEST_FILE} with key {keys['fingerprint']}",
            f"Wrote {package / SIGNATURE_FILE}",
        ],
    )
    assert (trusted.exit_code, trusted.output.splitlines()) == (
        0,
        [
            f"signature: signed by {keys['fingerprint']} (valid, trusted)",
            f"OK: {package} matches its manifest (7 files)",
        ],
    )


def test_verify_with_trusted_keys_fails_an_unsigned_package(package: Path, keys) -> None:
    result = _run("verify", "-m", str(package), env={"MODELPACK_TRUSTED_KEYS": str(keys["public"])})

    assert (result.exit_code, result.output.splitlines()[-1]) == (
        1,
        "FAILED: the package is not signed, and trusted keys are set",
    )


def test_resigning_says_it_replaced_the_signature(package: Path, keys) -> None:
    _run("sign", "-m", str(package), "--key", str(keys["private"]))

    again = _run("sign", "-m", str(package), "--key", str(keys["private"]))

    assert again.output.splitlines()[-1] == "Replaced the previous signature (by the same key)"


def test_sign_refuses_a_package_that_does_not_match_its_manifest(tampered: Path, keys) -> None:
    result = _run("sign", "-m", str(tampered), "--key", str(keys["private"]))

    assert result.exit_code == 2
    assert result.output.startswith(
        f"Error: {tampered} does not match its manifest (MANIFEST.json): changed: model.skops; "
        "missing: conda.yaml; added: code/sitecustomize.py; not signed"
    )
    assert not (tampered / SIGNATURE_FILE).exists()


def test_verify_write_after_signing_removes_the_signature_and_says_so(package: Path, keys) -> None:
    _run("sign", "-m", str(package), "--key", str(keys["private"]))
    (package / "notes.txt").write_text("mine")

    result = _run("verify", "--write", "-m", str(package))

    assert result.exit_code == 0, result.output
    assert result.output.splitlines()[1:] == [
        "  added    notes.txt",
        f"Removed {package / SIGNATURE_FILE}: it signed the previous manifest; sign again with: "
        f"modelpack sign -m {package} --key KEY.pem",
    ]
    assert not (package / SIGNATURE_FILE).exists()


def test_info_reports_manifest_and_signature(package: Path, keys) -> None:
    _run("sign", "-m", str(package), "--key", str(keys["private"]))

    plain = _run("info", "-m", str(package)).output.splitlines()
    checked = _run("info", "-m", str(package), "--verify").output.splitlines()
    as_json = json.loads(_run("info", "-m", str(package), "--json").output)

    manifest_line = next(line for line in plain if line.startswith("Manifest:"))
    assert manifest_line.startswith("Manifest: 7 files, ")
    assert manifest_line.endswith(" (not checked here; modelpack info --verify checks them)")
    assert f"Signed:   by {keys['fingerprint']} (valid)" in plain
    assert next(line for line in checked if line.startswith("Manifest:")).startswith(
        "Manifest: ok, 7 files, "
    )
    assert as_json["integrity"]["signature"] == {
        "fingerprint": keys["fingerprint"],
        "valid": True,
        "trusted": None,
        "state": "valid",
    }


def test_info_verify_refuses_a_tampered_package(tampered: Path) -> None:
    result = _run("info", "-m", str(tampered), "--verify")

    assert (result.exit_code, result.output) == (
        2,
        f"Error: {tampered} does not match its manifest (MANIFEST.json): changed: model.skops; "
        f"missing: conda.yaml; added: code/sitecustomize.py; "
        f"modelpack verify -m {tampered} lists every difference\n",
    )


def test_predict_refuses_a_tampered_package(tampered: Path) -> None:
    result = _run(
        "predict", "-m", str(tampered), "-i", str(tampered / "serving_input_example.json")
    )

    assert (result.exit_code, result.output) == (
        2,
        f"Error: {tampered} does not match its manifest (MANIFEST.json): changed: model.skops; "
        f"missing: conda.yaml; added: code/sitecustomize.py; "
        f"modelpack verify -m {tampered} lists every difference\n",
    )


def _modelpack(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "modelpack", *args],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        env={**os.environ, **(env or {})},
    )


def test_verify_as_a_process_exits_0_then_1(package: Path) -> None:
    intact = _modelpack("verify", "-m", str(package))
    example = package / "input_example.json"
    example.write_bytes(example.read_bytes().replace(b"[", b" ", 1))  # same size
    broken = _modelpack("verify", "-m", str(package))

    assert (intact.returncode, intact.stdout.splitlines()[-1]) == (
        0,
        f"OK: {package} matches its manifest (7 files)",
    )
    assert (broken.returncode, broken.stdout.splitlines()[0]) == (
        1,
        "changed  input_example.json (sha256 differs)",
    )


def test_serve_refuses_a_tampered_package_with_one_line(tampered: Path) -> None:
    process = _modelpack("serve", "-m", str(tampered), "-p", "0")

    assert (process.returncode, process.stderr) == (
        2,
        f"Error: {tampered} does not match its manifest (MANIFEST.json): changed: model.skops; "
        f"missing: conda.yaml; added: code/sitecustomize.py; "
        f"modelpack verify -m {tampered} lists every difference\n",
    )


def test_serve_refuses_an_untrusted_package(package: Path, keys) -> None:
    process = _modelpack(
        "serve", "-m", str(package), "-p", "0", env={"MODELPACK_TRUSTED_KEYS": str(keys["public"])}
    )

    assert (process.returncode, process.stderr) == (
        2,
        f"Error: {package} is not signed (no MANIFEST.sig), and MODELPACK_TRUSTED_KEYS requires "
        f"a signature by one of: {keys['fingerprint']}\n",
    )
