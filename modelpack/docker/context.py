"""The build context of a model image: ``Dockerfile``, ``model/`` and ``wheels/``, nothing else.

The Dockerfile is rendered by a pure function. The image is two stages on the same base: the first
installs every wheel into a venv without network, the second copies that venv, adds the model and
a non-root user, and runs ``modelpack serve`` on 0.0.0.0:8080 (and, built with
``enable_mlserver``, V2 over gRPC on 8081, as MLServer's images do). Unlike MLflow's image there
is no nginx, Java, pyenv or conda, nothing is installed at container start, and the wheels do not
stay in a layer of the final image.
"""

from __future__ import annotations

import json
import os
import platform
import shutil
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import yaml

from modelpack.docker._process import Output
from modelpack.docker.wheels import Wheel, build_wheelhouse, download_uv
from modelpack.errors import InvalidArgument
from modelpack.format.environment import PYTHON_ENV_FILE
from modelpack.format.integrity import verify_package
from modelpack.format.mlmodel import PYFUNC, Model
from modelpack.settings import Settings
from modelpack.uris import resolve

__all__ = [
    "CONTEXT_ENTRIES",
    "GRPC_PORT",
    "GRPC_REQUIREMENTS",
    "INSTALLERS",
    "MODEL_DIR",
    "PORT",
    "TOOLS_DIR",
    "USER_ID",
    "VENV_DIR",
    "BuildContext",
    "default_base_image",
    "entrypoint_script",
    "image_python_version",
    "installer_for",
    "render_dockerfile",
    "write_context",
]

MODEL_DIR = "/opt/ml/model"
"""Where the package lies in the image (the path MLflow's images and SageMaker use)."""
VENV_DIR = "/opt/modelpack"
"""The virtual environment every wheel is installed into."""
PORT = 8080
GRPC_PORT = 8081
"""The gRPC port of images built with ``enable_mlserver`` (MLServer's default)."""
GRPC_REQUIREMENTS = ("grpcio>=1.60", "protobuf>=4.25")
"""What the gRPC server needs in the image: pyproject's ``grpc`` extra, which the wheel of
modelpack packed from its installed files may not declare (an editable checkout)."""
USER_ID = 10001
"""Numeric, so that ``runAsNonRoot`` admission checks can verify it without a passwd lookup."""
CONTEXT_ENTRIES = ("Dockerfile", "model", "wheels")
TOOLS_DIR = "tools"
"""Under ``wheels/``: the installer's own wheel (uv), which does not go into the image's venv."""
INSTALLERS = {"local": "pip", "virtualenv": "pip", "uv": "uv"}


@dataclass(frozen=True)
class BuildContext:
    """What ``write_context`` wrote."""

    directory: Path
    base_image: str
    python_version: str
    """``major.minor`` of the image's Python, which the wheels were chosen for."""
    flavor: str
    wheels: list[Wheel]
    installer: str = "pip"
    """What installs the wheels in the image: ``pip`` or ``uv`` (``installer_for``)."""
    enable_mlserver: bool = False
    """The image serves as ``mlflow models serve --enable-mlserver`` did, gRPC included."""
    requirements: tuple[str, ...] = ()
    """A line for each requirement installed otherwise than the package writes it
    (``xgboost`` as ``xgboost-cpu`` without ``gpu``; see ``wheels.cpu_requirements``)."""


def default_base_image(python_version: str) -> str:
    """``python:<major.minor>-slim``: Debian with CPython, no compiler, ~45 MB compressed."""
    return f"python:{python_version}-slim"


def image_python_version(package: Path, meta: Model) -> str | None:
    """``major.minor`` of the Python the package was saved with (python_env.yaml, then MLmodel)."""
    candidates: list[object] = []
    env_file = package / PYTHON_ENV_FILE
    if env_file.is_file():
        data = yaml.safe_load(env_file.read_text(encoding="utf-8"))
        if isinstance(data, dict):
            candidates.append(data.get("python"))
    candidates.append(meta.flavors.get(PYFUNC, {}).get("python_version"))
    for value in candidates:
        parts = str(value or "").split(".")
        if len(parts) >= 2 and parts[0].isdigit() and parts[1].isdigit():
            return f"{parts[0]}.{parts[1]}"
    return None


