"""The wheelhouse: every package an image installs, as wheels for the image's Python and platform.

pip downloads them on the host (``pip download --only-binary=:all: --python-version X.Y
--platform ...``), so ``docker build`` needs no network and no compiler. modelpack itself is
packed from its installed files (an editable checkout included), so the image runs the very
modelpack that built it, whether or not that version was ever published.
"""

from __future__ import annotations

import base64
import hashlib
import importlib.metadata as md
import platform
import re
import sys
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from modelpack.docker._process import Output, stream
from modelpack.errors import ImageBuildFailed

__all__ = [
    "GLIBC",
    "Wheel",
    "build_wheelhouse",
    "download_uv",
    "list_wheels",
    "pack_modelpack",
    "platform_tags",
]

GLIBC = (2, 36)
"""glibc of Debian bookworm, the oldest Debian that ``python:3.X-slim`` images are built on."""

# Machine names as Python and Docker spell them -> the architecture in wheel platform tags.
_ARCH = {"amd64": "x86_64", "x86_64": "x86_64", "arm64": "aarch64", "aarch64": "aarch64"}
# Wheels tagged before PEP 600 carry only these aliases (manylinux2014 == manylinux_2_17).
_LEGACY = {
    "x86_64": ["manylinux2014_x86_64", "manylinux2010_x86_64", "manylinux1_x86_64"],
    "aarch64": ["manylinux2014_aarch64"],
}
_EPOCH = (1980, 1, 1, 0, 0, 0)  # fixed timestamps: the same files give the same wheel bytes


@dataclass(frozen=True, order=True)
class Wheel:
    """One wheel file of the wheelhouse."""

    name: str
    """Normalized distribution name (``scikit-learn``)."""
    version: str
    filename: str

    def __str__(self) -> str:
        return f"{self.name}=={self.version}"


def platform_tags(machine: str | None = None, glibc: tuple[int, int] = GLIBC) -> list[str]:
    """Every manylinux tag a glibc-``glibc`` Linux on ``machine`` accepts, newest first.

    pip does not widen a ``--platform`` it is given, so each accepted tag is listed.
    """
    raw = (machine or platform.machine()).lower()
    arch = _ARCH.get(raw, raw)
    tags = [f"manylinux_{glibc[0]}_{minor}_{arch}" for minor in range(glibc[1], 16, -1)]
    return tags + _LEGACY.get(arch, [])


def pack_modelpack(dest: Path) -> Path:
    """Write a wheel of the running modelpack, built from its installed files, into ``dest``."""
    dist = _installed_distribution()
    package_dir = Path(__file__).resolve().parents[1]  # the modelpack package itself
    info = f"modelpack-{dist.version}.dist-info"
    path = dest / f"modelpack-{dist.version}-py3-none-any.whl"
    records: list[str] = []
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:

        def add(name: str, data: bytes) -> None:
            entry = zipfile.ZipInfo(name, date_time=_EPOCH)
            entry.external_attr = 0o644 << 16
            archive.writestr(entry, data, zipfile.ZIP_DEFLATED)
            digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=")
            records.append(f"{name},sha256={digest.decode()},{len(data)}")

        for file in sorted(package_dir.rglob("*")):
            if file.is_dir() or "__pycache__" in file.parts or file.suffix in (".pyc", ".pyo"):
                continue
            add(f"modelpack/{file.relative_to(package_dir).as_posix()}", file.read_bytes())
        add(f"{info}/METADATA", _metadata(dist).encode())
        entry_points = dist.read_text("entry_points.txt")
        if entry_points:
            add(f"{info}/entry_points.txt", entry_points.encode())
        add(
            f"{info}/WHEEL",
            b"Wheel-Version: 1.0\nGenerator: modelpack\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
        )
        record = "\n".join([*records, f"{info}/RECORD,,"]) + "\n"
        entry = zipfile.ZipInfo(f"{info}/RECORD", date_time=_EPOCH)
        entry.external_attr = 0o644 << 16
        archive.writestr(entry, record, zipfile.ZIP_DEFLATED)
    return path


def _installed_distribution() -> md.Distribution:
    # A stray modelpack.egg-info in the working directory can shadow the installed dist-info.
    found = list(md.distributions(name="modelpack"))
    for dist in found:
        if dist.read_text("METADATA"):
            return dist
    if found:
        return found[0]
    raise ImageBuildFailed("modelpack is not installed as a distribution; pip install it first")


def _metadata(dist: md.Distribution) -> str:
    text = dist.read_text("METADATA") or dist.read_text("PKG-INFO")
    if not text:
        raise ImageBuildFailed(f"the installed modelpack {dist.version} has no metadata file")
    return text


def build_wheelhouse(
    package: Path,
    dest: Path,
    python_version: str,
    output: Output,
    machine: str | None = None,
    extra: Sequence[str] = (),
) -> list[Wheel]:
    """Fill ``dest`` with modelpack, ``extra`` requirements (``grpcio>=1.60``) and the package's
    ``requirements.txt``, with dependencies.

    ``python_version`` is the image's ``major.minor``; wheels are chosen for CPython of that
    version on manylinux (glibc ``GLIBC``) for ``machine`` (default: this machine's).
    """
    dest.mkdir(parents=True, exist_ok=True)
    wanted = [str(pack_modelpack(dest)), *extra]
    requirements = package / "requirements.txt"
    if requirements.is_file():
        wanted += ["-r", str(requirements)]
    else:
        output(f"note: {package} has no requirements.txt; the image gets modelpack's own only")
    _download(dest, python_version, output, machine, wanted)
    return list_wheels(dest)


def download_uv(
    dest: Path, python_version: str, output: Output, machine: str | None = None
) -> Wheel:
    """Put the wheel of uv (the installer of ``--env-manager uv`` images) into ``dest``: the
    version of the uv distribution installed here when there is one, else the newest."""
    dest.mkdir(parents=True, exist_ok=True)
    try:
        wanted = f"uv=={md.version('uv')}"
    except md.PackageNotFoundError:
        wanted = "uv"
    _download(dest, python_version, output, machine, [wanted, "--no-deps"])
    return list_wheels(dest)[0]


def _download(
    dest: Path, python_version: str, output: Output, machine: str | None, wanted: list[str]
) -> None:
    abi = "cp" + python_version.replace(".", "")
    command = [sys.executable, "-m", "pip", "download", "--dest", str(dest)]
    command += ["--only-binary=:all:", "--implementation", "cp", "--abi", abi]
    command += ["--python-version", python_version, "--progress-bar", "off"]
    for tag in platform_tags(machine):
        command += ["--platform", tag]
    status, tail = stream([*command, *wanted], output)
    if status != 0:
        errors = [line for line in tail if line.startswith("ERROR:")] or tail[-1:]
        reason = errors[-1].removeprefix("ERROR:").strip() if errors else f"exit status {status}"
        raise ImageBuildFailed(
            f"pip could not download wheels for CPython {python_version} on "
            f"{platform_tags(machine)[0]}: {reason}"
        )


def list_wheels(directory: Path) -> list[Wheel]:
    """The wheels in ``directory``, sorted by name."""
    wheels = []
    for file in directory.glob("*.whl"):
        name, version = file.name.split("-")[:2]
        wheels.append(Wheel(_normalize(name), version, file.name))
    return sorted(wheels)


def _normalize(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()
