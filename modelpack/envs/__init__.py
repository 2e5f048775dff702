"""Environment managers: run a package in an environment built from its own requirements.

``prepare_env`` finds or builds the environment (``uv``, ``virtualenv`` or ``conda``) in the
cache, ``exec_in`` replaces the running command by the same command inside it, and
``check_local`` compares this environment with a package's requirements (``local``). Each is
imported on first use (``modelpack._lazy``): ``serve --env-manager local`` needs only the last.
"""

from __future__ import annotations

import typing

from modelpack._lazy import attach as _attach

if typing.TYPE_CHECKING:
    from modelpack.envs._local import check_local
    from modelpack.envs._prepare import Environment, exec_in, prepare_env

__all__ = ["MANAGERS", "Environment", "check_local", "exec_in", "prepare_env"]

MANAGERS = ("local", "uv", "virtualenv", "conda")
"""The ``--env-manager`` choices: ``local`` runs in this environment, the others build one."""

__getattr__, __dir__ = _attach(
    __name__,
    {
        "Environment": "modelpack.envs._prepare",
        "check_local": "modelpack.envs._local",
        "exec_in": "modelpack.envs._prepare",
        "prepare_env": "modelpack.envs._prepare",
    },
)
