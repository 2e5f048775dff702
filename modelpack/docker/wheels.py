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
import tempfile
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from modelpack.docker._process import Output, stream
from modelpack.errors import ImageBuildFailed
from modelpack.format.environment import CPU_BUILDS

__all__ = [
    "GLIBC",
    "Wheel",
    "build_wheelhouse",
    "cpu_requirements",
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

_REQUIREMENT = re.compile(
    r"^(?P<name>[A-Za-z0-9][A-Za-z0-9._-]*)(?P<rest>\s*(?:\[[^\]]*\])?\s*(?P<spec>[^;@]*).*)$"
)
_INCLUDE = re.compile(r"^(-r|--requirement|-c|--constraint)(?:\s*=\s*|\s+)(?P<path>\S+)$")
_UPPER = re.compile(r"(==|<=|<|~=|===)\s*v?(\d+(?:\.\d+)*)")


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


def cpu_requirements(text: str) -> tuple[str, list[str]]:
    """``text`` (a requirements file) with each distribution of ``CPU_BUILDS`` replaced by its
    CPU-only build, same extras, specifiers and marker; and a line for each replacement made or
    not made (a pin older than the CPU build, a direct URL)."""
    lines: list[str] = []
    notes: list[str] = []
    for raw in text.splitlines():
        found = _REQUIREMENT.match(raw.strip())
        name = _normalize(found.group("name")) if found else ""
        if found is None or name not in CPU_BUILDS:
            lines.append(raw)
            continue
        cpu, first = CPU_BUILDS[name]
        wanted = " ".join(raw.split("#")[0].split())
        if "@" in found.group("rest") or "--hash" in found.group("rest"):
            notes.append(f"{wanted} kept: {cpu} cannot stand for a direct reference or a hash")
        elif _older(found.group("spec"), first):
            oldest = ".".join(map(str, first))
            notes.append(f"{wanted} kept: {cpu} starts at {oldest}")
        else:
            lines.append(cpu + found.group("rest"))
            notes.append(
                f"{wanted} installed as {cpu}: the same library without its GPU build and "
                "CUDA libraries (--gpu keeps it)"
            )
            continue
        lines.append(raw)
    return "\n".join(lines) + "\n", notes


def _older(specifier: str, first: tuple[int, ...]) -> bool:
    """Whether ``specifier`` admits only releases before ``first`` (an old pin or cap)."""
    for operator, version in _UPPER.findall(specifier):
        release = tuple(int(p) for p in version.split("."))
        if release < first or (operator == "<" and release <= first):
            return True
    return False


def build_wheelhouse(
    package: Path,
    dest: Path,
    python_version: str,
    output: Output,
    machine: str | None = None,
    extra: Sequence[str] = (),
    gpu: bool = False,
) -> tuple[list[Wheel], list[str]]:
    """Fill ``dest`` with modelpack, ``extra`` requirements (``grpcio>=1.60``) and the package's
    ``requirements.txt``, with dependencies; return the wheels and a line for each requirement
    installed otherwise than written.

    ``python_version`` is the image's ``major.minor``; wheels are chosen for CPython of that
    version on manylinux (glibc ``GLIBC``) for ``machine`` (default: this machine's). Without
    ``gpu``, libraries in ``CPU_BUILDS`` come as their CPU-only builds (``cpu_requirements``).
    """
    dest.mkdir(parents=True, exist_ok=True)
    wanted = [str(pack_modelpack(dest)), *extra]
    notes: list[str] = []
    requirements = package / "requirements.txt"
    with tempfile.TemporaryDirectory(prefix="modelpack-requirements-") as tmp:
        if requirements.is_file():
            text = requirements.read_text(encoding="utf-8")
            rewritten, notes = (text, []) if gpu else cpu_requirements(text)
            if rewritten != text:
                # Beside the original, -r and -c lines in it would be read relative to the
                # package; the rewritten copy names them by absolute path.
                requirements = Path(tmp) / "requirements.txt"
                requirements.write_text(_absolute_includes(rewritten, package), encoding="utf-8")
            wanted += ["-r", str(requirements)]
        else:
            output(f"note: {package} has no requirements.txt; the image gets modelpack's own only")
        for note in notes:
            output(f"note: {note}")
        _download(dest, python_version, output, machine, wanted)
    return list_wheels(dest), notes


def _absolute_includes(text: str, base: Path) -> str:
    out = []
    for line in text.splitlines():
        found = _INCLUDE.match(line.strip())
        if found and not Path(found.group("path")).is_absolute():
            line = f"{found.group(1)} {(base / found.group('path')).resolve()}"
        out.append(line)
    return "\n".join(out) + "\n"


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
