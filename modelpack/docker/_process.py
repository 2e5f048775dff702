"""Run a command as an argument list, streaming its combined output line by line (the
environments' runner, ``modelpack.envs``, with every line shown)."""

from __future__ import annotations

import os
from collections.abc import Sequence

from modelpack.envs._process import Output, run

__all__ = ["Output", "stream"]


def stream(command: Sequence[str], output: Output, tail_lines: int = 20) -> tuple[int, list[str]]:
    """Run ``command`` (never through a shell); hand each output line to ``output``.

    Returns the exit status (127 when it cannot be started) and the last ``tail_lines`` lines,
    for an error message.
    """
    result = run(command, environ=os.environ, output=output, show=_every, tail_lines=tail_lines)
    return result.status, result.tail


def _every(line: str) -> str:
    return line
