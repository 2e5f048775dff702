"""Environment managers: run a package in an environment built from its own requirements.

``prepare_env`` finds or builds the environment (``uv``, ``virtualenv`` or ``conda``) in the
cache, ``exec_in`` replaces the running command by the same command inside it, and
``check_local`` compares this environment with a package's requirements (``local``).
"""

from __future__ import annotations

from modelpack.envs._local import check_local
from modelpack.envs._prepare import MANAGERS, Environment, exec_in, prepare_env

__all__ = ["MANAGERS", "Environment", "check_local", "exec_in", "prepare_env"]
