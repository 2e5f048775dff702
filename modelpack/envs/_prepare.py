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
from modelpack.envs import MANAGERS
from modelpack.envs._cache import EnvCache
from modelpack.envs._conda import CondaBuilder, canonical_yaml, conda_python, read_conda_yaml
from modelpack.envs._index import IndexConfig
from modelpack.envs._process import Output
from modelpack.envs._requirements import Requirements, read_file
from modelpack.envs._spec import Builder, BuildJob, EnvSpec, build_environ, torch_pin
from modelpack.envs._uv import UvBuilder
from modelpack.envs._virtualenv import VirtualenvBuilder
from modelpack.errors import InvalidArgument
from modelpack.format.environment import CONDA_ENV_FILE, PYTHON_ENV_FILE, REQUIREMENTS_FILE
from modelpack.settings import Settings

__all__ = ["Environment", "exec_in", "prepare_env"]


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
    from modelpack.docker.wheels import pack_modelpack

    started = time.monotonic()
    builder = _builder(manager, environ, settings)  # a missing uv or conda fails first
    package = package if package.is_dir() else package.parent
    plan = _plan(package, manager, output)
    cache = EnvCache(settings.cache_root() / "envs")
    with tempfile.TemporaryDirectory(prefix="modelpack-env-") as tmp:
        workdir = Path(tmp)
        wheel = pack_modelpack(workdir)
        spec = plan.spec(f"{__version__} sha256:{_digest(wheel)}")
        entry = cache.entry(spec.key)

        def done(directory: Path, built: bool) -> Environment:
            return Environment(
                manager, spec.key, entry, directory, built, time.monotonic() - started
            )

        found = cache.ready(spec.key)
        if found is not None:
            # The package is not verified here: nothing of it is installed, and loading it in
            # the environment verifies it as loading always does.
            output(f"reusing {manager} environment {entry} ({_built(cache, spec.key)})")
            return done(found, False)
        _verify(package, settings)  # requirements of a tampered package would be installed
        interpreter = builder.interpreter(spec.python, plan.source)
        with cache.lock(
            spec.key, lambda: output(f"waiting for another process that is building {entry}")
        ):
            found = cache.ready(spec.key)
            if found is not None:
                output(f"reusing {manager} environment {entry} (built by another process)")
                return done(found, False)
            index = IndexConfig.from_pip(environ)
            for note in plan.notes:
                output(f"note: {note}")
            output(
                f"building {manager} environment {entry} for Python {spec.python} "
                f"({len(plan.requirements.parsed())} requirements)"
            )
            output(f"  {index.describe(environ if manager == 'uv' else None)}")
            job = BuildJob(
                spec=spec,
                package=package,
                interpreter=interpreter,
                wheel=wheel,
                requirements_file=_write(workdir / REQUIREMENTS_FILE, spec.requirements),
                constraints_file=_write(workdir / "constraints.txt", spec.constraints)
                if spec.constraints
                else None,
                index=index,
                environ=build_environ(environ),
                output=output,
                workdir=workdir,
            )
            directory = _build(cache, builder, job)
            output(f"built {manager} environment {entry} in {time.monotonic() - started:.1f} s")
            return done(directory, True)


@dataclass(frozen=True)
class _Plan:
    """What a package asks of its environment, before modelpack's wheel is known."""

    manager: str
    python: str
    source: str
    """Where ``python`` was read (for messages)."""
    requirements: Requirements
    constraints: tuple[str, ...]
    conda: str | None
    notes: tuple[str, ...]

    def spec(self, modelpack: str) -> EnvSpec:
        return EnvSpec(
            manager=self.manager,
            python=self.python,
            requirements=self.requirements.lines,
            constraints=self.constraints,
            conda=self.conda,
            modelpack=modelpack,
        )


def _plan(package: Path, manager: str, output: Output) -> _Plan:
    from modelpack.docker.context import image_python_version
    from modelpack.format.mlmodel import Model

    requirements = _requirements(package)
    conda = read_conda_yaml(package) if manager == "conda" else None
    python = conda_python(conda) if conda else None
    source = CONDA_ENV_FILE
    if python is None:
        python = image_python_version(package, Model.load(package))
        source = PYTHON_ENV_FILE if (package / PYTHON_ENV_FILE).is_file() else "MLmodel"
    if python is None:
        python, source = ".".join(platform.python_version_tuple()[:2]), "this Python"
        output(f"note: the package does not say its Python version; using {python}")
    pin, note = torch_pin(requirements)
    return _Plan(
        manager=manager,
        python=python,
        source=source,
        requirements=requirements,
        constraints=(*requirements.constraints, *([pin] if pin else [])),
        conda=canonical_yaml(conda) if conda is not None else None,
        notes=(note,) if note else (),
    )


def _build(cache: EnvCache, builder: Builder, job: BuildJob) -> Path:
    started = time.monotonic()

    def info() -> dict[str, object]:
        return {
            "manager": job.spec.manager,
            "python": job.spec.python,
            "requirements": list(job.spec.requirements),
            "constraints": list(job.spec.constraints),
            "modelpack": job.spec.modelpack,
            "built_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "build_seconds": round(time.monotonic() - started, 1),
        }

    return cache.build(job.spec.key, lambda target: builder.build(target, job), info)


def _verify(package: Path, settings: Settings) -> None:
    from modelpack.format.integrity import verify_package

    verify_package(package, settings)


def exec_in(
    env: Environment, args: Sequence[str], extra_env: Mapping[str, str] | None = None
) -> NoReturn:
    """Replace this process by ``python -m modelpack ARGS`` in ``env``: same process id, same
    environment variables (plus ``extra_env``), same standard streams, so signals and exit
    codes are the server's."""
    sys.stdout.flush()
    sys.stderr.flush()
    argv = [str(env.python), "-m", "modelpack", *args]
    os.execve(argv[0], argv, {**os.environ, **(extra_env or {})})


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
