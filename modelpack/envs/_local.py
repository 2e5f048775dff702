"""``--env-manager local``: this environment, checked against the package's requirements.txt
before anything is loaded.

A distribution that is not installed at all is an error: the model's code may import it at
load time or only inside ``predict``, and then every request would fail; one line at start that
names it says more than an ImportError from deep inside ``load_context``. A distribution at
another version is a warning: requirements pin the exact versions of the machine that saved the
package, and a patch release apart nearly always works (MLflow only warns, too).

``mlflow`` and ``mlflow-skinny`` are left out: modelpack reads MLflow's packages without MLflow,
and the packages that do need it (MLflow's own python models) say so when they are loaded.
"""

from __future__ import annotations

from pathlib import Path

from modelpack.envs._requirements import installed_version, read_file
from modelpack.errors import MissingDependency
from modelpack.format.environment import CPU_BUILDS, REQUIREMENTS_FILE

__all__ = ["check_local"]

_STAND_INS = {"mlflow", "mlflow-skinny", "modelpack"}
_LISTED = 6


def check_local(package: Path) -> list[str]:
    """Warnings (one line at most) for distributions installed at other versions than the
    package's requirements.txt asks; ``MissingDependency`` naming those not installed."""
    package = package if package.is_dir() else package.parent
    path = package / REQUIREMENTS_FILE
    if not path.is_file():
        return []
    missing: list[str] = []
    different: list[str] = []
    for line in read_file(path).parsed():
        if line.name in _STAND_INS or line.url or line.applies_here() is not True:
            continue
        version = installed_version(line.name)
        if version is None and line.name in CPU_BUILDS:
            version = installed_version(CPU_BUILDS[line.name][0])  # images install xgboost-cpu
        if version is None:
            missing.append(line.text)
        elif line.satisfied_by(version) is False:
            different.append(f"{line.name} {version} (wants {line.specifier})")
    if missing:
        raise MissingDependency(
            f"the package's {REQUIREMENTS_FILE} names {_listed(missing)}, not installed in this "
            f"environment: pip install -r {path}, or use --env-manager uv to run it in an "
            "environment built from its requirements"
        )
    if different:
        return [
            f"this environment differs from the package's {REQUIREMENTS_FILE}: "
            f"{_listed(different)}; --env-manager uv builds one that matches"
        ]
    return []


def _listed(items: list[str]) -> str:
    shown = ", ".join(items[:_LISTED])
    return shown + (f" and {len(items) - _LISTED} more" if len(items) > _LISTED else "")
