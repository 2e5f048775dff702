"""The environment files: requirements.txt, python_env.yaml, conda.yaml, constraints.txt.

Requirements are what the model needs: the flavor's libraries plus the distributions whose modules
the serialized model refers to, pinned to the installed versions. Unlike MLflow, nothing is added
because the saving process happened to import it.
"""

from __future__ import annotations

import importlib.metadata as md
import platform
import re
import sys
from collections.abc import Iterable, Sequence
from pathlib import Path

import yaml

from modelpack.errors import InvalidArgument

__all__ = [
    "BASE_REQUIREMENTS",
    "CPU_BUILDS",
    "distributions_for_modules",
    "pin",
    "read_requirements",
    "resolve_requirements",
    "write_environment",
]

REQUIREMENTS_FILE = "requirements.txt"
CONSTRAINTS_FILE = "constraints.txt"
PYTHON_ENV_FILE = "python_env.yaml"
CONDA_ENV_FILE = "conda.yaml"

BASE_REQUIREMENTS = ("numpy", "pandas")
"""What the pyfunc layer itself hands models (DataFrames and arrays)."""
CPU_BUILDS = {"xgboost": ("xgboost-cpu", (2, 1))}
"""Distributions with a CPU-only build of the same library (module and version) under another
name, and the first release that has one. ``xgboost`` 2.1+ on Linux pulls ``nvidia-nccl-cu12``
(479 MB) for its GPU build; images install ``xgboost-cpu`` unless asked for the GPU, and an
installed ``xgboost-cpu`` meets a requirement for ``xgboost``."""

# Modules provided by the runtime or the standard library never become requirements.
_SKIP_MODULES = {"modelpack", "mlflow", "__main__", "builtins", "copyreg", "_codecs"}
_NAME = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)")


def _normalize(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def distributions_for_modules(modules: Iterable[str]) -> set[str]:
    """Installed distributions that provide these top-level modules (stdlib ones skipped)."""
    mapping = md.packages_distributions()
    stdlib = set(getattr(sys, "stdlib_module_names", ()))
    found: set[str] = set()
    for module in modules:
        top = module.split(".")[0]
        if not top or top in _SKIP_MODULES or top in stdlib or top.startswith("_"):
            continue
        for dist in mapping.get(top, []):
            if _normalize(dist) not in {"modelpack", "mlflow", "mlflow-skinny"}:
                found.add(dist)
    return found


def pin(name: str) -> str:
    """``name==<installed version>`` without a local label (``+cpu``), or ``name`` if absent."""
    try:
        version = md.version(name)
    except md.PackageNotFoundError:
        return name
    return f"{name}=={version.split('+')[0]}"


def read_requirements(spec: str | Path | Sequence[str] | None) -> list[str]:
    """A list of requirement lines, from a list or from a requirements file path."""
    if spec is None:
        return []
    if isinstance(spec, str | Path):
        path = Path(spec)
        if not path.is_file():
            raise InvalidArgument(f"requirements file not found: {path}")
        lines = path.read_text(encoding="utf-8").splitlines()
        return [ln.strip() for ln in lines if ln.strip() and not ln.strip().startswith("#")]
    if isinstance(spec, list | tuple):
        return [str(x).strip() for x in spec if str(x).strip()]
    raise InvalidArgument(
        f"requirements must be a list of strings or a file path, got {type(spec).__name__}"
    )


def resolve_requirements(
    inferred: Iterable[str],
    pip_requirements: str | Path | Sequence[str] | None = None,
    extra_pip_requirements: str | Path | Sequence[str] | None = None,
) -> tuple[list[str], list[str]]:
    """Final (requirements, constraints): user lists replace or extend the inferred pins."""
    if pip_requirements is not None and extra_pip_requirements is not None:
        raise InvalidArgument(
            "give pip_requirements (replaces the inferred list) or extra_pip_requirements "
            "(extends it), not both"
        )
    if pip_requirements is not None:
        lines = read_requirements(pip_requirements)
    else:
        defaults = sorted({pin(n) for n in inferred}, key=lambda r: _normalize(_name(r)))
        lines = _merge(defaults, read_requirements(extra_pip_requirements))
    requirements, constraints = [], []
    for line in lines:
        if line.startswith("-c"):
            constraints.extend(read_requirements(line[2:].strip()))
        else:
            requirements.append(line)
    return requirements, constraints


def _name(requirement: str) -> str:
    m = _NAME.match(requirement)
    return m.group(1) if m else requirement


def _merge(defaults: list[str], extra: list[str]) -> list[str]:
    """Extra requirements win over inferred pins of the same distribution."""
    extra_names = {_normalize(_name(r)) for r in extra if not r.startswith("-")}
    return [r for r in defaults if _normalize(_name(r)) not in extra_names] + extra


def write_environment(
    path: Path, requirements: Sequence[str], constraints: Sequence[str] = ()
) -> None:
    """Write the three environment files (and constraints.txt when there are constraints)."""
    python_version = platform.python_version()
    lines = list(requirements)
    if constraints:
        (path / CONSTRAINTS_FILE).write_text("\n".join(constraints) + "\n", encoding="utf-8")
        lines.append(f"-c {CONSTRAINTS_FILE}")
    (path / REQUIREMENTS_FILE).write_text("\n".join(lines) + "\n", encoding="utf-8")
    build = [pin(n) for n in ("pip", "setuptools", "wheel")]
    python_env = {
        "python": python_version,
        "build_dependencies": build,
        "dependencies": [f"-r {REQUIREMENTS_FILE}"],
    }
    (path / PYTHON_ENV_FILE).write_text(
        yaml.safe_dump(python_env, sort_keys=False, default_flow_style=False), encoding="utf-8"
    )
    pip_line = build[0].replace("==", "<=") if "==" in build[0] else "pip"
    conda = {
        "channels": ["conda-forge"],
        "dependencies": [f"python={python_version}", pip_line, {"pip": lines}],
        "name": "mlflow-env",
    }
    (path / CONDA_ENV_FILE).write_text(
        yaml.safe_dump(conda, default_flow_style=False), encoding="utf-8"
    )
