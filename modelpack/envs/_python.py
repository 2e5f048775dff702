"""The interpreter an environment is built on: the package's Python ``major.minor`` matched to
one on this machine (the running one, then ``python3.X``, ``python3``, ``python`` on PATH)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from collections.abc import Mapping
from dataclasses import dataclass

from modelpack.errors import MissingDependency

__all__ = ["Interpreter", "available", "find", "mismatch", "running_version", "version_of"]

_PROBE = "import sys; print('%d.%d' % sys.version_info[:2])"
_NAME = re.compile(r"^python(3(\.\d+)?)?$")


@dataclass(frozen=True)
class Interpreter:
    path: str
    version: str
    """``major.minor``."""


def running_version() -> str:
    return f"{sys.version_info.major}.{sys.version_info.minor}"


def version_of(executable: str, environ: Mapping[str, str]) -> str | None:
    """``major.minor`` of the Python at ``executable``, or None when it does not run (a pyenv
    shim of a version that is not installed exits 127)."""
    try:
        probe = subprocess.run(
            [executable, "-c", _PROBE],
            capture_output=True,
            text=True,
            timeout=30,
            env=dict(environ),
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    text = probe.stdout.strip()
    return text if probe.returncode == 0 and re.fullmatch(r"\d+\.\d+", text) else None


def find(wanted: str, environ: Mapping[str, str]) -> Interpreter | None:
    """An interpreter of version ``wanted`` (``major.minor``) on this machine, or None."""
    if running_version() == wanted:
        return Interpreter(sys.executable, wanted)
    for name in (f"python{wanted}", "python3", "python"):
        found = shutil.which(name, path=environ.get("PATH", os.defpath))
        if found and version_of(found, environ) == wanted:
            return Interpreter(found, wanted)
    return None


def available(environ: Mapping[str, str]) -> list[Interpreter]:
    """Every Python on PATH (``python``, ``python3``, ``python3.X``) that runs, and the running
    one: the first path of each version, versions in order (probed in parallel: a pyenv shim
    takes a second to answer)."""
    from concurrent.futures import ThreadPoolExecutor

    candidates: list[str] = []
    for directory in environ.get("PATH", os.defpath).split(os.pathsep):
        try:
            names = sorted(os.listdir(directory or "."))
        except OSError:
            continue
        for name in names:
            path = os.path.join(directory or ".", name)
            if _NAME.match(name) and os.access(path, os.X_OK):
                candidates.append(path)
    with ThreadPoolExecutor(max_workers=8) as pool:
        versions = list(pool.map(lambda path: version_of(path, environ), candidates))
    here = running_version()
    seen = {here: Interpreter(sys.executable, here)}
    for path, version in zip(candidates, versions, strict=True):
        if version is not None and version not in seen:
            seen[version] = Interpreter(path, version)
    return [seen[v] for v in sorted(seen, key=lambda v: tuple(int(p) for p in v.split(".")))]


def mismatch(wanted: str, source: str, found: list[Interpreter], uv: bool) -> MissingDependency:
    """The one-line error for a Python version that is not on this machine."""
    listed = ", ".join(f"{i.version} ({i.path})" for i in found) or "none"
    ways = [f"install Python {wanted} (python{wanted} on PATH)"]
    if uv:
        ways.append("set MODELPACK_ENV_ALLOW_PYTHON_DOWNLOAD=1 to let uv download it")
    ways.append(f"or use --env-manager local to run it with this Python {running_version()}")
    return MissingDependency(
        f"the package wants Python {wanted} ({source}) and no interpreter of that version is "
        f"here; found: {listed}; {', '.join(ways)}"
    )
