"""``--env-manager uv``: ``uv venv`` on a matching interpreter, then ``uv pip install``.

uv comes from PyPI (``pip install 'modelpack[uv]'``): the binary of the installed ``uv``
distribution, else a ``uv`` on PATH. uv never downloads a Python here unless
``MODELPACK_ENV_ALLOW_PYTHON_DOWNLOAD`` allows it.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from collections.abc import Mapping
from pathlib import Path

from modelpack.envs._process import run
from modelpack.envs._python import available, mismatch, version_of
from modelpack.envs._python import find as find_python
from modelpack.envs._spec import BuildJob
from modelpack.errors import EnvironmentBuildFailed, MissingDependency, clip

__all__ = ["UvBuilder", "find_uv", "reason"]

_SHOWN = re.compile(r"^\s*[+-] \S|^(Resolved|Prepared|Installed|Uninstalled) ")
# uv's error lines; on a terminal it draws "\u00d7" (x) and "\u2570\u2500\u25b6" (an arrow).
_PREFIXES = ("error:", "cause:", "caused by:", "\u00d7", "\u2570\u2500\u25b6", "help:")


def find_uv(environ: Mapping[str, str]) -> str:
    """The uv binary: the ``uv`` distribution's, else one on PATH."""
    try:
        import uv
    except ImportError:
        pass
    else:
        try:
            return str(uv.find_uv_bin())
        except FileNotFoundError:
            pass
    found = shutil.which("uv", path=environ.get("PATH"))
    if found is None:
        raise MissingDependency(
            "--env-manager uv needs uv: pip install 'modelpack[uv]' (or put a uv binary on PATH)"
        )
    return found


def reason(tail: list[str], status: int) -> str:
    """uv's error as one line: its ``error:`` line and the causes under it."""
    lines = [line.strip() for line in tail if line.strip()]
    starts = [i for i, line in enumerate(lines) if line.lower().startswith(("error:", "\u00d7"))]
    if not starts:
        return lines[-1] if lines else f"exit status {status}"
    parts: list[str] = []
    for line in lines[starts[-1] :]:
        prefix = next((p for p in _PREFIXES if line.lower().startswith(p)), None)
        if prefix is None and parts:
            # uv wraps its messages to the terminal's width (COLUMNS): a line without a
            # prefix continues the one above it.
            parts[-1] = f"{parts[-1]} {line}"
            continue
        line = line[len(prefix) :].strip() if prefix else line
        if line:
            parts.append(line)
    parts = [part.rstrip(":") for part in parts]
    return clip(": ".join(parts), 600)


class UvBuilder:
    manager = "uv"

    def __init__(self, environ: Mapping[str, str], allow_python_download: bool) -> None:
        self.uv = find_uv(environ)
        self.environ = environ
        self.allow_download = allow_python_download
        self.downloads = "automatic" if allow_python_download else "never"

    def interpreter(self, wanted: str, source: str) -> str:
        found = find_python(wanted, self.environ)
        if found is not None:
            return found.path
        managed = self._uv_find(wanted)
        if managed is not None:
            return managed
        if self.allow_download:
            return wanted  # uv venv --python X.Y downloads it
        raise mismatch(wanted, source, available(self.environ), uv=True)

    def _uv_find(self, wanted: str) -> str | None:
        """A Python of version ``wanted`` that uv manages (``uv python find``; no download)."""
        try:
            found = subprocess.run(
                [self.uv, "python", "find", wanted],
                capture_output=True,
                text=True,
                timeout=60,
                env={**self.environ, "UV_PYTHON_DOWNLOADS": "never"},
                check=False,
            )
        except (OSError, subprocess.TimeoutExpired):
            return None
        path = found.stdout.strip()
        if found.returncode != 0 or not path:
            return None
        return path if version_of(path, self.environ) == wanted else None

    def build(self, target: Path, job: BuildJob) -> None:
        environ = {**job.index.uv_environ(job.environ), "UV_PYTHON_DOWNLOADS": self.downloads}
        created = run(
            [self.uv, "venv", target, "--python", job.interpreter, "--no-project"],
            environ=environ,
            output=job.output,
            cwd=job.workdir,
        )
        if created.status != 0:
            raise EnvironmentBuildFailed(
                f"uv could not create a Python {job.spec.python} environment: "
                f"{reason(created.tail, created.status)}"
            )
        command: list[str | Path] = [
            self.uv,
            "pip",
            "install",
            "--python",
            target / "bin" / "python",
        ]
        command += ["-r", job.requirements_file]
        if job.constraints_file is not None:
            command += ["-c", job.constraints_file]
        command += [*job.index.uv_args(job.environ), job.wheel]
        installed = run(
            command,
            environ=environ,
            output=job.output,
            show=lambda line: f"  {line.strip()}" if _SHOWN.match(line) else None,
            cwd=job.package,
        )
        if installed.status != 0:
            raise EnvironmentBuildFailed(
                f"uv could not install the package's requirements: "
                f"{reason(installed.tail, installed.status)}"
            )
