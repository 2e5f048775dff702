"""Run a command as an argument list, streaming its combined output line by line."""

from __future__ import annotations

import subprocess
from collections import deque
from collections.abc import Callable, Sequence

Output = Callable[[str], None]


def stream(command: Sequence[str], output: Output, tail_lines: int = 20) -> tuple[int, list[str]]:
    """Run ``command`` (never through a shell); hand each output line to ``output``.

    Returns the exit status and the last ``tail_lines`` lines, for an error message.
    """
    tail: deque[str] = deque(maxlen=tail_lines)
    with subprocess.Popen(
        list(command),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        text=True,
        encoding="utf-8",
        errors="replace",
        bufsize=1,
    ) as process:
        assert process.stdout is not None
        for line in process.stdout:
            line = line.rstrip("\n")
            tail.append(line)
            output(line)
    return process.returncode, list(tail)
