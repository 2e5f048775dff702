"""Find or build the environment a package runs in, and run modelpack inside it."""

from __future__ import annotations

import os
import platform
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import NoReturn

from modelpack._version import __version__
from modelpack.envs._cache import EnvCache
from modelpack.envs._conda import CondaBuilder, canonical_yaml, conda_python, read_conda_yaml
from modelpack.envs._index import IndexConfig
from modelpack.envs._process import Output
from modelpack.envs._requirements import Requirements, read_file
from modelpack.envs._spec import Builder, BuildJob, EnvSpec, build_environ, torch_pin
from modelpack.envs._uv import UvBuilder
from modelpack.envs._virtualenv import VirtualenvBuilder
from modelpack.errors import InvalidArgument
from modelpack.format.environment import PYTHON_ENV_FILE, REQUIREMENTS_FILE
from modelpack.settings import Settings

__all__ = ["MANAGERS", "Environment", "exec_in", "prepare_env"]

MANAGERS = ("local", "uv", "virtualenv", "conda")


@dataclass(frozen=True)
class Environment:
    """An environment ready for a package."""

    manager: str
    key: str
    path: Path
    """Its published name, ``<cache_dir>/envs/<key>``."""
    directory: Path
    """Where it really is (``path`` links to it)."""
    built: bool
    """Whether this call built it (False: it was there, or another process built it)."""
    seconds: float

    @property
    def python(self) -> Path:
        return self.directory / "bin" / "python"


def prepare_env(
    package: Path,
    manager: str,
    settings: Settings,
    *,
    environ: Mapping[str, str],
    output: Output = lambda line: None,
) -> Environment:
    """The environment ``manager`` (uv, virtualenv or conda) builds for the package at
    ``package``: reused from the cache when one was built from the same inputs, else built now.

    ``environ`` is the process environment (PATH, ``PIP_*``, ``UV_*``); ``output`` receives
    progress lines.
    """
    from modelpack.docker.context import image_python_version
    from modelpack.docker.wheels import pack_modelpack
    from modelpack.format.integrity import verify_package
    from modelpack.format.mlmodel import Model

    started = time.monotonic()
    builder = _builder(manager, environ, settings)  # a missing uv or conda fails first
    package = package if package.is_dir() else package.parent
    verify_package(package, settings)  # requirements of a tampered package would be installed
    requirements = _requirements(package)
    conda = read_conda_yaml(package) if manager == "conda" else None
    python = (conda_python(conda) if conda else None) or image_python_version(
        package, Model.load(package)
    )
    source = PYTHON_ENV_FILE
    if python is None:
        python, source = ".".join(platform.python_version_tuple()[:2]), "this Python"
        output(f"note: the package does not say its Python version; using {python}")
    pin, note = torch_pin(requirements)
    constraints = (*requirements.constraints, *([pin] if pin else []))
    cache = EnvCache(settings.cache_root() / "envs")
    with tempfile.TemporaryDirectory(prefix="modelpack-env-") as tmp:
        workdir = Path(tmp)
        wheel = pack_modelpack(workdir)
        spec = EnvSpec(
            manager=manager,
            python=python,
            requirements=requirements.lines,
            constraints=constraints,
            conda=canonical_yaml(conda) if conda is not None else None,
            modelpack=f"{__version__} sha256:{_digest(wheel)}",
        )
        key = spec.key
        entry = cache.entry(key)
        found = cache.ready(key)
        if found is not None:
            output(f"reusing {manager} environment {entry} ({_built(cache, key)})")
            return Environment(manager, key, entry, found, False, time.monotonic() - started)
        interpreter = builder.interpreter(python, source)
        waited: list[bool] = []

        def on_wait() -> None:
            waited.append(True)
            output(f"waiting for another process that is building {entry}")

        with cache.lock(key, on_wait):
            found = cache.ready(key)
            if found is not None:
                output(f"reusing {manager} environment {entry} (built by another process)")
                return Environment(manager, key, entry, found, False, time.monotonic() - started)
            if note:
                output(f"note: {note}")
            index = IndexConfig.from_pip(environ) if manager == "uv" else None
            output(
                f"building {manager} environment {entry} for Python {python} "
                f"({len(requirements.parsed())} requirements)"
            )
            if index is not None:
                output(f"  {index.describe()}")
            job = BuildJob(
                spec=spec,
                package=package,
                interpreter=interpreter,
                wheel=wheel,
                requirements_file=_write(workdir / REQUIREMENTS_FILE, spec.requirements),
                constraints_file=_write(workdir / "constraints.txt", constraints)
                if constraints
                else None,
                index=index or IndexConfig(),
                environ=build_environ(environ),
                output=output,
                workdir=workdir,
            )
            build_started = time.monotonic()

            def info() -> dict[str, object]:
                return {
                    "manager": manager,
                    "python": python,
                    "requirements": list(spec.requirements),
                    "constraints": list(constraints),
                    "modelpack": spec.modelpack,
                    "built_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
                    "build_seconds": round(time.monotonic() - build_started, 1),
                }

            directory = cache.build(key, lambda target: builder.build(target, job), info)
            seconds = time.monotonic() - started
            output(f"built {manager} environment {entry} in {seconds:.1f} s")
            return Environment(manager, key, entry, directory, True, seconds)


def exec_in(env: Environment, args: Sequence[str]) -> NoReturn:
    """Replace this process by ``python -m modelpack ARGS`` in ``env``: same process id, same
    environment variables, same standard streams, so signals and exit codes are the server's."""
    sys.stdout.flush()
    sys.stderr.flush()
    argv = [str(env.python), "-m", "modelpack", *args]
    os.execv(argv[0], argv)


def _builder(manager: str, environ: Mapping[str, str], settings: Settings) -> Builder:
    if manager == "uv":
        return UvBuilder(environ, settings.env_allow_python_download)
    if manager == "virtualenv":
        return VirtualenvBuilder(environ)
    if manager == "conda":
        return CondaBuilder(environ)
    raise InvalidArgument(
        f"--env-manager must be one of {', '.join(MANAGERS[1:])} to build an environment, "
        f"got {manager!r}"
    )


def _requirements(package: Path) -> Requirements:
    path = package / REQUIREMENTS_FILE
    if not path.is_file():
        return Requirements((), ())
    return read_file(path).without("modelpack")


def _write(path: Path, lines: Sequence[str]) -> Path:
    path.write_text("".join(f"{line}\n" for line in lines), encoding="utf-8")
    return path


def _digest(path: Path) -> str:
    import hashlib

    return hashlib.sha256(path.read_bytes()).hexdigest()[:16]


def _built(cache: EnvCache, key: str) -> str:
    info = cache.info(key)
    when = info.get("built_at")
    return f"built {when}" if when else "built before"
