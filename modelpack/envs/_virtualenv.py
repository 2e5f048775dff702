"""``--env-manager virtualenv``: the standard library's ``venv`` on a matching interpreter, then
the environment's own pip, which reads pip's configuration here (files and ``PIP_*``) itself.

Unlike MLflow's virtualenv manager it needs neither pyenv nor the ``virtualenv`` package: the
package's Python ``major.minor`` must be on this machine.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path

from modelpack.envs._process import run
from modelpack.envs._python import available, mismatch
from modelpack.envs._python import find as find_python
from modelpack.envs._spec import BuildJob
from modelpack.errors import EnvironmentBuildFailed, clip

__all__ = ["VirtualenvBuilder", "pip_reason", "pip_shown"]

_FROM = re.compile(r" \(from .*\)$")  # pip's "(from -r requirements.txt (line 4))"


def pip_shown(line: str) -> str | None:
    """The pip lines shown while building: each distribution collected, and the summary."""
    if line.startswith(("Collecting ", "Successfully installed ")):
        return "  " + _FROM.sub("", line.strip())
    return None


def pip_reason(tail: list[str], status: int) -> str:
    """pip's first ``ERROR:`` line that gives the resolver's reason (not the list of versions
    it ignored for their Python requirement), else its last line."""
    errors = [
        text
        for line in tail
        if line.startswith("ERROR:")
        and not (text := line[len("ERROR:") :].strip()).startswith("Ignored the following")
    ]
    lines = [line.strip() for line in tail if line.strip()]
    text = errors[0] if errors else (lines[-1] if lines else f"exit status {status}")
    return clip(text, 600)


class VirtualenvBuilder:
    manager = "virtualenv"

    def __init__(self, environ: Mapping[str, str]) -> None:
        self.environ = environ

    def interpreter(self, wanted: str, source: str) -> str:
        found = find_python(wanted, self.environ)
        if found is None:
            raise mismatch(wanted, source, available(self.environ), uv=False)
        return found.path

    def build(self, target: Path, job: BuildJob) -> None:
        created = run(
            [job.interpreter, "-m", "venv", target],
            environ=job.environ,
            output=job.output,
            cwd=job.workdir,
        )
        if created.status != 0:
            raise EnvironmentBuildFailed(
                f"python -m venv could not create a Python {job.spec.python} environment: "
                f"{pip_reason(created.tail, created.status)}"
            )
        command: list[str | Path] = [target / "bin" / "python", "-m", "pip", "install"]
        command += ["--disable-pip-version-check", "--progress-bar", "off"]
        command += ["-r", job.requirements_file]
        if job.constraints_file is not None:
            command += ["-c", job.constraints_file]
        installed = run(
            [*command, job.wheel],
            environ=job.environ,
            output=job.output,
            show=pip_shown,
            cwd=job.package,
        )
        if installed.status != 0:
            raise EnvironmentBuildFailed(
                "pip could not install the package's requirements: "
                f"{pip_reason(installed.tail, installed.status)}"
            )
