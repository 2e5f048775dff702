"""The benchmark servers' processes: a free port, a process tree, its CPU time and memory
(Linux /proc), shared by bench/serve.py and bench/cold_start.py."""

from __future__ import annotations

import os
import re
import socket
from pathlib import Path

__all__ = ["cpu_seconds", "free_port", "memory_mib", "tree"]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def tree(pid: int) -> list[int]:
    """A process and all its descendants."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            parent = int(stat.rsplit(")", 1)[1].split()[1])
            children.setdefault(parent, []).append(int(entry))
    out, todo = [], [pid]
    while todo:
        current = todo.pop()
        out.append(current)
        todo.extend(children.get(current, []))
    return out


def cpu_seconds(pids: list[int]) -> float:
    """User + system CPU of ``pids``, with their children that have exited and were waited for."""
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += sum(int(f) for f in fields[11:15])  # utime, stime, cutime, cstime
    return total / ticks


def memory_mib(pids: list[int]) -> tuple[float, float]:
    """(RSS, PSS) summed over ``pids``, MiB. PSS splits each shared page between its sharers,
    so the sum is what the processes cost together; RSS counts shared pages once per process."""
    rss = pss = 0
    for pid in pids:
        try:
            rollup = Path(f"/proc/{pid}/smaps_rollup").read_text()
        except OSError:
            continue
        found = re.search(r"^Rss:\s+(\d+) kB", rollup, re.M)
        rss += int(found.group(1)) if found else 0
        found = re.search(r"^Pss:\s+(\d+) kB", rollup, re.M)
        pss += int(found.group(1)) if found else 0
    return rss / 1024, pss / 1024
