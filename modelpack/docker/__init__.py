"""Container images of model packages: the build context (pure rendering plus files) and the build.

``write_context`` writes ``Dockerfile``, ``model/`` and ``wheels/``; ``build_docker`` writes one in
a temporary directory and runs ``docker build`` on it. The subpackage is ``modelpack.docker``, not a
top-level ``docker``, which is the name of the Docker SDK.
"""

from __future__ import annotations

from modelpack.docker.build import BuildReport, build_docker, build_image, find_docker
from modelpack.docker.context import BuildContext, render_dockerfile, write_context

__all__ = [
    "BuildContext",
    "BuildReport",
    "build_docker",
    "build_image",
    "find_docker",
    "render_dockerfile",
    "write_context",
]
