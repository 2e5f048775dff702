"""Commands that ship a package: ``generate-dockerfile``, ``build-docker`` and ``generate-k8s``."""

from __future__ import annotations

from pathlib import Path

import click

from modelpack.cli._common import (
    handle_errors,
    model_uri_option,
    progress,
)
from modelpack.envs import MANAGERS
from modelpack.settings import Settings

__all__ = ["build_docker", "generate_dockerfile", "generate_k8s"]


_base_image_option = click.option(
    "--base-image",
    default=None,
    metavar="IMAGE",
    help="Image to build on (default: python:<the model's major.minor>-slim). It needs "
    "Python of the model's major.minor with its venv module, on glibc Linux.",
)

_env_manager_option = click.option(
    "--env-manager",
    type=click.Choice(MANAGERS),
    default="local",
    show_default=True,
    help="What installs the wheels into the image's venv: uv (its wheel goes into wheels/tools/), "
    "or pip for local and virtualenv. conda is not available for images.",
)

_gpu_option = click.option(
    "--gpu",
    is_flag=True,
    default=False,
    help="Keep the GPU builds of libraries that have a CPU-only one. Without it, xgboost is "
    "installed as xgboost-cpu (the same library and version without CUDA libraries: ~480 MB "
    "smaller); the report says so.",
)


_enable_mlserver_option = click.option(
    "--enable-mlserver",
    is_flag=True,
    default=False,
    help="Serve as 'mlflow models serve --enable-mlserver' did: the V2 model is named "
    "'mlflow-model', and V2 over gRPC runs on port 8081 beside REST on 8080 (MLServer's ports).",
)


@click.command("generate-dockerfile")
@model_uri_option
@click.option(
    "-d",
    "--output-directory",
    type=click.Path(file_okay=False, path_type=Path),
    default="modelpack-dockerfile",
    show_default=True,
    help="Where to write Dockerfile, model/ and wheels/ (new, empty, or a previous context).",
)
@_base_image_option
@_env_manager_option
@_enable_mlserver_option
@_gpu_option
@handle_errors
def generate_dockerfile(
    model_uri: str,
    output_directory: Path,
    base_image: str | None,
    env_manager: str,
    enable_mlserver: bool,
    gpu: bool,
) -> None:
    """Write a Docker build context: Dockerfile, model/ and wheels/.

    pip downloads every wheel the image needs now, so `docker build` needs no network.
    """
    from modelpack.docker import write_context

    context = write_context(
        model_uri,
        output_directory,
        base_image=base_image,
        output=progress,
        settings=Settings.from_env(),
        env_manager=env_manager,
        enable_mlserver=enable_mlserver,
        gpu=gpu,
    )
    click.echo(
        f"Wrote {context.directory}: Dockerfile, model/, wheels/ ({len(context.wheels)} wheels "
        f"for Python {context.python_version}, base {context.base_image}, installed by "
        f"{context.installer})"
    )
    click.echo(f"Build it with: docker build --tag NAME {context.directory}")


@click.command("build-docker")
@model_uri_option
@click.option(
    "-n", "--name", default="modelpack-model", show_default=True, help="Image name and tag."
)
@_base_image_option
@_env_manager_option
@_enable_mlserver_option
@_gpu_option
@handle_errors
def build_docker(
    model_uri: str,
    name: str,
    base_image: str | None,
    env_manager: str,
    enable_mlserver: bool,
    gpu: bool,
) -> None:
    """Build an image that serves the model on port 8080, and report what it holds.

    The image runs `modelpack serve` as a non-root user with MODELPACK_WORKERS (default: the
    CPU count), MODELPACK_TIMEOUT and MODELPACK_MAX_BODY_BYTES from its environment. With
    --enable-mlserver it also serves the Open Inference Protocol over gRPC on port 8081.
    """
    from modelpack.docker import build_docker as build

    report = build(
        model_uri,
        name,
        progress,
        base_image=base_image,
        settings=Settings.from_env(),
        env_manager=env_manager,
        enable_mlserver=enable_mlserver,
        gpu=gpu,
    )
    click.echo(report.render())


@click.command("generate-k8s")
@model_uri_option
@click.option(
    "--image",
    required=True,
    metavar="IMAGE",
    help="The image build-docker made, as the cluster pulls it (registry/name:tag).",
)
@click.option(
    "-n", "--name", default=None, help="Name of the resources (default: from the package's name)."
)
@click.option("--replicas", type=int, default=2, show_default=True, help="Pods to start with.")
@click.option("--kserve", is_flag=True, help="Also write kserve/inferenceservice.yaml.")
@click.option("--seldon", is_flag=True, help="Also write seldon/seldondeployment.yaml.")
@click.option(
    "--auth-secret",
    default=None,
    metavar="SECRET",
    help="Read the server's bearer token from this Secret's 'token' key.",
)
@click.option(
    "--memory",
    default=None,
    metavar="SIZE",
    help="Memory request (e.g. 512Mi) instead of measuring it by loading the package here.",
)
@click.option(
    "-o",
    "--output-directory",
    required=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="Where to write the YAML files.",
)
@handle_errors
def generate_k8s(
    model_uri: str,
    image: str,
    name: str | None,
    replicas: int,
    kserve: bool,
    seldon: bool,
    auth_secret: str | None,
    memory: str | None,
    output_directory: Path,
) -> None:
    """Write Kubernetes manifests that serve the model's image.

    Deployment (non-root, read-only root filesystem, probes, memory measured from loading the
    package), Service, HorizontalPodAutoscaler and PodDisruptionBudget; with --kserve a KServe
    InferenceService, with --seldon a Seldon Core SeldonDeployment (V2 protocol).
    """
    from modelpack.docker import write_manifests

    written = write_manifests(
        model_uri,
        output_directory,
        image,
        name=name,
        replicas=replicas,
        kserve=kserve,
        seldon=seldon,
        auth_secret=auth_secret,
        memory=memory,
        settings=Settings.from_env(),
        output=progress,
    )
    for path in written:
        click.echo(str(path))
    click.echo(f"Apply with: kubectl apply -f {output_directory}")
