"""Wheel selection tags and the wheel of the running modelpack."""

from __future__ import annotations

import base64
import hashlib
import subprocess
import sys
import sysconfig
import zipfile
from importlib.metadata import entry_points
from pathlib import Path

import pytest

import modelpack
from modelpack.docker.wheels import cpu_requirements, pack_modelpack, platform_tags

GPU_NOTE = "the same library without its GPU build and CUDA libraries (--gpu keeps it)"


def test_platform_tags_cover_every_glibc_from_bookworm_down_to_manylinux2014() -> None:
    tags = platform_tags("x86_64")

    assert (tags[0], tags[19], len(tags)) == ("manylinux_2_36_x86_64", "manylinux_2_17_x86_64", 23)
    assert tags[20:] == ["manylinux2014_x86_64", "manylinux2010_x86_64", "manylinux1_x86_64"]


def test_platform_tags_accept_dockers_name_for_arm() -> None:
    tags = platform_tags("arm64")

    assert (tags[0], tags[-1]) == ("manylinux_2_36_aarch64", "manylinux2014_aarch64")


@pytest.mark.parametrize(
    ("line", "installed"),
    [
        ("xgboost==3.2.0", "xgboost-cpu==3.2.0"),
        (
            "XGBoost[pandas] >= 2.0 ; sys_platform == 'linux'",
            "xgboost-cpu[pandas] >= 2.0 ; sys_platform == 'linux'",
        ),
        ("xgboost_cpu==3.2.0", "xgboost_cpu==3.2.0"),
        ("xgboost-ray==0.1", "xgboost-ray==0.1"),
        ("scikit-learn==1.9.1", "scikit-learn==1.9.1"),
        ("-r more.txt", "-r more.txt"),
    ],
)
def test_cpu_requirements_install_xgboost_as_its_cpu_build(line: str, installed: str) -> None:
    text, notes = cpu_requirements(f"numpy==2.4.6\n{line}\n")

    assert text == f"numpy==2.4.6\n{installed}\n"
    note = f"{' '.join(line.split())} installed as xgboost-cpu: {GPU_NOTE}"
    assert notes == ([note] if installed != line else [])


@pytest.mark.parametrize(
    ("line", "why"),
    [
        ("xgboost==1.7.6", "xgboost-cpu starts at 2.1"),
        ("xgboost<2.1", "xgboost-cpu starts at 2.1"),
        ("xgboost>=1.5,<=2.0.3", "xgboost-cpu starts at 2.1"),
        ("xgboost @ https://example.com/xgboost-3.2.0-py3-none-any.whl", None),
        ("xgboost==3.2.0 --hash=sha256:00ff", None),
    ],
)
def test_cpu_requirements_keep_pins_older_than_the_cpu_build_and_direct_references(
    line: str, why: str | None
) -> None:
    text, notes = cpu_requirements(line + "\n")

    assert text == line + "\n"
    reason = why or "xgboost-cpu cannot stand for a direct reference or a hash"
    assert notes == [f"{line} kept: {reason}"]


def _record_mismatches(archive: zipfile.ZipFile, record: list[str]) -> list[str]:
    bad = []
    for line in record:
        name, digest, _ = line.split(",")
        if name.endswith("/RECORD"):
            continue
        actual = hashlib.sha256(archive.read(name)).digest()
        if digest != "sha256=" + base64.urlsafe_b64encode(actual).rstrip(b"=").decode():
            bad.append(name)
    return bad


def test_modelpack_wheel_holds_every_source_file_with_a_valid_record(tmp_path: Path) -> None:
    source = Path(modelpack.__file__).parent
    info = f"modelpack-{modelpack.__version__}.dist-info"
    expected = {
        f"modelpack/{p.relative_to(source).as_posix()}"
        for p in source.rglob("*")
        if p.is_file() and "__pycache__" not in p.parts and p.suffix != ".pyc"
    } | {f"{info}/{n}" for n in ("METADATA", "entry_points.txt", "WHEEL", "RECORD")}

    wheel = pack_modelpack(tmp_path)

    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
        record = archive.read(f"{info}/RECORD").decode().splitlines()
        mismatches = _record_mismatches(archive, record)
    assert wheel.name == f"modelpack-{modelpack.__version__}-py3-none-any.whl"
    assert names == expected
    assert (sorted(line.split(",")[0] for line in record), mismatches) == (sorted(names), [])


def test_modelpack_wheel_is_reproducible(tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()

    first, second = pack_modelpack(tmp_path / "a"), pack_modelpack(tmp_path / "b")

    assert first.read_bytes() == second.read_bytes()


def test_modelpack_wheel_installs_and_brings_the_flavor_entry_points(tmp_path: Path) -> None:
    wheel = pack_modelpack(tmp_path)
    target = tmp_path / "site"
    install = [sys.executable, "-m", "pip", "install", "--quiet", "--no-index", "--no-deps"]
    subprocess.run([*install, "--target", str(target), str(wheel)], check=True)
    probe = (
        "import importlib.metadata as m, modelpack; print(modelpack.__file__); "
        "print(sorted(e.name for e in m.distribution('modelpack').entry_points "
        "if e.group == 'modelpack.flavors'))"
    )

    # -S: no .pth files, so the editable install of this checkout cannot answer the import.
    result = subprocess.run(
        [sys.executable, "-S", "-c", probe],
        env={"PYTHONPATH": f"{target}:{sysconfig.get_paths()['purelib']}"},
        capture_output=True,
        text=True,
        check=True,
        cwd=tmp_path,  # not the checkout: `python -c` puts the working directory on sys.path
    )

    flavors = sorted(e.name for e in entry_points(group="modelpack.flavors"))
    assert result.stdout.splitlines() == [str(target / "modelpack" / "__init__.py"), str(flavors)]