def entrypoint_script(enable_mlserver: bool = False) -> str:
    """The shell line the container runs: workers default to the CPU count, then exec the server.

    ``exec`` makes the server PID 1, so ``docker stop``'s SIGTERM reaches it directly; the other
    settings (``MODELPACK_TIMEOUT``, ``MODELPACK_MAX_BODY_BYTES``, ...) are read by ``serve``
    itself, and arguments given to ``docker run IMAGE ...`` are appended to the command. With
    ``enable_mlserver``, ``MODELPACK_GRPC_PORT`` defaults to ``GRPC_PORT`` and the server runs
    with ``--enable-mlserver`` (the V2 model is ``mlflow-model`` unless MODELPACK_MODEL_NAME).
    """
    grpc = f'export MODELPACK_GRPC_PORT="${{MODELPACK_GRPC_PORT:-{GRPC_PORT}}}"; '
    return (
        'export MODELPACK_WORKERS="${MODELPACK_WORKERS:-$(nproc)}"; '
        + (grpc if enable_mlserver else "")
        + f"exec modelpack serve -m {MODEL_DIR} -h 0.0.0.0 -p {PORT}"
        + (" --enable-mlserver" if enable_mlserver else "")
        + ' "$@"'
    )


def installer_for(env_manager: str) -> str:
    """What installs the wheels in the image for an ``--env-manager``: ``uv`` for uv, ``pip``
    for local and virtualenv (the image's venv is the isolated environment either way)."""
    if env_manager == "conda":
        raise InvalidArgument(
            "--env-manager conda is not available for images: they install wheels from wheels/ "
            "into a venv, without conda; use --env-manager uv or virtualenv"
        )
    if env_manager not in INSTALLERS:
        raise InvalidArgument(
            f"--env-manager must be one of local, uv, virtualenv for images, got {env_manager!r}"
        )
    return INSTALLERS[env_manager]


def render_dockerfile(
    base_image: str,
    labels: Mapping[str, str] | None = None,
    installer: str = "pip",
    *,
    enable_mlserver: bool = False,
) -> str:
    """The Dockerfile for a context holding ``model/`` and ``wheels/``.

    ``installer`` ``pip``: the venv's own pip installs the wheels; ``uv``: uv (its wheel in
    ``wheels/tools/``, installed into a throwaway venv of the first stage) creates the venv and
    installs them. ``enable_mlserver`` exposes ``GRPC_PORT`` too and serves gRPC on it. Only
    classic Dockerfile syntax is used, so the legacy builder, BuildKit, buildah and kaniko all
    build it.
    """
    entrypoint = json.dumps(["/bin/sh", "-c", entrypoint_script(enable_mlserver), "modelpack"])
    ports = f"{PORT} {GRPC_PORT}" if enable_mlserver else f"{PORT}"
    healthcheck = json.dumps(
        [
            "python",
            "-c",
            # Ready, not just alive: 503 while warming up and while draining on shutdown.
            "import urllib.request; "
            f"urllib.request.urlopen('http://127.0.0.1:{PORT}/health/ready', timeout=4)",
        ]
    )
    lines = [
        "# Generated by modelpack: the model in model/, every package it needs in wheels/.",
        *_install_stage(base_image, installer),
        "# The libraries' test suites (a quarter of a scipy/pandas stack) are not needed to serve.",
        f"RUN find {VENV_DIR}/lib -type d -name tests -path '*/site-packages/*/tests' -prune"
        " -exec rm -rf {} +",
        "# Bytecode only for the modules serving this model imports (~20 MB less for scipy and"
        " pandas);",
        "# if the model cannot be warmed up here, everything is compiled, as pip did.",
        "COPY model /tmp/model",
        f"RUN find {VENV_DIR}/lib -type d -name __pycache__ -prune -exec rm -rf {{}} +"
        f" && ({VENV_DIR}/bin/python -m modelpack.cli._precompile /tmp/model"
        f" || {VENV_DIR}/bin/python -m compileall -q {VENV_DIR}/lib)",
        "",
        f"FROM {base_image}",
        f"RUN useradd --system --uid {USER_ID} --user-group --create-home"
        " --home-dir /home/modelpack --shell /usr/sbin/nologin modelpack",
        f"COPY --from=install {VENV_DIR} {VENV_DIR}",
        f"COPY model {MODEL_DIR}",
        f"ENV PATH={VENV_DIR}/bin:$PATH PYTHONUNBUFFERED=1 PYTHONDONTWRITEBYTECODE=1",
        f"USER {USER_ID}:{USER_ID}",
        "WORKDIR /home/modelpack",
        f"EXPOSE {ports}",
        f"HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 CMD {healthcheck}",
    ]
    if labels:
        lines.append("LABEL " + " ".join(f"{k}={json.dumps(v)}" for k, v in sorted(labels.items())))
    lines.append(f"ENTRYPOINT {entrypoint}")
    return "\n".join(lines) + "\n"


