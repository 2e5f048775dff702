"""Run an installer as an argument list: show the lines that say what it installs, keep the
tail for an error message."""

from __future__ import annotations

import subprocess
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

__all__ = ["Output", "Result", "run"]

Output = Callable[[str], None]
"""Where progress lines go (the CLI: standard error, or nowhere with ``-q``)."""


@dataclass(frozen=True)
class Result:
    status: int
    tail: list[str]
    """The last lines of the command's output (stdout and stderr together)."""


def run(
    command: Sequence[str | Path],
    *,
    environ: Mapping[str, str],
    output: Output,
    show: Callable[[str], str | None] = lambda line: None,
    cwd: Path | None = None,
    tail_lines: int = 40,
) -> Result:
    """Run ``command`` (never through a shell); each line ``show`` maps to text is output."""
    tail: deque[str] = deque(maxlen=tail_lines)
    try:
        process = subprocess.Popen(
            [str(part) for part in command],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            text=True,
            encoding="utf-8",
            errors="replace",
            bufsize=1,
            env=dict(environ),
            cwd=cwd,
        )
    except OSError as exc:
        return Result(127, [f"cannot run {command[0]}: {exc.strerror or type(exc).__name__}"])
    with process:
        assert process.stdout is not None
        for raw in process.stdout:
            line = raw.rstrip("\n")
            tail.append(line)
            shown = show(line)
            if shown is not None:
                output(shown)
    return Result(process.returncode, list(tail))
