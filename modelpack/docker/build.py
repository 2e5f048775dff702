"""``docker build`` of a written context, and the report of what was built.

A thin step: the docker CLI is run with an argument list (never a shell string), its output is
streamed as it comes, and the report is read back from the image itself (size from the daemon,
Python version and installed packages from running the image without network).
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from modelpack.docker._process import Output, stream
from modelpack.docker.context import GRPC_PORT, PORT, BuildContext, installer_for, write_context
from modelpack.errors import ImageBuildFailed
from modelpack.settings import Settings

__all__ = [
    "BuildReport",
    "Layer",
    "build_command",
    "build_docker",
    "build_image",
    "find_docker",
    "layer_step",
]

# Runs inside the image: what a report needs, as one JSON line.
_PROBE = (
    "import importlib.metadata as m, json, platform; print(json.dumps({"
    "'python': platform.python_version(), "
    "'packages': sorted(f'{d.metadata[\"Name\"]}=={d.version}' for d in m.distributions())}))"
)


_STEP_WIDTH = 72
# The legacy builder names a COPY's source by digest (``COPY dir:<64 hex> in /opt/modelpack``).
_SOURCE_DIGEST = re.compile(r"\b(dir|file|multi):([0-9a-f]{64})")


@dataclass(frozen=True)
class Layer:
    """One layer of an image, as ``docker image history`` lists it."""

    size_bytes: int
    step: str
    """The instruction that made it, shortened (``layer_step``)."""


def layer_step(created_by: str) -> str:
    """A history entry's ``CreatedBy`` as the Dockerfile line it came from, on one short line
    (the legacy builder writes ``/bin/sh -c #(nop) COPY ...``, BuildKit ``... # buildkit``)."""
    step = " ".join(created_by.split()).removesuffix(" # buildkit")
    if step.startswith("/bin/sh -c #(nop) "):
        step = step.removeprefix("/bin/sh -c #(nop) ")
    elif step.startswith("/bin/sh -c "):
        step = "RUN " + step.removeprefix("/bin/sh -c ")
    step = step.replace("RUN /bin/sh -c ", "RUN ") or "(base image)"
    step = _SOURCE_DIGEST.sub(lambda found: f"{found.group(1)}:{found.group(2)[:12]}", step)
    return step if len(step) <= _STEP_WIDTH else step[: _STEP_WIDTH - 3] + "..."


@dataclass(frozen=True)
class BuildReport:
    """What ``build-docker`` built."""

    image: str
    image_id: str
    size_bytes: int
    base_image: str
    python_version: str
    """The image's full Python version, as the image reports it."""
    flavor: str
    packages: list[str]
    """``name==version`` of every distribution in the image's environment."""
    seconds: float
    """Wall time of ``docker build``."""
    ports: tuple[int, ...] = (PORT,)
    """The ports the image serves on (REST, and gRPC when built with ``enable_mlserver``)."""
    requirements: tuple[str, ...] = ()
    """Requirements installed otherwise than the package writes them (``BuildContext``)."""
    layers: tuple[Layer, ...] = ()
    """The image's layers, base first; empty ones (metadata steps) left out."""

    def render(self) -> str:
        """The report as text for a terminal."""
        return "\n".join(
            [
                f"Built image {self.image} ({self.image_id.removeprefix('sha256:')[:12]})",
                f"  size:     {self.size_bytes / 1e6:.1f} MB",
                f"  base:     {self.base_image} (Python {self.python_version})",
                f"  flavor:   {self.flavor}",
                f"  build:    {self.seconds:.1f} s",
                *(f"  requirement: {note}" for note in self.requirements),
                f"  packages: {len(self.packages)}",
                *(f"    {p}" for p in self.packages),
                f"  layers:   {len(self.layers)} (size, step; base image first)",
                *(f"    {ly.size_bytes / 1e6:8.1f} MB  {ly.step}" for ly in self.layers),
                "  run:      docker run --rm "
                + "".join(f"-p 127.0.0.1:{p}:{p} " for p in self.ports)
                + self.image,
            ]
        )


def find_docker() -> str:
    """The docker CLI, once a daemon has answered it; a one-line error otherwise."""
    docker = shutil.which("docker")
    if docker is None:
        raise ImageBuildFailed("docker is not installed: no 'docker' command on PATH")
    try:
        probe = subprocess.run(
            [docker, "version", "--format", "{{.Server.Version}}"],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
    except subprocess.TimeoutExpired:
        raise ImageBuildFailed("no Docker daemon answered within 60 s") from None
    if probe.returncode != 0:
        lines = [ln.strip() for ln in probe.stderr.splitlines() if ln.strip()]
        reason = lines[-1] if lines else f"docker version exited with {probe.returncode}"
        raise ImageBuildFailed(f"no Docker daemon answers: {reason}")
    return docker


def build_command(docker: str, context: Path, image: str) -> list[str]:
    """The ``docker build`` argument list for a context written by ``write_context``.

    ``--network none``: the context holds every wheel, so a step that reaches out is a bug.
    """
    return [docker, "build", "--network", "none", "--tag", image, str(context)]


def build_image(
    context: BuildContext, image: str, output: Output, docker: str | None = None
) -> BuildReport:
    """Run ``docker build`` on ``context``, streaming its output, and report the image."""
    docker = docker or find_docker()
    started = time.monotonic()
    status, tail = stream(build_command(docker, context.directory, image), output)
    seconds = time.monotonic() - started
    if status != 0:
        raise ImageBuildFailed(
            f"docker build failed with exit status {status}: {_last(tail, 'build failed')}"
        )
    image_id, size = _run(docker, ["image", "inspect", "--format", "{{.Id}} {{.Size}}", image])[:2]
    probe = json.loads(_probe(docker, image))
    return BuildReport(
        requirements=context.requirements,
        layers=_layers(docker, image),
        image=image,
        image_id=image_id,
        size_bytes=int(size),
        base_image=context.base_image,
        python_version=probe["python"],
        flavor=context.flavor,
        packages=probe["packages"],
        seconds=seconds,
        ports=(PORT, GRPC_PORT) if context.enable_mlserver else (PORT,),
    )


def build_docker(
    model_uri: str,
    image: str,
    output: Output,
    *,
    base_image: str | None = None,
    settings: Settings | None = None,
    env_manager: str = "local",
    enable_mlserver: bool = False,
    gpu: bool = False,
) -> BuildReport:
    """Write the context for ``model_uri`` in a temporary directory and build ``image`` from it
    (``env_manager``, ``enable_mlserver``, ``gpu``: see ``write_context``)."""
    installer_for(env_manager)  # an unusable manager fails before docker is looked for
    docker = find_docker()  # before minutes of downloads, not after
    with tempfile.TemporaryDirectory(prefix="modelpack-docker-") as tmp:
        context = write_context(
            model_uri,
            Path(tmp),
            base_image=base_image,
            output=output,
            settings=settings,
            env_manager=env_manager,
            enable_mlserver=enable_mlserver,
            gpu=gpu,
        )
        return build_image(context, image, output, docker)


def _layers(docker: str, image: str) -> tuple[Layer, ...]:
    """The image's non-empty layers from ``docker image history`` (newest first there)."""
    command = [docker, "image", "history", "--no-trunc", "--human=false", "--format"]
    result = subprocess.run(
        [*command, "{{.Size}}\t{{.CreatedBy}}", image],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    if result.returncode != 0:
        raise ImageBuildFailed(
            f"docker image history failed: {_last(result.stderr.splitlines(), 'no output')}"
        )
    layers = []
    for line in reversed(result.stdout.splitlines()):
        size, _, created_by = line.partition("\t")
        if size.strip().isdigit() and int(size) > 0:
            layers.append(Layer(int(size), layer_step(created_by)))
    return tuple(layers)


def _probe(docker: str, image: str) -> str:
    command = [docker, "run", "--rm", "--network", "none", "--entrypoint", "python", image]
    result = subprocess.run(
        [*command, "-c", _PROBE], capture_output=True, text=True, timeout=120, check=False
    )
    if result.returncode != 0:
        raise ImageBuildFailed(
            f"the image {image} was built but its Python does not run: "
            f"{_last(result.stderr.splitlines(), 'no output')}"
        )
    return result.stdout.strip().splitlines()[-1]


def _run(docker: str, args: Sequence[str]) -> list[str]:
    result = subprocess.run(
        [docker, *args], capture_output=True, text=True, timeout=60, check=False
    )
    if result.returncode != 0:
        raise ImageBuildFailed(
            f"docker {args[0]} failed: {_last(result.stderr.splitlines(), 'no output')}"
        )
    return result.stdout.split()


def _last(lines: Sequence[str], default: str) -> str:
    kept = [ln.strip() for ln in lines if ln.strip()]
    return kept[-1] if kept else default