def _install_stage(base_image: str, installer: str) -> list[str]:
    if installer == "uv":
        tool = "/tmp/uv"
        return [
            "# Building needs no network: uv installs from wheels/ only (uv from wheels/tools/).",
            f"FROM {base_image} AS install",
            "ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1"
            " UV_NO_CACHE=1 UV_PYTHON_DOWNLOADS=never UV_LINK_MODE=copy",
            "COPY wheels /tmp/wheels",
            f"RUN python -m venv {tool} && {tool}/bin/python -m pip install --no-index"
            f" --find-links /tmp/wheels/{TOOLS_DIR} uv",
            f'RUN {tool}/bin/uv venv --python "$(command -v python)" {VENV_DIR}',
            f"RUN {tool}/bin/uv pip install --python {VENV_DIR}/bin/python --no-index"
            " --find-links /tmp/wheels /tmp/wheels/*.whl",
        ]
    return [
        "# Building needs no network: pip installs from wheels/ only.",
        f"FROM {base_image} AS install",
        "ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1",
        f"RUN python -m venv {VENV_DIR}",
        "COPY wheels /tmp/wheels",
        f"RUN {VENV_DIR}/bin/python -m pip install --no-index --find-links /tmp/wheels"
        " /tmp/wheels/*.whl",
        "# Serving needs no installer (uv's venvs have none either): 14 MB less.",
        f"RUN {VENV_DIR}/bin/python -m pip uninstall --yes --quiet pip",
    ]


def write_context(
    model_uri: str,
    directory: Path,
    *,
    base_image: str | None = None,
    output: Output = lambda line: None,
    settings: Settings | None = None,
    env_manager: str = "local",
    enable_mlserver: bool = False,
    gpu: bool = False,
) -> BuildContext:
    """Write the build context for the package at ``model_uri`` into ``directory``.

    ``directory`` must be missing, empty, or a context written before (its three entries are
    replaced). The wheels are downloaded by pip for the package's Python ``major.minor``.
    ``env_manager`` decides what installs them in the image (``installer_for``).
    ``settings`` are used to resolve a remote ``model_uri`` (tracking server, cache) and to
    check the package's manifest and signature, as loading does. ``enable_mlserver``: the image
    serves as ``mlflow models serve --enable-mlserver`` did, with V2 over gRPC on ``GRPC_PORT``
    (its wheels include grpcio and protobuf). Without ``gpu``, libraries with a CPU-only build
    (``xgboost``) are installed as that build.
    """
    from modelpack._version import __version__
    from modelpack.flavors import registry

    installer = installer_for(env_manager)
    settings = settings if settings is not None else Settings.from_env()
    package = resolve(model_uri, settings)
    package = package if package.is_dir() else package.parent
    verify_package(package, settings)  # an image of a tampered package would serve it anywhere
    meta = Model.load(package)
    flavor = registry().for_package(meta.flavors).name
    python_version = image_python_version(package, meta)
    if python_version is None:
        python_version = ".".join(platform.python_version_tuple()[:2])
        output(f"note: the package does not say its Python version; using {python_version}")
    base = base_image or default_base_image(python_version)

    _prepare(directory)
    _copy_package(package, directory / "model")
    extra = GRPC_REQUIREMENTS if enable_mlserver else ()
    wheels, notes = build_wheelhouse(
        package, directory / "wheels", python_version, output, extra=extra, gpu=gpu
    )
    if installer == "uv":
        download_uv(directory / "wheels" / TOOLS_DIR, python_version, output)
    labels = {
        "io.modelpack.flavor": flavor,
        "io.modelpack.python": python_version,
        "io.modelpack.version": __version__,
    }
    if meta.model_uuid:
        labels["io.modelpack.model-uuid"] = str(meta.model_uuid)
    dockerfile = render_dockerfile(base, labels, installer, enable_mlserver=enable_mlserver)
    (directory / "Dockerfile").write_text(dockerfile, encoding="utf-8")
    return BuildContext(
        directory,
        base,
        python_version,
        flavor,
        wheels,
        installer,
        enable_mlserver,
        tuple(notes),
    )


def _prepare(directory: Path) -> None:
    if directory.exists():
        if not directory.is_dir():
            raise InvalidArgument(f"output directory {directory} is a file")
        others = sorted(p.name for p in directory.iterdir() if p.name not in CONTEXT_ENTRIES)
        if others:
            raise InvalidArgument(
                f"output directory {directory} holds other files ({', '.join(others[:3])}); "
                "give an empty or new directory"
            )
        for name in CONTEXT_ENTRIES:
            target = directory / name
            if target.is_dir():
                shutil.rmtree(target)
            elif target.exists():
                target.unlink()
    directory.mkdir(parents=True, exist_ok=True)


def _copy_package(package: Path, target: Path) -> None:
    shutil.copytree(package, target, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    # COPY keeps modes; a package saved under umask 077 would be unreadable to the image's user.
    for root, dirs, files in os.walk(target):
        for name in dirs:
            os.chmod(os.path.join(root, name), 0o755)
        for name in files:
            os.chmod(os.path.join(root, name), 0o644)
    target.chmod(0o755)
