"""Container images of model packages: the build context (pure rendering plus files), the build,
and Kubernetes manifests for the image (``k8s``: pure rendering, plus a memory measurement).

``write_context`` writes ``Dockerfile``, ``model/`` and ``wheels/``; ``build_docker`` writes one in
a temporary directory and runs ``docker build`` on it. The subpackage is ``modelpack.docker``, not a
top-level ``docker``, which is the name of the Docker SDK.
"""

from __future__ import annotations

from modelpack.docker.build import BuildReport, build_docker, build_image, find_docker
from modelpack.docker.context import BuildContext, render_dockerfile, write_context
from modelpack.docker.k8s import K8sSpec, memory_for, render_manifests, write_manifests

__all__ = [
    "BuildContext",
    "BuildReport",
    "K8sSpec",
    "build_docker",
    "build_image",
    "find_docker",
    "memory_for",
    "render_dockerfile",
    "render_manifests",
    "write_context",
    "write_manifests",
]
